/**
 * A real `meshdoc gateway` with 200 devices (two processes of 100) on
 * 127.0.0.1, configured as for a fleet behind one NAT (issue 18; README, "A
 * fleet on one gateway"): the short, always-on version of the F1 benchmark
 * (`npm run bench -- --only F1`). It fails if a regression doubles the cost:
 * joining, the gateway's CPU while every device is connected and idle, or
 * the reconnect storm after a restart. Bounds are twice what this 2-core
 * machine measured (in the comments), so that only a real regression trips
 * them; the benchmark gives the figures.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { CliProcesses, freePort, type GatewayProcess } from './helpers/cli-process.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/fleet-devices.ts', import.meta.url))
const DEVICES = 200
const PER_PROCESS = 100
/** the flags README gives for a fleet behind one NAT */
const NAT_FLAGS = ['--connections-per-host', '1000', '--handshakes-per-host', '64', '--connection-rate-per-host', '1000']

interface Group { proc: ChildProcess, last: { devices: number, connected: number, synced: number } }

function startGroup (gateway: string, count: number, from: number): Group {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, gateway, String(count), String(from)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const g: Group = { proc, last: { devices: 0, connected: 0, synced: 0 } }
  createInterface({ input: proc.stdout! }).on('line', (line) => { g.last = JSON.parse(line) })
  return g
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function until (what: string, ok: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now()
  while (!ok()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return Date.now() - start
}

describe('a gateway with 200 devices (fleet, one host)', function () {
  this.timeout(240_000)
  const cli = new CliProcesses()
  const groups: Group[] = []

  after(async () => {
    for (const g of groups) {
      g.proc.stdin!.write(JSON.stringify({ cmd: 'stop' }) + '\n')
      const gone = new Promise(resolve => g.proc.once('exit', resolve))
      const timer = setTimeout(() => { g.proc.kill('SIGKILL') }, 10_000)
      await gone
      clearTimeout(timer)
    }
    await cli.killAll()
  })

  it('joins, idles and comes back after a restart within twice the measured cost', async () => {
    const dir = await cli.tempDir()
    const ports = { tcp: await freePort(), ws: await freePort() }
    let gw: GatewayProcess = cli.gatewayAt(dir, ports, NAT_FLAGS)
    const { tcp } = await gw.ready()
    const all = (): { connected: number, synced: number } => ({
      connected: groups.reduce((n, g) => n + g.last.connected, 0),
      synced: groups.reduce((n, g) => n + g.last.synced, 0)
    })

    const joinStart = Date.now()
    for (let from = 0; from < DEVICES; from += PER_PROCESS) groups.push(startGroup(tcp, PER_PROCESS, from))
    await until('every device acknowledged', () => all().synced === DEVICES, 120_000)
    const joinMs = Date.now() - joinStart

    // idle: every device connected, nothing written
    await new Promise(resolve => setTimeout(resolve, 2000))
    const cpu0 = cpuSeconds(gw.proc.pid!)
    const t0 = Date.now()
    await new Promise(resolve => setTimeout(resolve, 10_000))
    const idleCpu = (cpuSeconds(gw.proc.pid!) - cpu0) / ((Date.now() - t0) / 1000)
    assert.equal(all().connected, DEVICES, 'all stayed connected')

    // restart: SIGTERM, the same data dir and port; every device writes meanwhile
    assert.equal((await gw.stop('SIGTERM')).code, 0)
    for (const g of groups) g.proc.stdin!.write(JSON.stringify({ cmd: 'write' }) + '\n')
    gw = cli.gatewayAt(dir, ports, NAT_FLAGS)
    const restartAt = Date.now()
    await gw.ready()
    await until('every device back and acknowledged', () => all().synced === DEVICES, 120_000)
    const stormMs = Date.now() - restartAt

    console.log(`      ${DEVICES} devices: joined in ${(joinMs / 1000).toFixed(1)} s, gateway idle CPU ${(idleCpu * 100).toFixed(1)}% of a core, back after a restart in ${(stormMs / 1000).toFixed(1)} s`)
    // measured here (2 cores, after issue 18, three runs): joined in 3.8–5.2 s, idle CPU 1.3–2.3%, back in 8.3–9.6 s
    assert.ok(joinMs < JOIN_BOUND_MS, `joined in ${joinMs} ms`)
    assert.ok(idleCpu < IDLE_CPU_BOUND, `idle CPU ${(idleCpu * 100).toFixed(1)}%`)
    assert.ok(stormMs < STORM_BOUND_MS, `back in ${stormMs} ms`)
  })
})

/** twice the slowest of the runs above */
const JOIN_BOUND_MS = 12_000
/** a fraction of one core: twice the highest (2.3%), rounded up; before issue 18's fixes an idle gateway with 200 devices used 5.7% */
const IDLE_CPU_BOUND = 0.05
const STORM_BOUND_MS = 20_000
