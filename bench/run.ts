/**
 * `npm run bench`: every scenario of issue 7 side by side in one run.
 *
 *   node --import tsx bench/run.ts [--runs N] [--quick] [--only P1,P3] [--cpu-prof LABEL]...
 *   node --import tsx bench/run.ts --only F1 --devices-list 100,300,1000   (the fleet bench: opt-in, long)
 *
 * Progress goes to stderr, the table of medians and ratios to stdout, and the
 * whole result to bench/results/<timestamp>.json and bench/results/latest.json.
 * Every scenario's processes talk over 127.0.0.1 only and are killed at the end.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem, platform, release } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { configureChildren, exitAll, killAll } from './core/procs.js'
import { buildState } from './core/state.js'
import { formatResources, formatTable } from './core/table.js'
import { machine } from './scenarios/machine.js'
import { p1, p1g } from './scenarios/live.js'
import { p2 } from './scenarios/latency.js'
import { p4 } from './scenarios/cold-join.js'
import { p5 } from './scenarios/resync.js'
import { p8 } from './scenarios/mesh50.js'
import { p7 } from './scenarios/storage.js'
import { bundle } from './scenarios/bundle.js'
import { g1 } from './scenarios/grants.js'
import { g2, p6 } from './scenarios/fleet.js'
import { f1 } from './scenarios/gateway-fleet.js'
import { w1 } from './scenarios/webhooks.js'
import { p1y, p2y } from './scenarios/yws-bridge.js'
import type { Ctx, FleetOptions, ResourceRow, Row, Scenario, ScenarioResult } from './scenarios/types.js'

const SCENARIOS: Scenario[] = [machine, p1, p1g, p2, p1y, p2y, p4, p5, p6, p7, p8, g1, g2, bundle, f1, w1]

const HELP = `usage: node --import tsx bench/run.ts [options]
  --runs N          measured runs per contender (default 5; 1 with --quick)
  --quick           smoke mode: 20,000 edits instead of 259,778, small P2/P8/M/G2, P6 with 400 devices, P7 on 20,000 edits
  --only IDS        comma-separated scenario ids: ${SCENARIOS.map(s => [s.id, ...(s.covers ?? [])].join('/') + (s.optIn === true ? ' (only when named)' : '')).join(', ')}
  --edits N         replay only the first N edits of the trace
  --chunk N         the writer yields to the event loop every N edits (default 256)
  --devices N       P6: devices per fleet (default 10,000; 400 with --quick)
  F1 (the fleet bench, issue 18; --only F1):
  --devices-list N,N,...  fleet sizes, one run each (default 100,300,1000)
  --per-process N   devices per child process (default 100)
  W1 (webhook throughput, issue 17; --only W1): --devices N sensor docs writing once a second (default 1,000;
                    100 with --quick), measured over --window-seconds S (default 30; 10 with --quick)
  --window-seconds S  each measured window: quiet, a reading per device every 5 s, 200 writes/s (default 30)
  --gateway-limits own-hosts|stock  own-hosts (default): every inbound connection counts as its own host (every
                    bench device dials from 127.0.0.1; bench/fleet-gateway.ts); stock: one host, as behind one NAT
  --meshdoc-build DIR  gateway and devices run DIR/dist (DIR/package.json beside it) instead of the sources
  --connect-timeout-seconds S  give up on connect / the reconnect storm after S (default 300)
  --gateway-cpu-prof  run the gateways with --cpu-prof (the first: bench/profile-top.ts --from/--to for the quiet window; the restarted one: the storm)
  --gateway-heap-snapshot  heap snapshots of the gateway after the quiet and the 200 writes/s windows (bench/heap-top.ts)
  --cpu-prof LABEL  run children whose label starts with LABEL (e.g. P1/meshdoc/A) with --cpu-prof;
                    profiles go to bench/results/profiles/ (see bench/profile-top.ts)
  --out DIR         results directory (default bench/results)
  --verbose         forward children's output
  --help`

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    edits: { type: 'string' },
    chunk: { type: 'string', default: '256' },
    devices: { type: 'string' },
    'devices-list': { type: 'string' },
    'per-process': { type: 'string' },
    'window-seconds': { type: 'string' },
    'gateway-limits': { type: 'string' },
    'connect-timeout-seconds': { type: 'string' },
    'meshdoc-build': { type: 'string' },
    'gateway-cpu-prof': { type: 'boolean', default: false },
    'gateway-heap-snapshot': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string', multiple: true, default: [] },
    out: { type: 'string', default: 'bench/results' },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (values.help) {
  console.log(HELP)
  process.exit(0)
}

const quick = values.quick
const runs = values.runs !== undefined ? Number(values.runs) : (quick ? 1 : 5)
const limit = values.edits !== undefined ? Number(values.edits) : (quick ? 20_000 : undefined)
const chunk = Number(values.chunk)
const devices = values.devices !== undefined ? Number(values.devices) : undefined
if (!(runs >= 1) || !(chunk >= 1) || (limit !== undefined && !(limit >= 1)) || (devices !== undefined && !(Number.isInteger(devices) && devices >= 1))) {
  console.error(HELP)
  process.exit(2)
}

const fleet: Partial<FleetOptions> = {
  ...(values['devices-list'] !== undefined ? { devicesList: values['devices-list'].split(',').map(Number) } : {}),
  ...(values['per-process'] !== undefined ? { perProcess: Number(values['per-process']) } : {}),
  ...(values['window-seconds'] !== undefined ? { windowS: Number(values['window-seconds']) } : {}),
  ...(values['gateway-limits'] !== undefined ? { limits: values['gateway-limits'] as FleetOptions['limits'] } : {}),
  ...(values['connect-timeout-seconds'] !== undefined ? { connectTimeoutS: Number(values['connect-timeout-seconds']) } : {}),
  ...(values['meshdoc-build'] !== undefined ? { build: values['meshdoc-build'] } : {}),
  cpuProf: values['gateway-cpu-prof'],
  heapSnapshot: values['gateway-heap-snapshot']
}
const positiveInt = (x: number | undefined): boolean => x === undefined || (Number.isInteger(x) && x >= 1)
if (!(fleet.devicesList ?? []).every(x => positiveInt(x)) || !positiveInt(fleet.perProcess) || !positiveInt(fleet.windowS) || !positiveInt(fleet.connectTimeoutS) ||
  (fleet.limits !== undefined && fleet.limits !== 'own-hosts' && fleet.limits !== 'stock')) {
  console.error(HELP)
  process.exit(2)
}

const wanted = values.only?.split(',').map(s => s.trim().toUpperCase()).filter(s => s.length > 0)
const selected = wanted === undefined
  ? SCENARIOS.filter(s => s.optIn !== true)
  : SCENARIOS.filter(s => [s.id, ...(s.covers ?? [])].some(id => wanted.includes(id.toUpperCase())))
const unknown = (wanted ?? []).filter(w => !SCENARIOS.some(s => [s.id, ...(s.covers ?? [])].some(id => id.toUpperCase() === w)))
if (unknown.length > 0 || selected.length === 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}\n${HELP}`)
  process.exit(2)
}

const profileDir = join(values.out, 'profiles')
fleet.profileDir = profileDir
configureChildren({ cpuProf: values['cpu-prof'], profileDir, verbose: values.verbose })

const scratch = mkdtempSync(join(tmpdir(), 'meshdoc-bench-'))
const cleanup = (): void => {
  killAll()
  rmSync(scratch, { recursive: true, force: true })
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: stopping children\n`)
    cleanup()
    process.exit(130)
  })
}

const started = new Date()
const progress = (msg: string): void => {
  const s = ((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(5)
  process.stderr.write(`[${s} s] ${msg}\n`)
}

let statePromise: Promise<string> | undefined
const ctx: Ctx = {
  runs,
  quick,
  limit,
  chunk,
  devices,
  fleet,
  timeoutMs: quick ? 60_000 : 240_000,
  progress,
  statePath: async () => (statePromise ??= buildState(join(scratch, 'state.v2'), limit))
}

progress(`meshdoc bench: ${selected.map(s => s.id).join(', ')}; ${runs} run(s) each; ${limit ?? 'all'} edits; load average ${loadavg().map(x => x.toFixed(2)).join(' ')}`)

const results: Record<string, ScenarioResult & { title: string, load: { start: number[], end: number[] }, seconds: number }> = {}
const rows: Row[] = []
const resources: ResourceRow[] = []
const errors: string[] = []
try {
  for (const s of selected) {
    const load = { start: loadavg(), end: [] as number[] }
    const t0 = Date.now()
    progress(`${s.id}: ${s.title}`)
    let r: ScenarioResult
    try {
      r = await s.run(ctx)
    } catch (err) {
      r = { runs: [], summary: {}, rows: [], errors: [`${s.id}: ${(err as Error)?.stack ?? String(err)}`] }
      progress(`${s.id}: FAILED ${(err as Error).message.split('\n')[0]}`)
    }
    await exitAll()
    load.end = loadavg()
    results[s.id] = { ...r, title: s.title, load, seconds: (Date.now() - t0) / 1000 }
    rows.push(...r.rows)
    resources.push(...(r.resources ?? []))
    errors.push(...r.errors)
  }
} finally {
  cleanup()
}

const finished = new Date()
const report = {
  version: 1,
  startedAt: started.toISOString(),
  finishedAt: finished.toISOString(),
  seconds: (finished.getTime() - started.getTime()) / 1000,
  options: { runs, quick, limit: limit ?? null, chunk, devices: devices ?? null, only: wanted ?? null, cpuProf: values['cpu-prof'] },
  host: {
    node: process.version,
    platform: `${platform()} ${release()}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemMB: Math.round(totalmem() / 2 ** 20)
  },
  load: { start: results[selected[0].id]?.load.start ?? [], end: loadavg() },
  rows,
  resources,
  scenarios: results,
  errors
}

mkdirSync(values.out, { recursive: true })
const stamp = started.toISOString().replace(/[:.]/g, '-')
const file = join(values.out, `${stamp}.json`)
const text = JSON.stringify(report, null, 2)
writeFileSync(file, text)
writeFileSync(join(values.out, 'latest.json'), text)

console.log(formatTable(rows))
if (resources.length > 0) console.log(`\nCPU time and memory per process during the measured window (medians):\n\n${formatResources(resources)}`)
console.log(`\nload average at start ${report.load.start.map(x => x.toFixed(2)).join(' ')}, at end ${report.load.end.map(x => x.toFixed(2)).join(' ')}; ${report.host.cpus} CPUs; ${report.seconds.toFixed(0)} s`)
console.log(`results: ${file}`)
if (errors.length > 0) {
  console.error(`\n${errors.length} error(s):\n${errors.join('\n\n')}`)
  process.exitCode = 1
}
