/**
 * F1 (issue 18, opt-in: `--only F1`): one real `meshdoc gateway` process and
 * N devices that stay connected to it, for each N of `--devices-list`
 * (default 100,300,1000).
 *
 * The gateway is the CLI (bin/meshdoc.ts through bench/fleet-gateway.ts, as
 * bin/meshdoc.js runs it: --max-semi-space-size=2), fs storage in a fresh
 * data directory, on a fixed 127.0.0.1 port (so that it can be restarted at
 * the same address), relay on, no WebSocket port, admin port on. Every bench
 * device dials from 127.0.0.1, so with `--gateway-limits own-hosts` (default)
 * the launcher makes every inbound connection count as a host of its own
 * (meshdoc's per-host limits: 128 open, 4 in their handshake; libp2p's 20/s
 * per host), as devices on their own addresses; what stays as shipped: the
 * handshakes at once in all (--max-handshakes, 64 since issue 18; 16 before)
 * and --max-connections (1,024; N + 64 past 1,000 devices). `--gateway-limits stock`: all devices are one host,
 * as a fleet behind one NAT. `--meshdoc-build DIR`: gateway and devices run
 * a build (DIR/dist, with DIR/package.json) instead of this checkout's
 * sources, e.g. a copy of `dist/` made before the sources were changed; the
 * gateway then runs without tsx (bench/fleet-gateway.mjs), as users run it:
 * tsx's hooks thread is 25–35 MB of the RSS of a gateway run from sources.
 *
 * The devices (bench/roles/fleet-devices.ts) live in ceil(N / --per-process)
 * processes (default 100 per process); each owns `fleet/<i>/state` and keeps
 * connected to the gateway as its bootstrap peer (the library's redial
 * backoff). A probe device in a process of its own writes, waits for the
 * gateway's ACK of that write, pauses 100 ms, and again: edit-to-ACK.
 *
 *   connect    all N devices created at once (each dials at once): time until
 *              the gateway has acknowledged every device's first reading
 *   quiet      devices connected, writing nothing; the probe only
 *   readings   every device writes a reading every 5 s (N/5 writes/s)
 *   load       every device writes every N/200 s: 200 writes/s in all
 *              for each window (--window-seconds, default 30): gateway CPU % of
 *              one core (/proc/<pid>/stat), RSS (/proc/<pid>/status, peak of
 *              1 s samples), event-loop delay p99 and max (prom-client's
 *              nodejs_eventloop_lag_*: a histogram reset at every scrape;
 *              scraped at the window's start and end only; it samples every
 *              10 ms, so an idle loop reads about 10 ms), probe p50/p99; and
 *              the CPU the rest of the machine used meanwhile
 *   restart    devices writing every 5 s: SIGTERM the gateway; once it is gone,
 *              every device's highest acknowledged reading is read back from
 *              the data directory offline (nothing acknowledged may be lost),
 *              then the gateway restarts on the same directory and port: time
 *              until every device has been acknowledged again
 *
 * `--gateway-cpu-prof`: both gateways (the first, and the one restarted for the
 * storm, `…-restarted.cpuprofile`) run with --cpu-prof (written at its
 * SIGTERM; the quiet window's offsets are printed, for
 * `bench/profile-top.ts --from S --to S`). `--gateway-heap-snapshot`: a heap
 * snapshot of the gateway after the quiet window and one after the 200
 * writes/s window (`bench/heap-top.ts`); they pause it, so the windows after
 * them start 5 s later.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Child } from '../core/procs.js'
import { now } from '../core/rpc.js'
import { percentile } from '../core/stats.js'
import type { FleetProgress, ProbeResult, VerifyResult } from '../roles/fleet-devices.js'
import { row, type Ctx, type FleetOptions, type Row, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtMs, withChildren, type Spawn } from './util.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LAUNCHER = join(ROOT, 'bench', 'fleet-gateway.ts')
/** the same, plain JavaScript: a build's gateway runs without tsx, as users run it */
const BUILD_LAUNCHER = join(ROOT, 'bench', 'fleet-gateway.mjs')
const CLK_TCK = 100
const READING_EVERY_MS = 5000
const LOAD_WRITES_PER_S = 200

