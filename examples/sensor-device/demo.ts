/**
 * The sensor story in one command (`npm run example:sensor`), on 127.0.0.1:
 *
 *   1. a sensor device starts with no gateway around and records readings;
 *   2. a `meshdoc gateway` comes up; the device finds it (bootstrap with
 *      backoff) and hands over everything it recorded offline;
 *   3. the gateway is stopped with SIGTERM (it flushes and says BYE) and
 *      `meshdoc export` shows the readings it stored.
 *
 * Everything lives in a temporary directory that is removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const cli = join(root, 'bin', 'meshdoc.ts')
const device = join(root, 'examples', 'sensor-device', 'device.ts')
const offlineSeconds = Number(process.env.DEMO_OFFLINE_SECONDS ?? 3)

const children = new Set<ChildProcess>()
function start (name: string, args: string[], echo = true): { proc: ChildProcess, output: () => string, exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(proc)
  let out = ''
  const onData = (c: Buffer): void => {
    out += c.toString()
    if (echo) for (const line of c.toString().split('\n')) if (line.length > 0) console.log(`  ${name.padEnd(7)}| ${line}`)
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<number | null>(resolve => { proc.once('close', (code) => { children.delete(proc); resolve(code) }) })
  return { proc, output: () => out, exited }
}

async function until (what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => { resolve(port) })
    })
  })
}

const dir = await mkdtemp(join(tmpdir(), 'meshdoc-sensor-demo-'))
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL')
    void rm(dir, { recursive: true, force: true }).finally(() => { process.exit(1) })
  })
}
let failed = false
try {
  const gwData = join(dir, 'gateway')
  const id = start('meshdoc', [cli, 'id', '--create', '--data', gwData], false)
  if (await id.exited !== 0) throw new Error(`meshdoc id failed: ${id.output()}`)
  const gatewayId = id.output().trim().split('\n').pop()!
  const port = await freePort()
  const gatewayAddr = `/ip4/127.0.0.1/tcp/${port}/p2p/${gatewayId}`

  console.log(`1. the device starts; its gateway (${gatewayAddr}) is not up yet`)
  const dev = start('device', [device, '--name', 'dev-1', '--data', join(dir, 'device'), '--interval', '200', '--keep', '100', '--gateway', gatewayAddr])
  await until('offline readings', () => dev.output().includes('offline:'), 30_000)
  await new Promise(resolve => setTimeout(resolve, offlineSeconds * 1000))

  console.log('2. the gateway comes up')
  const gw = start('gateway', [cli, 'gateway', '--data', gwData, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--ws-port', 'none', '--admin', '127.0.0.1:0'])
  await until('the device to sync', () => dev.output().includes('synced:'), 40_000)

  console.log('3. stop both (SIGTERM) and export what the gateway stored')
  dev.proc.kill('SIGTERM')
  gw.proc.kill('SIGTERM')
  const [devCode, gwCode] = await Promise.all([dev.exited, gw.exited])
  if (devCode !== 0 || gwCode !== 0) throw new Error(`exit codes: device ${devCode}, gateway ${gwCode}`)
  const exp = start('export', [cli, 'export', 'sensors/dev-1', '--data', gwData], false)
  if (await exp.exited !== 0) throw new Error(`export failed: ${exp.output()}`)
  const json = JSON.parse(exp.output()) as { readings: Array<{ s: string, t: number, v: number }>, device: Record<string, unknown> }
  const first = new Date(json.readings[0].t).toISOString()
  const last = new Date(json.readings[json.readings.length - 1].t).toISOString()
  console.log(`the gateway holds ${json.readings.length} readings of ${String(json.device.name)} from ${first} to ${last}; the latest:`)
  for (const r of json.readings.slice(-3)) console.log(`  ${r.s.padEnd(12)} ${r.v}`)
} catch (err) {
  failed = true
  console.error(`demo failed: ${(err as Error).message}`)
} finally {
  for (const c of children) c.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true })
}
process.exitCode = failed ? 1 : 0
