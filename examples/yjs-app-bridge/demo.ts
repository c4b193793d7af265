/**
 * The bridge in one command (`npm run example:yjs-bridge`), on 127.0.0.1:
 *
 *   1. `meshdoc gateway --yws` starts (no --trust-owner: an open mesh, no tokens);
 *   2. the y-websocket app (app.ts, its provider given the gateway's URL) and
 *      a meshdoc device (device.ts, over libp2p) open the same doc, each adds
 *      an item to the to-do list;
 *   3. once both print the same list, with both items, and each sees the
 *      other in its presence, everything stops (SIGTERM) and it says so.
 *
 * The gateway's data lives in a temporary directory removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const root = fileURLToPath(new URL('../../', import.meta.url))
const cli = join(root, 'bin', 'meshdoc.ts')
const room = 'todo/shared'

interface Proc { proc: ChildProcess, output: () => string, exited: Promise<number | null> }
const children = new Set<ChildProcess>()

function start (name: string, args: string[]): Proc {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(proc)
  let out = ''
  const onData = (c: Buffer): void => {
    out += c.toString()
    for (const line of c.toString().split('\n')) if (line.length > 0) console.log(`  ${name.padEnd(7)}| ${line}`)
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<number | null>(resolve => { proc.once('close', (code) => { children.delete(proc); resolve(code) }) })
  return { proc, output: () => out, exited }
}

async function until<T> (what: string, get: () => T | undefined, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = get()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** The last `prefix` line a process printed, parsed as JSON. */
function last (p: Proc, prefix: string): string[] | undefined {
  const lines = p.output().split('\n').filter(l => l.startsWith(`${prefix}: `))
  return lines.length === 0 ? undefined : JSON.parse(lines[lines.length - 1].slice(prefix.length + 2)) as string[]
}

const dir = await mkdtemp(join(tmpdir(), 'meshdoc-yjs-bridge-'))
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL')
    void rm(dir, { recursive: true, force: true }).finally(() => { process.exit(1) })
  })
}
let failed = false
try {
  console.log('1. the gateway starts, with its y-websocket endpoint on')
  const gw = start('gateway', [cli, 'gateway', '--data', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--ws-port', 'none', '--admin', 'none', '--yws', '127.0.0.1:0'])
  const url = await until('the y-websocket URL', () => /y-websocket (ws:\/\/\S+)/.exec(gw.output())?.[1], 30_000)
  const addr = await until('the gateway address', () => /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(gw.output())?.[1], 1000)

  console.log(`2. the y-websocket app (${url}, room ${room}) and a meshdoc device (${addr}) each add an item`)
  const app = start('app', [join(here, 'app.ts'), url, room, 'milk (from the y-websocket app)'])
  const device = start('device', [join(here, 'device.ts'), addr, room, 'eggs (from the meshdoc device)'])
  const list = await until('both to show the same list, with both items', () => {
    const a = last(app, 'todo')
    const d = last(device, 'todo')
    return a !== undefined && d !== undefined && a.length === 2 && JSON.stringify(a) === JSON.stringify(d) ? a : undefined
  }, 20_000)
  await until('each to see the other in its presence', () => {
    const both = JSON.stringify(['meshdoc device', 'y-websocket app'])
    return JSON.stringify(last(app, 'here')) === both && JSON.stringify(last(device, 'here')) === both ? true : undefined
  }, 10_000)
  console.log(`converged: the y-websocket app and the meshdoc device both show ${JSON.stringify(list)}, and each sees the other`)

  console.log('3. stop everything (SIGTERM)')
  for (const p of [app, device]) p.proc.kill('SIGTERM')
  await Promise.all([app.exited, device.exited])
  gw.proc.kill('SIGTERM')
  const codes = await Promise.all([app.exited, device.exited, gw.exited])
  if (codes.some(c => c !== 0)) throw new Error(`exit codes: app ${codes[0]}, device ${codes[1]}, gateway ${codes[2]}`)
} catch (err) {
  failed = true
  console.error(`demo failed: ${(err as Error).message}`)
} finally {
  for (const c of children) c.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
}
process.exitCode = failed ? 1 : 0
