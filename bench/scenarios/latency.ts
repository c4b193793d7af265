/**
 * P2: keystroke latency A -> G -> B at 10 edits/s (three processes). A types
 * the trace's first edits on a timer; B notes when its text shows each one.
 */
import { percentile, median } from '../core/stats.js'
import type { Usage } from '../roles/doc-commands.js'
import { row, type Ctx, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtMs, load1, resourceRows, rotate, withChildren } from './util.js'

type Contender = 'meshdoc' | 'y-websocket'

interface LatencyRun {
  contender: Contender
  run: number
  count: number
  p50: number
  p99: number
  max: number
  latencies: number[]
  /** A -> G only (G notes arrivals too) */
  hop1: number[]
  load1: number
  usage: { a: Usage, g: Usage, b: Usage }
}

const HZ = 10

async function runOnce (ctx: Ctx, c: Contender, run: number, count: number): Promise<LatencyRun> {
  return await withChildren(async (spawn) => {
    let a, g, b
    if (c === 'meshdoc') {
      g = await spawn('P2/meshdoc/G', 'mesh', { listen: true })
      a = await spawn('P2/meshdoc/A', 'mesh', {})
      b = await spawn('P2/meshdoc/B', 'mesh', {})
      await Promise.all([a.call('dial', { addr: g.info.addrs[0] }), b.call('dial', { addr: g.info.addrs[0] })])
      await Promise.all([a.call('synced'), b.call('synced'), g.call('synced')])
    } else {
      g = await spawn('P2/y-websocket/G', 'yws-server', {})
      a = await spawn('P2/y-websocket/A', 'yws-client', { url: g.info.url })
      b = await spawn('P2/y-websocket/B', 'yws-client', { url: g.info.url })
      await Promise.all([a.call('synced'), b.call('synced')])
    }
    const all = [a, g, b]
    await Promise.all(all.map(async x => await x.call('mark', { limit: count })))
    const timeout = count * 1000 / HZ + 30_000
    const arriving = b.call('arrivals', { count, timeoutMs: timeout }, timeout + 5000)
    const atGateway = g.call('arrivals', { count, timeoutMs: timeout }, timeout + 5000)
    arriving.catch(() => {})
    atGateway.catch(() => {})
    const { stamps } = await a.call('type', { count, hz: HZ }, timeout)
    const { arrivals } = await arriving
    const { arrivals: atG } = await atGateway
    const latencies = (arrivals as number[]).map((t, i) => t - (stamps as number[])[i])
    const hop1 = (atG as number[]).map((t, i) => t - (stamps as number[])[i])
    const [ua, ug, ub] = await Promise.all(all.map(async x => await x.call('report') as Usage))
    return { contender: c, run, count, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies), latencies, hop1, load1: load1(), usage: { a: ua, g: ug, b: ub } }
  })
}

export const p2: Scenario = {
  id: 'P2',
  title: `keystroke latency A -> G -> B at ${HZ} edits/s`,
  async run (ctx): Promise<ScenarioResult> {
    const count = ctx.quick ? 20 : 200
    const runs: LatencyRun[] = []
    const errors: string[] = []
    await rotate(ctx.runs, ['meshdoc', 'y-websocket'] as Contender[], async (c, run) => {
      try {
        const r = await runOnce(ctx, c, run, count)
        runs.push(r)
        ctx.progress(`P2 run ${run + 1}/${ctx.runs} ${c.padEnd(12)} p50 ${fmtMs(r.p50)} ms  p99 ${fmtMs(r.p99)} ms  max ${fmtMs(r.max)} ms  (A->G p50 ${fmtMs(percentile(r.hop1, 50))} ms)`)
      } catch (err) {
        errors.push(`P2 run ${run + 1} ${c}: ${errorText(err)}`)
        ctx.progress(`P2 run ${run + 1}/${ctx.runs} ${c}: FAILED ${(err as Error).message.split('\n')[0]}`)
      }
    })
    const of = (c: Contender): LatencyRun[] => runs.filter(r => r.contender === c)
    const med = (c: Contender, f: (r: LatencyRun) => number): number => median(of(c).map(f))
    const pooled = (c: Contender, p: number): number => percentile(of(c).flatMap(r => r.latencies), p)
    const m50 = med('meshdoc', r => r.p50)
    const y50 = med('y-websocket', r => r.p50)
    const m99 = med('meshdoc', r => r.p99)
    const y99 = med('y-websocket', r => r.p99)
    const ok = (x: number, y: number): number | null => Number.isFinite(x) && Number.isFinite(y) && x > 0 ? y / x : null
    return {
      runs: runs.map(({ latencies, hop1, ...rest }) => ({ ...rest, latencies: latencies.map(x => Math.round(x * 1000) / 1000), hop1: hop1.map(x => Math.round(x * 1000) / 1000) })),
      errors,
      resources: resourceRows('P2', runs),
      summary: {
        edits: count,
        hz: HZ,
        pooled: {
          meshdoc: { p50: pooled('meshdoc', 50), p99: pooled('meshdoc', 99) },
          'y-websocket': { p50: pooled('y-websocket', 50), p99: pooled('y-websocket', 99) }
        },
        hopAtoG: {
          meshdoc: { p50: med('meshdoc', r => percentile(r.hop1, 50)), p99: med('meshdoc', r => percentile(r.hop1, 99)) },
          'y-websocket': { p50: med('y-websocket', r => percentile(r.hop1, 50)), p99: med('y-websocket', r => percentile(r.hop1, 99)) }
        },
        cpuMs: {
          meshdoc: { a: med('meshdoc', r => r.usage.a.cpuUserMs + r.usage.a.cpuSystemMs), g: med('meshdoc', r => r.usage.g.cpuUserMs + r.usage.g.cpuSystemMs), b: med('meshdoc', r => r.usage.b.cpuUserMs + r.usage.b.cpuSystemMs) },
          'y-websocket': { a: med('y-websocket', r => r.usage.a.cpuUserMs + r.usage.a.cpuSystemMs), g: med('y-websocket', r => r.usage.g.cpuUserMs + r.usage.g.cpuSystemMs), b: med('y-websocket', r => r.usage.b.cpuUserMs + r.usage.b.cpuSystemMs) }
        }
      },
      rows: [
        row({ id: 'P2', metric: `keystroke latency A->G->B p50 (${count} edits at ${HZ}/s)`, unit: 'ms', meshdoc: m50, baseline: y50, baselineName: 'y-websocket via its server', ratio: ok(m50, y50), ratioLabel: 'x (theirs / ours)' }),
        row({ id: 'P2', metric: `keystroke latency A->G->B p99 (${count} edits at ${HZ}/s)`, unit: 'ms', meshdoc: m99, baseline: y99, baselineName: 'y-websocket via its server', ratio: ok(m99, y99), ratioLabel: 'x (theirs / ours)', goal: 'no worse', met: Number.isFinite(m99) && Number.isFinite(y99) ? m99 <= y99 : null })
      ]
    }
  }
}
