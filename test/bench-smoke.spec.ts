/**
 * The benchmark harness runs end to end: `bench/run.ts --quick` for P1 (which
 * also yields P3) and P5 spawns its processes, checks that B's text equals the
 * trace's end, and writes the JSON report with the fields docs/BENCHMARKS.md
 * describes.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TRACE_PATH } from '../bench/core/trace.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
// the project's own Node (the `node` devDependency), as `npm run bench` uses it
const PROJECT_NODE = join(ROOT, 'node_modules', '.bin', 'node')
const NODE = existsSync(PROJECT_NODE) ? PROJECT_NODE : process.execPath

function runBench (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile(NODE, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: ROOT, timeout: 100_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

describe('benchmark harness (smoke)', function () {
  this.timeout(120_000)
  let out = ''

  before(function () {
    // the B4 trace lives beside the repository (../shared), not in it
    if (!existsSync(TRACE_PATH)) {
      console.warn(`      trace not found at ${TRACE_PATH} (set MESHDOC_TRACE); skipping`)
      this.skip()
    }
    out = mkdtempSync(join(tmpdir(), 'meshdoc-bench-smoke-'))
  })
  after(() => { if (out !== '') rmSync(out, { recursive: true, force: true }) })

  it('runs P1 and P5 in quick mode and writes a JSON report with verified results', async () => {
    const r = await runBench(['--quick', '--only', 'P1,P5', '--runs', '1', '--edits', '5000', '--out', out])
    assert.equal(r.code, 0, `bench failed:\n${r.stderr}`)
    assert.match(r.stderr, /P1 run 1\/1 meshdoc/, 'progress goes to stderr')
    assert.match(r.stdout, /\| P1 +\| B4 live A->B/, 'the table goes to stdout')

    const files = readdirSync(out).filter(f => f.endsWith('.json'))
    assert.ok(files.includes('latest.json'))
    assert.equal(files.length, 2, 'a timestamped report and latest.json')
    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'))

    assert.equal(report.version, 1)
    assert.equal(report.options.quick, true)
    assert.equal(report.options.limit, 5000)
    assert.equal(report.load.start.length, 3)
    assert.ok(Number(/^v(\d+)/.exec(report.host.node)?.[1]) >= 22, `bench ran on Node ${report.host.node}`)
    assert.deepEqual(report.errors, [])
    assert.deepEqual(Object.keys(report.scenarios).sort(), ['P1', 'P5'])

    const p1 = report.scenarios.P1
    const contenders = new Set(p1.runs.map((x: { contender: string }) => x.contender))
    for (const c of ['meshdoc', 'y-websocket', 'y-websocket-framing', 'y-websocket-batched', 'floor']) assert.ok(contenders.has(c), `P1 ran ${c}`)
    for (const run of p1.runs) {
      assert.equal(run.verified, true, `${run.contender}: B's text equals the trace's end`)
      assert.equal(run.edits, 5000)
      assert.ok(run.rate > 0 && Number.isFinite(run.rate), `${run.contender}: rate ${run.rate}`)
      assert.ok(run.usage.a.cpuUserMs > 0, `${run.contender}: CPU time of A reported`)
    }
    const mesh = p1.runs.find((x: { contender: string }) => x.contender === 'meshdoc')
    assert.ok(mesh.usage.b.cpuUserMs > 0, 'CPU time of B reported')
    assert.ok(mesh.usage.a.socketWritten > 0, 'socket bytes of A counted')
    assert.ok(mesh.usage.a.extra.bytesOut > 0, 'engine bytes of A counted')
    assert.ok(mesh.dialMs > 0)
    assert.ok(p1.summary.rawV1Updates === 5000, 'one raw V1 update per edit')

    const p3 = report.rows.find((x: { id: string, baselineName: string }) => x.id === 'P3' && x.baselineName.startsWith('y-websocket unbatched'))
    assert.ok(p3 !== undefined, 'P3 row present')
    assert.ok(p3.meshdoc > 0 && p3.meshdoc < 2, `P3 meshdoc ratio ${p3.meshdoc}`)
    assert.ok(p3.baseline > 1, `P3 y-websocket ratio ${p3.baseline} (framing adds bytes)`)

    const p5 = report.rows.find((x: { id: string, metric: string }) => x.id === 'P5' && x.metric.includes('full anti-entropy round'))
    assert.ok(p5 !== undefined, 'P5 full-round row present')
    assert.ok(p5.meshdoc > 0 && p5.meshdoc < 1000, `P5 meshdoc bytes ${p5.meshdoc}`)
    assert.ok(p5.baseline > p5.meshdoc, 'y-protocols resends the delete set')
    assert.ok(report.scenarios.P5.summary.meshdoc.fullSocketBytes > 0, 'P5 TCP bytes counted')
    for (const row of report.rows) {
      for (const k of ['id', 'metric', 'unit', 'meshdoc', 'baseline', 'ratio', 'goal', 'met']) assert.ok(k in row, `row field ${k}`)
    }
  })

  // P7 and P6/G2 smoke runs are behind MESHDOC_BENCH_SMOKE=all (README, Develop): 30 s of npm test for harness paths P1/P5 share
  const allSmoke = process.env.MESHDOC_BENCH_SMOKE === 'all'

  ;(allSmoke ? it : it.skip)('runs P7 (bench/storage.ts) in the same run, table and JSON', async () => {
    const dir = join(out, 'p7')
    const r = await runBench(['--quick', '--only', 'P7', '--runs', '1', '--edits', '2000', '--out', dir])
    assert.equal(r.code, 0, `bench failed:\n${r.stderr}`)
    assert.match(r.stderr, /P7 write 1\/1 meshdoc/, 'progress goes to stderr')
    assert.match(r.stdout, /\| P7 +\| write 2,000 edits/, 'P7 rows are in the table')
    const report = JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8'))
    assert.deepEqual(report.errors, [])
    assert.deepEqual(Object.keys(report.scenarios), ['P7'])
    const p7 = report.scenarios.P7.runs[0]
    assert.equal(p7.edits, 2000)
    for (const c of ['meshdoc', 'y-leveldb', 'floor']) {
      for (const [phase, p] of Object.entries(p7.results[c]) as Array<[string, { verified: boolean, ms: number }]>) {
        assert.equal(p.verified, true, `${c} ${phase}: the reloaded text equals the trace's end`)
        assert.ok(p.ms > 0, `${c} ${phase}: timed`)
      }
    }
    const rows = report.rows.filter((x: { id: string }) => x.id === 'P7')
    assert.ok(rows.length >= 4, 'write, reload and bytes rows')
    const write = rows.find((x: { metric: string }) => x.metric.startsWith('write'))
    assert.ok(write.meshdoc > 0 && write.baseline > 0, 'edits/s of meshdoc and y-leveldb')
    const bytes = rows.find((x: { metric: string, baselineName: string }) => x.metric.startsWith('bytes') && x.baselineName.startsWith('floor'))
    assert.ok(bytes.meshdoc > 0 && bytes.baseline > 0, 'bytes on disk of meshdoc and the floor')
  })
})

describe('benchmark harness (smoke): P6 and G2, a gateway and its fleet, grants off and on', function () {
  this.timeout(120_000)
  let out = ''
  before(() => { out = mkdtempSync(join(tmpdir(), 'meshdoc-bench-smoke-fleet-')) })
  after(() => { if (out !== '') rmSync(out, { recursive: true, force: true }) })

  ;(process.env.MESHDOC_BENCH_SMOKE === 'all' ? it : it.skip)('runs P6 (60 devices) and G2 in quick mode: every device synced, both contenders side by side, goals judged', async () => {
    const r = await runBench(['--quick', '--only', 'P6,G2', '--runs', '1', '--devices', '60', '--out', out])
    assert.equal(r.code, 0, `bench failed:\n${r.stderr}`)
    assert.match(r.stderr, /P6 run 1\/1 first +plain/, 'progress goes to stderr')
    assert.match(r.stdout, /\| P6 +\| 60 devices, reconnect: all synced, grants on/, 'the table goes to stdout')
    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'))
    assert.deepEqual(report.errors, [])
    assert.deepEqual(Object.keys(report.scenarios), ['P6', 'G2'])
    assert.equal(report.options.devices, 60)
    const run = report.scenarios.P6.runs[0]
    for (const pass of ['first', 'reconnect']) {
      for (const c of ['plain', 'grants']) {
        const p = run.passes[pass][c]
        assert.equal(p.failed, 0, `${pass} ${c}: every device synced`)
        assert.ok(p.wallMs > 0 && p.syncP50Ms > 0, `${pass} ${c}: timed`)
        assert.ok(p.gateway.cpuUserMs > 0, `${pass} ${c}: gateway CPU measured`)
      }
      // each device of the grants fleet holds its own token: the gateway verified (and cached) one per device
      assert.equal(run.passes[pass].grants.gateway.verifiedTokens, 60, `${pass}: one verified token per device`)
      assert.equal(run.passes[pass].plain.gateway.verifiedTokens, 0)
      assert.equal(run.passes[pass].grants.gateway.extra.grantsRefused, 0)
    }
    const goals = report.rows.filter((x: { id: string, goal: string | null }) => x.id === 'P6' && x.goal === '<= 1.2x')
    assert.equal(goals.length, 2, 'first connect and reconnect each judged against 1.2x')
    for (const g of goals) assert.ok(g.ratio > 0 && typeof g.met === 'boolean', `P6 ratio ${g.ratio}`)
    const g2 = report.rows.filter((x: { id: string }) => x.id === 'G2')
    assert.equal(g2.length, 6, 'G2: 1 grant, 10 grants of 1-link and 2-link chains; first connection and reconnect')
    for (const x of g2) assert.ok(x.meshdoc > 0 && x.baseline > 0, `G2 ${x.metric}: ${x.meshdoc} vs ${x.baseline} ms`)
    assert.equal(g2.filter((x: { met: boolean | null }) => x.met !== null).length, 1, 'the goal is judged on 10 grants, first connection')
  })
})
