#!/usr/bin/env node
// The `meshdoc` launcher. meshdoc needs Node >= 22 (libp2p 3); the project
// installs Node 24 as a devDependency (node_modules/.bin/node). This script:
//   1. picks that Node, or the running one if the package has none and it is >= 22;
//   2. if that is not the Node running now, re-runs itself with it (signals forwarded);
//   3. runs the built CLI (dist/cli/meshdoc.js) if present, else bin/meshdoc.ts via tsx.
// Plain JavaScript on purpose: it must start on any Node the user has.
import { spawn } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = dirname(here)
const major = Number(process.versions.node.split('.')[0])

function real (p) {
  try { return realpathSync(p) } catch { return p }
}

function pickNode () {
  for (const candidate of [join(root, 'node_modules', '.bin', 'node'), join(root, '..', '.bin', 'node')]) {
    if (existsSync(candidate)) return candidate
  }
  return major >= 22 ? process.execPath : undefined
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

// An always-on gateway trades a little GC throughput for a smaller young
// generation: about 30 MB less RSS on a Pi-class box. MESHDOC_SEMI_SPACE_MB
// overrides it (0 keeps V8's default).
const semiMb = process.env.MESHDOC_SEMI_SPACE_MB ?? (process.argv[2] === 'gateway' ? '2' : '0')
const semiFlag = semiMb !== '0' && !process.execArgv.some(a => a.startsWith('--max-semi-space-size')) &&
  !(process.env.NODE_OPTIONS ?? '').includes('semi-space')
  ? [`--max-semi-space-size=${semiMb}`]
  : []

if (real(node) !== real(process.execPath) || semiFlag.length > 0) {
  const child = spawn(node, [...semiFlag, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
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
  const built = join(root, 'dist', 'cli', 'meshdoc.js')
  if (existsSync(built)) {
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