export const DEFAULT_FLEET: FleetOptions = {
  devicesList: [100, 300, 1000],
  perProcess: 100,
  windowS: 30,
  limits: 'own-hosts',
  build: undefined,
  cpuProf: false,
  heapSnapshot: false,
  connectTimeoutS: 300,
  profileDir: 'bench/results/profiles'
}

// ------------------------------------------------------------------ the gateway process

export class Gateway {
  readonly proc: ChildProcess
  stderr = ''
  readonly exited: Promise<number | null>
  readonly startedAt = now()

  constructor (args: string[], nodeFlags: string[], env: Record<string, string>, cwd: string) {
    // a build's gateway runs as users run it, without tsx; this checkout's sources need
    // tsx, whose hooks thread costs the gateway some 35 MB of RSS
    const launch = env.MESHDOC_BENCH_BUILD === undefined ? ['--import', 'tsx', LAUNCHER] : [BUILD_LAUNCHER]
    this.proc = spawn(process.execPath, [...nodeFlags, '--max-semi-space-size=2', ...launch, 'gateway', ...args], {
      cwd,
      // what bin/meshdoc.js gives a gateway: 16 libuv threads (the storage's fsyncs hold one each)
      env: { UV_THREADPOOL_SIZE: '16', ...cleanEnv(), ...env },
      stdio: ['ignore', 'ignore', 'pipe']
    })
    this.proc.stderr!.setEncoding('utf8')
    this.proc.stderr!.on('data', (c: string) => { this.stderr = (this.stderr + c).slice(-20_000) })
    this.exited = new Promise(resolve => { this.proc.once('exit', (code) => { resolve(code) }) })
    live.add(this)
    void this.exited.then(() => { live.delete(this) })
  }

  get pid (): number { return this.proc.pid! }

  async ready (timeoutMs = 60_000): Promise<{ peerId: string, tcp: string, admin: string, readyAt: number }> {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const admin = /admin (http:\/\/\S+)/.exec(this.stderr)?.[1]
      const peerId = /gateway (\S+) \(data/.exec(this.stderr)?.[1]
      const tcp = /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(this.stderr)?.[1]
      if (admin !== undefined && peerId !== undefined && tcp !== undefined) return { peerId, tcp, admin, readyAt: now() }
      if (this.proc.exitCode !== null) throw new Error(`gateway exited (${this.proc.exitCode}) before it was ready:\n${this.stderr}`)
      if (Date.now() > deadline) throw new Error(`gateway not ready after ${timeoutMs} ms:\n${this.stderr}`)
      await sleep(50)
    }
  }

  /** SIGTERM, and the time until it exited (SIGKILL after 60 s). */
  async stop (): Promise<{ code: number | null, ms: number }> {
    const t0 = now()
    if (this.proc.exitCode === null) this.proc.kill('SIGTERM')
    const timer = setTimeout(() => { this.proc.kill('SIGKILL') }, 60_000)
    const code = await this.exited
    clearTimeout(timer)
    return { code, ms: now() - t0 }
  }
}

const live = new Set<Gateway>()
process.once('exit', () => { for (const g of live) g.proc.kill('SIGKILL') })

function cleanEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MESHDOC_') && k !== 'DEBUG' && k !== 'NODE_OPTIONS') env[k] = v
  return env
}

/** utime + stime of `pid`, in ms */
export function cpuMs (pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 1000 / CLK_TCK
  } catch {
    return NaN
  }
}

/** busy time of the whole machine (all CPUs), in ms: what else ran besides the bench shows up here */
function machineBusyMs (): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 1000 / CLK_TCK
  } catch {
    return NaN
  }
}

function rssMB (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch {
    return NaN
  }
}

type Metrics = Map<string, number>

/** The unlabelled samples of the admin port's /metrics (labelled ones summed by name). */
export async function scrape (admin: string): Promise<Metrics> {
  const out: Metrics = new Map()
  try {
    const res = await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(30_000) })
    for (const line of (await res.text()).split('\n')) {
      if (line.startsWith('#') || line === '') continue
      const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)/.exec(line)
      if (m === null) continue
      out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[3]))
    }
  } catch {}
  return out
}

