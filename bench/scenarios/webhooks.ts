/**
 * W1 (issue 17, opt-in: `--only W1`): webhook throughput. One real `meshdoc
 * gateway` (bench/fleet-gateway.ts, fs storage, every device its own host)
 * with `--webhook` to a receiver in this process (node:http on 127.0.0.1,
 * checking each signature and dropping batches it took before), and N sensor
 * devices (bench/roles/fleet-devices.ts, `--devices`, default 1,000; 100
 * with --quick), each writing a reading to its own doc once a second.
 *
 * Measured over a window (`--window-seconds`, default 30; 10 with --quick)
 * after a 5 s warm-up: changes delivered per second (each device write is one
 * change; a batch may carry several), batches per second, the delivery lag
 * of each batch (the receiver's clock when it arrives minus the device's
 * clock when it wrote the newest reading in it: same machine, same clock),
 * p50 / p99 / max, and the gateway's CPU. Then the devices stop and the time
 * until the receiver holds every device's last reading is the drain.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { docKeyFor, docKeyHex } from '../../lib/protocol/doc-key.js'
import { verifySignature } from '../../examples/webhook-sink/receiver.js'
import type { Child } from '../core/procs.js'
import { now } from '../core/rpc.js'
import { percentile } from '../core/stats.js'
import { docIdOf, type FleetProgress } from '../roles/fleet-devices.js'
import { cpuMs, DEFAULT_FLEET, freePort, Gateway, scrape } from './gateway-fleet.js'
import { row, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtMs, withChildren } from './util.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SECRET = 'bench webhook secret'
const PER_PROCESS = 100
const WRITE_EVERY_MS = 1000

/** The receiver: per doc key, the newest reading it holds; per batch, when it came and its lag. */
class Receiver {
  readonly last = new Map<string, number>()
  readonly keys = new Set<string>()
  changes = 0
  batches = 0
  duplicates = 0
  badSignatures = 0
  lags: number[] = []
  private readonly server = createServer((req, res) => { void this.take(req, res) })

