#!/usr/bin/env node
// The `meshdoc` launcher. meshdoc needs Node >= 22 (libp2p 3); the project
// installs Node 24 as a devDependency (node_modules/.bin/node). This script:
//   1. runs the CLI in this very process when this Node is >= 22 and needs no
//      V8 flag or environment it lacks (a gateway without
//      NODE_OPTIONS=--max-semi-space-size or UV_THREADPOOL_SIZE does: see below);
//   2. else re-runs itself (with the package's own Node if this one is older,
//      for a gateway with its V8 flag and UV_THREADPOOL_SIZE; see below),
//      as a child tied to this process: signals are forwarded, and the child
//      stops (flushing) when this process dies, even by SIGKILL (it watches an
//      IPC channel, which closes then), so no orphan keeps the ports;
//   3. runs the built CLI (dist/cli/meshdoc.js) if present and, in a checkout,
//      not older than the sources (npm ci does not build), else bin/meshdoc.ts via tsx;
//   4. started by npm (`npx meshdoc gateway`, `npm exec`, an npm script), stops
//      the gateway as on SIGTERM when npm goes away: npm does not pass a
//      SIGTERM on, and its children would hold the ports as orphans.
// Plain JavaScript on purpose: it must start on any Node the user has.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const major = Number(process.versions.node.split('.')[0])

function real (p) {
  try { return realpathSync(p) } catch { return p }
}

function pickNode () {
  if (major >= 22) return process.execPath
  for (const candidate of [join(root, 'node_modules', '.bin', 'node'), join(root, '..', '.bin', 'node')]) {
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

const node = pickNode()
if (node === undefined) {
  // installed as a package, there is nothing to `npm ci`: the user needs a newer Node
  const checkout = !root.split(/[\\/]/).includes('node_modules')
  process.stderr.write(`meshdoc: needs Node.js 22 or newer (libp2p 3 does); this is Node ${process.version}. ` +
    'Install Node.js 22 or newer (https://nodejs.org/, or your version manager: nvm install 22)' +
    (checkout ? `, or run \`npm ci\` in ${root}, which installs Node 24 for this checkout` : '') + '.\n')
  process.exit(1)
}

// An always-on gateway runs with a small young generation (V8's semi-space,
// 2 MB): some 50 MB less RSS idle with 1,000 docs. V8 takes it only at
// start, so the gateway runs as a child tied to this process, unless this
// process already has it: start it as NODE_OPTIONS=--max-semi-space-size=2
// meshdoc gateway (the systemd unit in examples/iot-gateway does) and it is
// one process. MESHDOC_SEMI_SPACE_MB overrides the size (0: V8's default, one process).
// npm (npx, npm exec, npm run) sets npm_command; when it dies, without
// forwarding the signal that killed it, our parent changes: stop then
if (process.env.npm_command !== undefined && process.env.MESHDOC_LAUNCHED !== '1' && process.argv[2] === 'gateway') {
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM')
  }, 500).unref()
}

// A gateway's storage makes a few fsyncs a second per busy doc, each holding
// one of libuv's threads (4 by default) until the disk answers: with 1,000
// sensor docs every other file operation (a webhook's outbox, a doc loaded
// for a peer) queues behind them (a webhook delivered 29 of 1,000 changes a
// second with 4 threads, 603 with 32: docs/BENCHMARKS.md, W1). libuv reads
// UV_THREADPOOL_SIZE once, before this script runs, so a gateway without it
// runs as a child that has it (GATEWAY_THREADS, or the user's own value).
const GATEWAY_THREADS = '16'
const gateway = process.argv[2] === 'gateway'
const threadsNeeded = gateway && process.env.UV_THREADPOOL_SIZE === undefined

const otherNode = real(node) !== real(process.execPath)
const semiMb = process.env.MESHDOC_SEMI_SPACE_MB ?? (gateway ? '2' : '0')
const v8Flags = semiMb !== '0' && !process.execArgv.some(a => a.startsWith('--max-semi-space-size')) &&
  !(process.env.NODE_OPTIONS ?? '').includes('semi-space')
  ? [`--max-semi-space-size=${semiMb}`]
  : []

if (otherNode || v8Flags.length > 0 || threadsNeeded) {
  // the IPC channel is how the child learns that this process is gone (closed even on SIGKILL)
  const child = spawn(node, [...v8Flags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, MESHDOC_LAUNCHED: '1', MESHDOC_SEMI_SPACE_MB: '0', ...(threadsNeeded ? { UV_THREADPOOL_SIZE: GATEWAY_THREADS } : {}) }
  })
  const forward = (sig) => { if (child.exitCode === null) child.kill(sig) }
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => { forward(sig) })
  child.on('error', (err) => {
    process.stderr.write(`meshdoc: cannot run ${node}: ${err.message}\n`)
    process.exit(1)
  })
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1)
  })
} else {
  // started by a launcher: stop as on SIGTERM when it is gone (its IPC channel closes, whatever killed it)
  if (process.env.MESHDOC_LAUNCHED === '1' && typeof process.send === 'function') {
    process.on('disconnect', () => { process.kill(process.pid, 'SIGTERM') })
    // the channel alone must not keep a finished command alive
    process.channel?.unref()
  }
  const built = join(root, 'dist', 'cli', 'meshdoc.js')
  if (existsSync(built) && !olderThanSources(built)) {
    await import(pathToFileURL(built).href)
  } else {
    let register
    try {
      ({ register } = await import('tsx/esm/api'))
    } catch {
      process.stderr.write(`meshdoc: neither ${built} nor tsx was found; run \`npm ci\` (or \`npm run build\`) in ${root}\n`)
      process.exit(1)
    }
    register()
    await import(pathToFileURL(join(here, 'meshdoc.ts')).href)
  }
}

/**
 * In a checkout (the TypeScript sources are there; a package has only dist/),
 * whether `built` is older than any source file: after a `git pull` it is, and
 * running it would run the old CLI.
 */
function olderThanSources (built) {
  const source = join(here, 'meshdoc.ts')
  if (!existsSync(source)) return false
  const limit = statSync(built).mtimeMs
  const newer = (path) => {
    const st = statSync(path)
    if (!st.isDirectory()) return st.mtimeMs > limit
    return readdirSync(path).some(name => newer(join(path, name)))
  }
  try {
    return [source, join(root, 'lib'), join(root, 'adapters')].some(newer)
  } catch {
    return false
  }
}