/** A TCP port on 127.0.0.1 below the ephemeral range (see test/helpers/cli-process.ts freePort). */
export async function freePort (): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => { resolve(false) })
      s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
    })
    if (ok) return port
  }
  throw new Error('no free TCP port in 20000-31999 on 127.0.0.1')
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

// ------------------------------------------------------------------ one fleet size

interface Window {
  name: string
  writesPerS: number
  seconds: number
  gatewayCpuPct: number
  devicesCpuPct: number
  /** CPU % (of one core) used on the machine by anything but the gateway and the bench's devices */
  otherCpuPct: number
  gatewayRssMB: number
  gatewayPeakRssMB: number
  heapUsedMB: number
  externalMB: number
  eldP99Ms: number
  eldMaxMs: number
  eldMeanMs: number
  probeP50Ms: number
  probeP99Ms: number
  probeMaxMs: number
  probeSamples: number
  probeTimeouts: number
  framesInPerS: number
  framesOutPerS: number
  updatesAppliedPerS: number
  peers: number
}

interface FleetRun {
  devices: number
  processes: number
  limits: 'own-hosts' | 'stock'
  build: string | undefined
  connect: { allMs: number, acked: number, p50Ms: number, p95Ms: number, createMsMax: number, dialFailures: number, firstDialError?: string, timedOut: boolean }
  baselineRssMB: number
  baselineHeapUsedMB: number
  baselineExternalMB: number
  windows: Window[]
  perDeviceKB: { rss: number, heap: number, external: number }
  restart: {
    shutdownMs: number
    exitCode: number | null
    verify: VerifyResult
    downMs: number
    readyMs: number
    stormMs: number
    p50Ms: number
    p95Ms: number
    acked: number
    dialFailures: number
    timedOut: boolean
    rssAfterMB: number
  }
  profile?: { file: string | undefined, quietFromS: number, quietToS: number }
  heapSnapshots?: string[]
}