  async listen (): Promise<string> {
    await new Promise<void>(resolve => { this.server.listen(0, '127.0.0.1', resolve) })
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`
  }

  /** Start a window: counts and lags from now on. */
  mark (): void {
    this.changes = 0
    this.batches = 0
    this.lags = []
  }

  private async take (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    const at = Date.now()
    if (!verifySignature(SECRET, body, req.headers['x-meshdoc-signature'] as string | undefined)) {
      this.badSignatures++
      res.writeHead(401).end()
      return
    }
    const b = JSON.parse(body.toString('utf8')) as { keyHex: string, idempotencyKey: string, json: { m?: { seq?: number, t?: number } } }
    res.writeHead(200).end()
    if (this.keys.has(b.idempotencyKey)) { this.duplicates++; return }
    this.keys.add(b.idempotencyKey)
    const seq = b.json.m?.seq ?? 0
    const before = this.last.get(b.keyHex) ?? 0
    if (seq > before) {
      this.changes += seq - before
      this.last.set(b.keyHex, seq)
    }
    this.batches++
    if (b.json.m?.t !== undefined) this.lags.push(at - b.json.m.t)
  }

  async close (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export const w1: Scenario = {
  id: 'W1',
  title: 'webhook throughput: sensor docs writing once a second, through a real gateway, to a local receiver',
  optIn: true,
  run: async (ctx): Promise<ScenarioResult> => {
    const n = ctx.devices ?? (ctx.quick ? 100 : 1000)
    const windowS = ctx.fleet?.windowS ?? (ctx.quick ? 10 : 30)
    const log = (msg: string): void => { ctx.progress(`W1 N=${n}: ${msg}`) }
    const scratch = mkdtempSync(join(tmpdir(), 'meshdoc-w1-'))
    const receiver = new Receiver()
    const errors: string[] = []
    let gw: Gateway | undefined
    try {
      return await withChildren(async (spawn) => {
        const url = await receiver.listen()
        const secretFile = join(scratch, 'secret')
        writeFileSync(secretFile, SECRET)
        const args = ['--data', join(scratch, 'gw'), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`, '--ws-port', 'none', '--admin', `127.0.0.1:${await freePort()}`,
          '--webhook', url, '--webhook-secret-file', secretFile]
        // --gateway-cpu-prof: the gateway's profile, written when it stops (bench/profile-top.ts reads it)
        const profileDir = resolve(ctx.fleet?.profileDir ?? DEFAULT_FLEET.profileDir)
        if (ctx.fleet?.cpuProf === true) mkdirSync(profileDir, { recursive: true })
        const nodeFlags = ctx.fleet?.cpuProf === true ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=W1-N${n}-gateway-${Date.now()}.cpuprofile`] : []
        gw = new Gateway(args, nodeFlags, { MESHDOC_BENCH_OWN_HOSTS: '1' }, ROOT)
        const info = await gw.ready()
        const procs: Child[] = []
        for (let from = 0; from < n; from += PER_PROCESS) procs.push(await spawn(`W1/devices-${from}`, 'fleet-devices', { from, count: Math.min(PER_PROCESS, n - from) }))
        await Promise.all(procs.map(async p => await p.call('start', { addr: info.tcp, gatewayId: info.peerId }, 600_000)))
        const t0 = now()
        for (;;) {
          const ps = await Promise.all(procs.map(async p => await p.call<FleetProgress>('progress', {}, 60_000)))
          if (ps.reduce((s, p) => s + p.ackedSinceMark, 0) >= n) break
          if (now() - t0 > 300_000) throw new Error('the devices did not all connect within 300 s')
          await sleep(250)
        }
        log(`${n} devices connected in ${((now() - t0) / 1000).toFixed(1)} s; writing a reading each every ${WRITE_EVERY_MS} ms`)
        await Promise.all(procs.map(async p => await p.call('write', { everyMs: WRITE_EVERY_MS })))
        await sleep(5000)

        receiver.mark()
        const c0 = cpuMs(gw.pid)
        const at0 = now()
        await sleep(windowS * 1000)
        const secs = (now() - at0) / 1000
        const gatewayCpuPct = (cpuMs(gw.pid) - c0) / 10 / secs
        const changes = receiver.changes
        const batches = receiver.batches
        const lags = receiver.lags
        await Promise.all(procs.map(async p => await p.call('write', { everyMs: 0 })))

        // drain: every device's last reading at the receiver
        const written = (await Promise.all(procs.map(async p => await p.call<Array<{ i: number, seq: number }>>('acked')))).flat()
        const want = written.map(w => ({ key: docKeyHex(docKeyFor(docIdOf(w.i))), seq: w.seq }))
        const d0 = now()
        while (want.some(w => (receiver.last.get(w.key) ?? 0) < w.seq) && now() - d0 < 120_000) await sleep(100)
        const missing = want.filter(w => (receiver.last.get(w.key) ?? 0) < w.seq).length
        const drainMs = now() - d0
        const m = await scrape(info.admin)
        const failures = m.get('meshdoc_webhook_failures_total') ?? NaN
        const summary = {
          devices: n,
          windowS: secs,
          writesPerS: n * 1000 / WRITE_EVERY_MS,
          changesPerS: changes / secs,
          batchesPerS: batches / secs,
          lagP50Ms: percentile(lags, 50),
          lagP99Ms: percentile(lags, 99),
          lagMaxMs: Math.max(...lags),
          gatewayCpuPct,
          drainMs,
          missing,
          duplicates: receiver.duplicates,
          badSignatures: receiver.badSignatures,
          failures
        }
        log(`${summary.changesPerS.toFixed(0)} changes/s delivered (${summary.writesPerS} written/s) in ${summary.batchesPerS.toFixed(0)} batches/s; lag p50 ${fmtMs(summary.lagP50Ms)} ms p99 ${fmtMs(summary.lagP99Ms)} ms max ${fmtMs(summary.lagMaxMs)} ms; gateway CPU ${gatewayCpuPct.toFixed(0)}%; drained in ${(drainMs / 1000).toFixed(1)} s, ${missing} docs missing their last reading; ${receiver.duplicates} duplicates, ${failures} failed requests`)
        if (missing > 0) errors.push(`W1: ${missing} docs did not deliver their last reading within 120 s`)
        if (receiver.badSignatures > 0) errors.push(`W1: ${receiver.badSignatures} requests with a bad signature`)
        const rows = [
          row({ id: 'W1', metric: `changes delivered per s (${n} docs writing 1/s)`, unit: '/s', meshdoc: summary.changesPerS, goal: `≥ ${(summary.writesPerS * 0.95).toFixed(0)}/s`, met: summary.changesPerS >= summary.writesPerS * 0.95 }),
          row({ id: 'W1', metric: 'delivery lag p50 (device write to receiver)', unit: 'ms', meshdoc: summary.lagP50Ms }),
          row({ id: 'W1', metric: 'delivery lag p99', unit: 'ms', meshdoc: summary.lagP99Ms }),
          row({ id: 'W1', metric: 'gateway CPU (% of one core)', unit: '%', meshdoc: gatewayCpuPct })
        ]
        await Promise.all(procs.map(async p => { await p.exit(20_000) }))
        return { runs: [summary], summary, rows, errors }
      })
    } catch (err) {
      return { runs: [], summary: {}, rows: [], errors: [...errors, `W1: ${errorText(err)}`] }
    } finally {
      await gw?.stop()
      await receiver.close()
      rmSync(scratch, { recursive: true, force: true })
    }
  }
}