async function fleetOnce (ctx: Ctx, spawnChild: Spawn, o: FleetOptions, n: number, scratch: string): Promise<FleetRun> {
  const log = (msg: string): void => { ctx.progress(`F1 N=${n}: ${msg}`) }
  const data = join(scratch, `gw-${n}`)
  const port = await freePort()
  const adminPort = await freePort()
  const profileDir = resolve(o.profileDir)
  mkdirSync(profileDir, { recursive: true })
  const args = ['--data', data, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--ws-port', 'none', '--admin', `127.0.0.1:${adminPort}`,
    // past the default 1,024 connections, as the README says to: the N devices, the probe and some room
    ...(n + 1 > 1000 ? ['--max-connections', String(n + 64)] : [])]
  const env: Record<string, string> = {
    ...(o.limits === 'own-hosts' ? { MESHDOC_BENCH_OWN_HOSTS: '1' } : {}),
    ...(o.build !== undefined ? { MESHDOC_BENCH_BUILD: resolve(o.build) } : {})
  }
  const build = o.build !== undefined ? { build: resolve(o.build) } : {}
  const profName = `F1-gateway-N${n}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`
  const flags1 = [
    ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${profName}`] : []),
    ...(o.heapSnapshot ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${profileDir}`] : [])
  ]
  let gw = new Gateway(args, flags1, env, ROOT)
  let info = await gw.ready()
  await sleep(2000)
  const m0 = await scrape(info.admin)
  const baselineRssMB = rssMB(gw.pid)
  log(`gateway ${info.peerId} up (pid ${gw.pid}, RSS ${baselineRssMB.toFixed(0)} MB), ${o.limits} limits`)

  // the fleet: processes of up to perProcess devices, keys made at spawn; and the probe
  const procs: Child[] = []
  for (let from = 0; from < n; from += o.perProcess) {
    procs.push(await spawnChild(`F1/N${n}/devices-${from}`, 'fleet-devices', { from, count: Math.min(o.perProcess, n - from), ...build }))
  }
  const probe = await spawnChild(`F1/N${n}/probe`, 'fleet-devices', { from: n, count: 1, ...build })
  const all = [...procs, probe]

  const progressOf = async (ps: Child[]): Promise<FleetProgress> => {
    const rs: FleetProgress[] = await Promise.all(ps.map(async p => await p.call<FleetProgress>('progress', {}, 60_000)))
    return rs.reduce<FleetProgress>((a, r) => ({
      devices: a.devices + r.devices,
      connected: a.connected + r.connected,
      ackedSinceMark: a.ackedSinceMark + r.ackedSinceMark,
      ackMs: a.ackMs.concat(r.ackMs),
      dialFailures: a.dialFailures + r.dialFailures,
      waiting: a.waiting.concat(r.waiting).slice(0, 5),
      ...(a.firstDialError ?? r.firstDialError) !== undefined ? { firstDialError: a.firstDialError ?? r.firstDialError } : {}
    }), { devices: 0, connected: 0, ackedSinceMark: 0, ackMs: [], dialFailures: 0, waiting: [] })
  }

  /** poll until every device of `ps` was acknowledged since its mark, or `timeoutS` */
  const untilAcked = async (ps: Child[], want: number, what: string, t0: number): Promise<{ p: FleetProgress, timedOut: boolean }> => {
    const deadline = now() + o.connectTimeoutS * 1000
    let last = 0
    while (true) {
      const p = await progressOf(ps)
      if (p.ackedSinceMark >= want) return { p, timedOut: false }
      if (now() > deadline) {
        log(`${what}: TIMED OUT after ${o.connectTimeoutS} s: ${p.ackedSinceMark}/${want} acknowledged, ${p.connected} connected, ${p.dialFailures} failed dials (${p.firstDialError ?? ''}); waiting: ${JSON.stringify(p.waiting)}`)
        return { p, timedOut: true }
      }
      if (now() - last > 10_000) {
        last = now()
        log(`${what}: ${((now() - t0) / 1000).toFixed(1)} s: ${p.connected} connected, ${p.ackedSinceMark}/${want} acknowledged, ${p.dialFailures} failed dials${want - p.ackedSinceMark <= 5 ? `; waiting: ${JSON.stringify(p.waiting)}` : ''}`)
      }
      await sleep(250)
    }
  }

  // ---- connect all
  const t0 = now()
  const created = await Promise.all(procs.map(async p => await p.call<{ createMs: number }>('start', { addr: info.tcp, gatewayId: info.peerId }, 600_000)))
  const c = await untilAcked(procs, n, 'connect', t0)
  const connectAllMs = c.timedOut ? NaN : Math.max(...c.p.ackMs)
  const connect = { allMs: connectAllMs, acked: c.p.ackedSinceMark, p50Ms: percentile(c.p.ackMs, 50), p95Ms: percentile(c.p.ackMs, 95), createMsMax: Math.max(...created.map(x => x.createMs)), dialFailures: c.p.dialFailures, ...(c.p.firstDialError !== undefined ? { firstDialError: c.p.firstDialError } : {}), timedOut: c.timedOut }
  log(`connect: ${c.p.ackedSinceMark}/${n} acknowledged in ${(connectAllMs / 1000).toFixed(1)} s (p50 ${fmtMs(connect.p50Ms)} ms; creating the devices took up to ${(connect.createMsMax / 1000).toFixed(1)} s; ${c.p.dialFailures} failed dials${c.p.firstDialError !== undefined ? `, e.g. ${c.p.firstDialError}` : ''})`)
  await probe.call('start', { addr: info.tcp, gatewayId: info.peerId })
  await untilAcked([probe], 1, 'probe', now())
  await sleep(5000)

  // ---- windows
  const windows: Window[] = []
  let profile: FleetRun['profile']
  const heapSnapshots: string[] = []
  const devicePids = all.map(p => p.proc.pid!)
  const measure = async (name: string, everyMs: number): Promise<Window> => {
    await Promise.all(procs.map(async p => await p.call('write', { everyMs })))
    if (everyMs > 0) await sleep(Math.min(everyMs, 5000) + 1000)
    const s0 = await scrape(info.admin)
    const at0 = now()
    const g0 = cpuMs(gw.pid)
    const d0 = devicePids.reduce((s, pid) => s + cpuMs(pid), 0)
    const b0 = machineBusyMs()
    let peak = rssMB(gw.pid)
    const sampler = setInterval(() => { peak = Math.max(peak, rssMB(gw.pid)) }, 1000)
    const pr = await probe.call<ProbeResult>('probe', { ms: o.windowS * 1000, pauseMs: 100, timeoutMs: 60_000 }, o.windowS * 1000 + 120_000)
    clearInterval(sampler)
    const secs = (now() - at0) / 1000
    const gCpu = cpuMs(gw.pid) - g0
    const dCpu = devicePids.reduce((s, pid) => s + cpuMs(pid), 0) - d0
    const busy = machineBusyMs() - b0
    const rss = rssMB(gw.pid)
    const s1 = await scrape(info.admin)
    const rate = (k: string): number => ((s1.get(k) ?? NaN) - (s0.get(k) ?? NaN)) / secs
    const w: Window = {
      name,
      writesPerS: everyMs > 0 ? n * 1000 / everyMs : 0,
      seconds: secs,
      gatewayCpuPct: gCpu / 10 / secs,
      devicesCpuPct: dCpu / 10 / secs,
      otherCpuPct: (busy - gCpu - dCpu) / 10 / secs,
      gatewayRssMB: rss,
      gatewayPeakRssMB: Math.max(peak, rss),
      heapUsedMB: (s1.get('nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
      externalMB: (s1.get('nodejs_external_memory_bytes') ?? NaN) / 2 ** 20,
      eldP99Ms: (s1.get('nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
      eldMaxMs: (s1.get('nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000,
      eldMeanMs: (s1.get('nodejs_eventloop_lag_mean_seconds') ?? NaN) * 1000,
      probeP50Ms: percentile(pr.samples, 50),
      probeP99Ms: percentile(pr.samples, 99),
      probeMaxMs: Math.max(...pr.samples),
      probeSamples: pr.samples.length,
      probeTimeouts: pr.timeouts,
      framesInPerS: rate('meshdoc_frames_received_total'),
      framesOutPerS: rate('meshdoc_frames_sent_total'),
      updatesAppliedPerS: rate('meshdoc_updates_applied_total'),
      peers: s1.get('meshdoc_peers_connected') ?? NaN
    }
    log(`${name.padEnd(8)} (${w.writesPerS.toFixed(0)} writes/s): gateway CPU ${w.gatewayCpuPct.toFixed(1)}%, RSS ${w.gatewayRssMB.toFixed(0)} MB (heap ${w.heapUsedMB.toFixed(0)}, external ${w.externalMB.toFixed(0)}), ELD p99 ${fmtMs(w.eldP99Ms)} ms max ${fmtMs(w.eldMaxMs)} ms; probe edit-to-ACK p50 ${fmtMs(w.probeP50Ms)} p99 ${fmtMs(w.probeP99Ms)} max ${fmtMs(w.probeMaxMs)} ms (${w.probeSamples} samples${w.probeTimeouts > 0 ? `, ${w.probeTimeouts} timeouts` : ''}); frames in/out ${w.framesInPerS.toFixed(0)}/${w.framesOutPerS.toFixed(0)} per s; devices CPU ${w.devicesCpuPct.toFixed(0)}%, anything else ${w.otherCpuPct.toFixed(0)}%; ${w.peers} peers`)
    if (name === 'quiet' && o.cpuProf) profile = { file: undefined, quietFromS: (at0 - gw.startedAt) / 1000, quietToS: (at0 - gw.startedAt) / 1000 + secs }
    return w
  }
  const snapshot = async (when: string): Promise<void> => {
    const before = new Set(readdirSync(profileDir))
    gw.proc.kill('SIGUSR2')
    const deadline = now() + 180_000
    let file: string | undefined
    let size = -1
    while (now() < deadline) {
      await sleep(1000)
      file ??= readdirSync(profileDir).find(f => f.endsWith('.heapsnapshot') && !before.has(f))
      if (file === undefined) continue
      const sz = statSync(join(profileDir, file)).size
      if (sz === size && sz > 0) break
      size = sz
    }
    if (file !== undefined) heapSnapshots.push(join(profileDir, file))
    log(`heap snapshot after the ${when} window: ${file !== undefined ? join(profileDir, file) : 'none written'} (node --max-old-space-size=4096 --import tsx bench/heap-top.ts --per ${n} FILE)`)
    await sleep(5000)
  }
  windows.push(await measure('quiet', 0))
  if (o.heapSnapshot) await snapshot('quiet')
  windows.push(await measure('readings', READING_EVERY_MS))
  windows.push(await measure('load', n * 1000 / LOAD_WRITES_PER_S))
  if (o.heapSnapshot) await snapshot('load')
  const quiet = windows[0]
  const perDeviceKB = {
    rss: (quiet.gatewayRssMB - baselineRssMB) * 1024 / n,
    heap: (quiet.heapUsedMB - (m0.get('nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20) * 1024 / n,
    external: (quiet.externalMB - (m0.get('nodejs_external_memory_bytes') ?? NaN) / 2 ** 20) * 1024 / n
  }

  // ---- restart: SIGTERM, check the store offline, start again on the same data and port
  await Promise.all(procs.map(async p => await p.call('write', { everyMs: READING_EVERY_MS })))
  await sleep(READING_EVERY_MS + 1000)
  const downAt = now()
  const stopped = await gw.stop()
  log(`SIGTERM: gateway exited ${stopped.code} after ${(stopped.ms / 1000).toFixed(1)} s`)
  if (o.cpuProf && profile !== undefined) {
    profile.file = readdirSync(profileDir).includes(profName) ? join(profileDir, profName) : undefined
    log(`CPU profile ${profile.file ?? '(not written)'}; quiet window ${profile.quietFromS.toFixed(1)}-${profile.quietToS.toFixed(1)} s after start: node --import tsx bench/profile-top.ts --from ${profile.quietFromS.toFixed(1)} --to ${profile.quietToS.toFixed(1)} ${profile.file ?? ''}`)
  }
  const acked = (await Promise.all(all.map(async p => await p.call<Array<{ i: number, seq: number, acked: number }>>('acked')))).flat()
  const verifier = await spawnChild(`F1/N${n}/verify`, 'fleet-devices', { from: 0, count: 0, ...build })
  const verify = await verifier.call<VerifyResult>('verify', { dataDir: data, expect: acked.map(a => ({ i: a.i, acked: a.acked })) }, 600_000)
  await verifier.exit()
  log(`store after SIGTERM: ${verify.checked} docs, ${verify.acknowledged} acknowledged readings, ${verify.lost} docs lost some${verify.firstLost !== undefined ? ` (${verify.firstLost})` : ''}`)

  await Promise.all(all.map(async p => await p.call('markAcks')))
  const downMs = now() - downAt
  const restartAt = now()
  // profiled too with --gateway-cpu-prof (its own file): the storm is its first seconds
  const stormProf = profName.replace('.cpuprofile', '-restarted.cpuprofile')
  gw = new Gateway(args, o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${stormProf}`] : [], env, ROOT)
  info = await gw.ready()
  const s = await untilAcked(all, n + 1, 'reconnect storm', restartAt)
  if (o.cpuProf) log(`the restarted gateway's CPU profile: ${join(profileDir, stormProf)} (written when it stops; the storm is its first ${((now() - restartAt) / 1000).toFixed(0)} s)`)
  const stormMs = s.timedOut ? NaN : Math.max(...s.p.ackMs)
  await sleep(2000)
  const restart = {
    shutdownMs: stopped.ms,
    exitCode: stopped.code,
    verify,
    downMs,
    readyMs: info.readyAt - restartAt,
    stormMs,
    p50Ms: percentile(s.p.ackMs, 50),
    p95Ms: percentile(s.p.ackMs, 95),
    acked: s.p.ackedSinceMark,
    dialFailures: s.p.dialFailures - c.p.dialFailures,
    timedOut: s.timedOut,
    rssAfterMB: rssMB(gw.pid)
  }
  log(`reconnect storm: ${s.p.ackedSinceMark}/${n + 1} acknowledged again ${(stormMs / 1000).toFixed(1)} s after the restart (gateway ready after ${(restart.readyMs / 1000).toFixed(1)} s, down ${(downMs / 1000).toFixed(1)} s; p50 ${(restart.p50Ms / 1000).toFixed(1)} s p95 ${(restart.p95Ms / 1000).toFixed(1)} s; ${restart.dialFailures} failed dials)`)
  await Promise.all(all.map(async p => { await p.exit(20_000) }))
  await gw.stop()
  return {
    devices: n,
    processes: procs.length,
    limits: o.limits,
    build: o.build,
    connect,
    baselineRssMB,
    baselineHeapUsedMB: (m0.get('nodejs_heap_size_used_bytes') ?? NaN) / 2 ** 20,
    baselineExternalMB: (m0.get('nodejs_external_memory_bytes') ?? NaN) / 2 ** 20,
    windows,
    perDeviceKB,
    restart,
    ...(profile !== undefined ? { profile } : {}),
    ...(heapSnapshots.length > 0 ? { heapSnapshots } : {})
  }
}

// ------------------------------------------------------------------ the scenario

const s1 = (ms: number): string => Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'n/a'

/** The issue's table: one line per N. */
export function fleetTable (runs: FleetRun[]): string {
  const head = ['devices', 'connect all', 'gateway RSS quiet', 'CPU quiet', 'CPU 5 s readings', 'CPU 200 w/s', 'probe p50/p99 quiet', 'p50/p99 5 s readings', 'p50/p99 200 w/s', 'ELD p99/max quiet', 'ELD p99/max 200 w/s', 'storm after restart', 'lost / acknowledged']
  const w = (r: FleetRun, name: string): Window | undefined => r.windows.find(x => x.name === name)
  const pct = (x: Window | undefined): string => x === undefined ? 'n/a' : `${x.gatewayCpuPct.toFixed(1)}%`
  const lat = (x: Window | undefined, a: 'probe' | 'eld'): string => x === undefined ? 'n/a' : a === 'probe' ? `${fmtMs(x.probeP50Ms)}/${fmtMs(x.probeP99Ms)} ms` : `${fmtMs(x.eldP99Ms)}/${fmtMs(x.eldMaxMs)} ms`
  const body = runs.map(r => [
    r.devices.toLocaleString('en-US'),
    r.connect.timedOut ? `${r.connect.acked} of ${r.devices} (timed out)` : s1(r.connect.allMs),
    `${w(r, 'quiet')?.gatewayRssMB.toFixed(0) ?? 'n/a'} MB`,
    pct(w(r, 'quiet')),
    pct(w(r, 'readings')),
    pct(w(r, 'load')),
    lat(w(r, 'quiet'), 'probe'),
    lat(w(r, 'readings'), 'probe'),
    lat(w(r, 'load'), 'probe'),
    lat(w(r, 'quiet'), 'eld'),
    lat(w(r, 'load'), 'eld'),
    r.restart.timedOut ? `${r.restart.acked} of ${r.devices + 1} (timed out)` : s1(r.restart.stormMs),
    `${r.restart.verify.lost} / ${r.restart.verify.acknowledged.toLocaleString('en-US')}`
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i].length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(head), `|${widths.map(x => '-'.repeat(x + 2)).join('|')}|`, ...body.map(line)].join('\n')
}

export const f1: Scenario = {
  id: 'F1',
  optIn: true,
  title: 'a real `meshdoc gateway` and N connected devices: connect, idle cost, edit-to-ACK, reconnect storm (issue 18)',
  async run (ctx): Promise<ScenarioResult> {
    const o = { ...DEFAULT_FLEET, ...ctx.fleet }
    const scratch = mkdtempSync(join(tmpdir(), 'meshdoc-fleet-'))
    const runs: FleetRun[] = []
    const errors: string[] = []
    try {
      for (const n of o.devicesList) {
        try {
          const r = await withChildren(async (spawnChild) => await fleetOnce(ctx, spawnChild, o, n, scratch))
          runs.push(r)
          if (r.restart.verify.lost > 0) errors.push(`F1 N=${n}: ${r.restart.verify.lost} docs lost acknowledged readings (${r.restart.verify.firstLost ?? ''})`)
          if (r.connect.timedOut) errors.push(`F1 N=${n}: only ${r.connect.acked} of ${n} devices connected and acknowledged within ${o.connectTimeoutS} s (${r.connect.firstDialError ?? ''})`)
          if (r.restart.timedOut) errors.push(`F1 N=${n}: only ${r.restart.acked} of ${n + 1} devices back within ${o.connectTimeoutS} s of the restart`)
        } catch (err) {
          errors.push(`F1 N=${n}: ${errorText(err)}`)
          ctx.progress(`F1 N=${n}: FAILED ${(err as Error).message.split('\n')[0]}`)
        } finally {
          for (const g of live) await g.stop()
        }
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true })
    }
    if (runs.length > 0) ctx.progress(`F1 fleet table (${o.limits} limits, ${o.windowS} s windows):\n${fleetTable(runs)}`)
    const rows: Row[] = []
    for (const r of runs) {
      const n = r.devices.toLocaleString('en-US')
      const w = (name: string): Window | undefined => r.windows.find(x => x.name === name)
      const q = w('quiet')
      const l = w('load')
      rows.push(row({ id: 'F1', metric: `${n} devices: connect all, acknowledged`, unit: 's', meshdoc: r.connect.allMs / 1000, goal: '< 20 s (N=1,000)', met: r.connect.allMs < 20_000, note: `p50 ${s1(r.connect.p50Ms)}; ${r.connect.dialFailures} failed dials` }))
      if (q !== undefined) {
        rows.push(row({ id: 'F1', metric: `${n} devices: gateway RSS, quiet`, unit: 'MB', meshdoc: q.gatewayRssMB, goal: '< 250 MB', met: q.gatewayRssMB < 250, note: `${r.perDeviceKB.rss.toFixed(0)} KB/device (heap ${r.perDeviceKB.heap.toFixed(0)}, external ${r.perDeviceKB.external.toFixed(0)})` }))
        rows.push(row({ id: 'F1', metric: `${n} devices: gateway CPU, quiet`, unit: '%', meshdoc: q.gatewayCpuPct, goal: '< 5%', met: q.gatewayCpuPct < 5 }))
        rows.push(row({ id: 'F1', metric: `${n} devices: probe edit-to-ACK p99, quiet`, unit: 'ms', meshdoc: q.probeP99Ms, goal: '< 50 ms', met: q.probeP99Ms < 50, note: `p50 ${fmtMs(q.probeP50Ms)} ms` }))
        rows.push(row({ id: 'F1', metric: `${n} devices: gateway event-loop delay p99, quiet`, unit: 'ms', meshdoc: q.eldP99Ms, goal: '< 20 ms', met: q.eldP99Ms < 20, note: `max ${fmtMs(q.eldMaxMs)} ms` }))
      }
      const rd = w('readings')
      if (rd !== undefined) rows.push(row({ id: 'F1', metric: `${n} devices: gateway CPU, a reading per device every 5 s`, unit: '%', meshdoc: rd.gatewayCpuPct, note: `probe p99 ${fmtMs(rd.probeP99Ms)} ms` }))
      if (l !== undefined) {
        rows.push(row({ id: 'F1', metric: `${n} devices: probe edit-to-ACK p99, 200 writes/s`, unit: 'ms', meshdoc: l.probeP99Ms, goal: '< 100 ms', met: l.probeP99Ms < 100, note: `p50 ${fmtMs(l.probeP50Ms)} ms; gateway CPU ${l.gatewayCpuPct.toFixed(1)}%, ELD p99 ${fmtMs(l.eldP99Ms)} ms` }))
      }
      rows.push(row({ id: 'F1', metric: `${n} devices: reconnect storm after a restart`, unit: 's', meshdoc: r.restart.stormMs / 1000, goal: '< 20 s (N=1,000)', met: r.restart.stormMs < 20_000, note: `p50 ${s1(r.restart.p50Ms)}; ${r.restart.dialFailures} failed dials; down ${s1(r.restart.downMs)}` }))
      rows.push(row({ id: 'F1', metric: `${n} devices: acknowledged readings lost across the restart`, unit: 'docs', meshdoc: r.restart.verify.lost, goal: '0', met: r.restart.verify.lost === 0, note: `${r.restart.verify.acknowledged} readings acknowledged` }))
    }
    return { runs, summary: { options: o, table: runs.length > 0 ? fleetTable(runs) : '' }, rows, errors }
  }
}
