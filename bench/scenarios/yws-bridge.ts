/**
 * Issue 17, "Speed": the same y-websocket app against two servers. A and B
 * are `WebsocketProvider`s (bench/roles/yws-client.ts, unbatched: one
 * message per edit, as in a browser); G is either a meshdoc gateway with its
 * y-websocket endpoint (`meshdoc-yws`, bench/roles/yws-gateway.ts) or
 * `@y/websocket-server` (`y-websocket`, bench/roles/yws-server.ts).
 *
 * - P1y: B4 live A -> G -> B, as P1g (the clock stops when B's text is the
 *   trace's end). Goal: at least as fast as @y/websocket-server. The
 *   gateway holds a y-websocket client to a mesh peer's frame rate (10,000
 *   a second, bursts of 50,000; lib/security/limits.ts), which a replay of
 *   one message per edit can pass: `meshdoc-yws-unlimited`, the same gateway
 *   with that limit lifted, shows what the bridge itself does (no goal).
 * - P2y: keystroke latency A -> G -> B at 10 edits/s, as P2. Goal: p99 no worse.
 *
 * Both run only when named (`--only P1y,P2y`): some 11 minutes in all.
 */
import type { Child } from '../core/procs.js'
import { median, medianOf, percentile } from '../core/stats.js'
import type { Usage } from '../roles/doc-commands.js'
import { row, WRITER_CLIENT_ID, type Ctx, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtInt, fmtMs, load1, resourceRows, rotate, withChildren, type Spawn } from './util.js'

type Contender = 'meshdoc-yws' | 'meshdoc-yws-unlimited' | 'y-websocket'
const CONTENDERS: Contender[] = ['meshdoc-yws', 'y-websocket']
/** the engine's per-peer frame bucket, lifted (`meshdoc-yws-unlimited`) */
const NO_FRAME_LIMIT = { framesPerSecond: 1e9, frameBurst: 1e9 }
const HZ = 10

/** G, then the writer A and the reader B, both synced with G. */
async function setup (spawn: Spawn, id: string, c: Contender): Promise<{ a: Child, g: Child, b: Child }> {
  const g = c === 'y-websocket'
    ? await spawn(`${id}/${c}/G`, 'yws-server', {})
    : await spawn(`${id}/${c}/G`, 'yws-gateway', c === 'meshdoc-yws-unlimited' ? { limits: NO_FRAME_LIMIT } : {})
  const a = await spawn(`${id}/${c}/A`, 'yws-client', { url: g.info.url })
  const b = await spawn(`${id}/${c}/B`, 'yws-client', { url: g.info.url })
  await Promise.all([a.call('synced'), b.call('synced')])
  return { a, g, b }
}

/** The meshdoc gateway's report adds its counters by reason (bench/roles/yws-gateway.ts). */
type GatewayUsage = Usage & { closedBy?: Record<string, number>, rejectedBy?: Record<string, number> }

/** What the meshdoc gateway refused in a run, for the progress line: sockets it closed (a rate limit, say), frames it rejected. */
const gatewayNote = (g: GatewayUsage): string => {
  const closed = g.extra.socketsClosed ?? 0
  const refused = (g.extra.messagesRefused ?? 0) + (g.extra.rejected ?? 0)
  return closed + refused > 0 ? `  G closed ${closed} socket(s), refused ${refused} (so far: ${JSON.stringify({ ...g.closedBy, ...g.rejectedBy })})` : ''
}

interface LiveRun {
  contender: Contender
  run: number
  edits: number
  ms: number
  rate: number
  verified: boolean
  load1: number
  usage: { a: Usage, g: Usage, b: Usage }
}

async function liveOnce (ctx: Ctx, c: Contender, run: number): Promise<LiveRun> {
  return await withChildren(async (spawn) => {
    const { a, g, b } = await setup(spawn, 'P1y', c)
    const all = [a, g, b]
    await Promise.all(all.map(async x => await x.call('mark', { limit: ctx.limit })))
    const watching = b.call('watch', { limit: ctx.limit, timeoutMs: ctx.timeoutMs }, ctx.timeoutMs + 5000)
    watching.catch(() => {})
    const r = await a.call('replay', { limit: ctx.limit, chunk: ctx.chunk, clientID: WRITER_CLIENT_ID }, ctx.timeoutMs)
    const done = await watching
    const [ua, ug, ub] = await Promise.all(all.map(async x => await x.call('report') as Usage))
    const ms = done.t - r.t0
    return { contender: c, run, edits: r.edits, ms, rate: r.edits / ms * 1000, verified: done.verified, load1: load1(), usage: { a: ua, g: ug, b: ub } }
  })
}

interface LatencyRun {
  contender: Contender
  run: number
  count: number
  p50: number
  p99: number
  max: number
  latencies: number[]
  load1: number
  usage: { a: Usage, g: Usage, b: Usage }
}

async function latencyOnce (ctx: Ctx, c: Contender, run: number, count: number): Promise<LatencyRun> {
  return await withChildren(async (spawn) => {
    const { a, g, b } = await setup(spawn, 'P2y', c)
    const all = [a, g, b]
    await Promise.all(all.map(async x => await x.call('mark', { limit: count })))
    const timeout = count * 1000 / HZ + 30_000
    const arriving = b.call('arrivals', { count, timeoutMs: timeout }, timeout + 5000)
    arriving.catch(() => {})
    const { stamps } = await a.call('type', { count, hz: HZ }, timeout)
    const { arrivals } = await arriving
    const latencies = (arrivals as number[]).map((t, i) => t - (stamps as number[])[i])
    const [ua, ug, ub] = await Promise.all(all.map(async x => await x.call('report') as Usage))
    return { contender: c, run, count, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies), latencies, load1: load1(), usage: { a: ua, g: ug, b: ub } }
  })
}

const ratio = (a: number, b: number): number | null => Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : null
const cpuOf = (u: Usage): number => u.cpuUserMs + u.cpuSystemMs

export const p1y: Scenario = {
  id: 'P1y',
  // about 7 minutes in full (P2y: 4): runs only when named, as W1
  optIn: true,
  title: 'B4 live A -> G -> B, WebsocketProvider on both ends: meshdoc gateway --yws vs @y/websocket-server',
  async run (ctx): Promise<ScenarioResult> {
    const runs: LiveRun[] = []
    const errors: string[] = []
    await rotate(ctx.runs, [...CONTENDERS, 'meshdoc-yws-unlimited'] as Contender[], async (c, run) => {
      try {
        const r = await liveOnce(ctx, c, run)
        runs.push(r)
        ctx.progress(`P1y run ${run + 1}/${ctx.runs} ${c.padEnd(21)} ${fmtInt(r.rate).padStart(9)} upd/s  ${(r.ms / 1000).toFixed(2)} s${r.verified ? '' : '  NOT VERIFIED'}${gatewayNote(r.usage.g)}`)
      } catch (err) {
        errors.push(`P1y run ${run + 1} ${c}: ${errorText(err)}`)
        ctx.progress(`P1y run ${run + 1}/${ctx.runs} ${c}: FAILED ${(err as Error).message.split('\n')[0]}`)
      }
    })
    const rateOf = (c: Contender): number => medianOf(runs.filter(r => r.contender === c && r.verified), r => r.rate)
    const m = rateOf('meshdoc-yws')
    const y = rateOf('y-websocket')
    const u = rateOf('meshdoc-yws-unlimited')
    const r = ratio(m, y)
    const ru = ratio(u, y)
    // a writer the gateway closed (rate_limited, 4529) reconnects and sends the rest as one sync step 2: say how many runs did
    const limited = runs.filter(x => x.contender === 'meshdoc-yws' && ((x.usage.g as GatewayUsage).closedBy?.rate_limited ?? 0) > 0).length
    const ran = runs.filter(x => x.contender === 'meshdoc-yws').length
    const summaryOf = (c: Contender): Record<string, number> => {
      const mine = runs.filter(x => x.contender === c)
      return {
        rate: rateOf(c),
        ms: medianOf(mine, x => x.ms),
        aCpuMs: medianOf(mine, x => cpuOf(x.usage.a)),
        gCpuMs: medianOf(mine, x => cpuOf(x.usage.g)),
        bCpuMs: medianOf(mine, x => cpuOf(x.usage.b)),
        gPeakRssMB: medianOf(mine, x => x.usage.g.peakRssMB),
        gSocketWritten: medianOf(mine, x => x.usage.g.socketWritten),
        verifiedRuns: mine.filter(x => x.verified).length,
        runs: mine.length
      }
    }
    return {
      runs,
      errors,
      summary: { 'meshdoc-yws': { ...summaryOf('meshdoc-yws'), runsWithSocketsClosed: limited }, 'meshdoc-yws-unlimited': summaryOf('meshdoc-yws-unlimited'), 'y-websocket': summaryOf('y-websocket') },
      resources: resourceRows('P1y', runs),
      rows: [
        row({ id: 'P1y', metric: 'B4 live A->G->B, WebsocketProvider both ends, updates/s', unit: 'upd/s', meshdoc: m, baseline: y, baselineName: '@y/websocket-server', ratio: r, ratioLabel: 'x faster', goal: '>= 1.0x', met: r === null ? null : r >= 1, note: `meshdoc column: meshdoc gateway --yws; the writer rate-limited (4529) in ${limited}/${ran} runs` }),
        row({ id: 'P1y', metric: 'B4 live A->G->B, WebsocketProvider both ends, updates/s', unit: 'upd/s', meshdoc: u, baseline: y, baselineName: '@y/websocket-server', ratio: ru, ratioLabel: 'x faster', goal: null, met: null, note: 'meshdoc column: gateway --yws, per-peer frame limit lifted' })
      ]
    }
  }
}

export const p2y: Scenario = {
  id: 'P2y',
  optIn: true,
  title: `keystroke latency A -> G -> B at ${HZ} edits/s, WebsocketProvider on both ends: meshdoc gateway --yws vs @y/websocket-server`,
  async run (ctx): Promise<ScenarioResult> {
    const count = ctx.quick ? 20 : 200
    const runs: LatencyRun[] = []
    const errors: string[] = []
    await rotate(ctx.runs, CONTENDERS, async (c, run) => {
      try {
        const r = await latencyOnce(ctx, c, run, count)
        runs.push(r)
        ctx.progress(`P2y run ${run + 1}/${ctx.runs} ${c.padEnd(12)} p50 ${fmtMs(r.p50)} ms  p99 ${fmtMs(r.p99)} ms  max ${fmtMs(r.max)} ms${gatewayNote(r.usage.g)}`)
      } catch (err) {
        errors.push(`P2y run ${run + 1} ${c}: ${errorText(err)}`)
        ctx.progress(`P2y run ${run + 1}/${ctx.runs} ${c}: FAILED ${(err as Error).message.split('\n')[0]}`)
      }
    })
    const of = (c: Contender): LatencyRun[] => runs.filter(r => r.contender === c)
    const med = (c: Contender, f: (r: LatencyRun) => number): number => median(of(c).map(f))
    const pooled = (c: Contender, p: number): number => percentile(of(c).flatMap(r => r.latencies), p)
    const m50 = med('meshdoc-yws', r => r.p50)
    const y50 = med('y-websocket', r => r.p50)
    const m99 = med('meshdoc-yws', r => r.p99)
    const y99 = med('y-websocket', r => r.p99)
    const theirsOverOurs = (x: number, y: number): number | null => Number.isFinite(x) && Number.isFinite(y) && x > 0 ? y / x : null
    return {
      runs: runs.map(({ latencies, ...rest }) => ({ ...rest, latencies: latencies.map(x => Math.round(x * 1000) / 1000) })),
      errors,
      resources: resourceRows('P2y', runs),
      summary: {
        edits: count,
        hz: HZ,
        pooled: Object.fromEntries(CONTENDERS.map(c => [c, { p50: pooled(c, 50), p99: pooled(c, 99) }])),
        cpuMs: Object.fromEntries(CONTENDERS.map(c => [c, { a: med(c, r => cpuOf(r.usage.a)), g: med(c, r => cpuOf(r.usage.g)), b: med(c, r => cpuOf(r.usage.b)) }]))
      },
      rows: [
        row({ id: 'P2y', metric: `yws keystroke latency A->G->B p50 (${count} edits at ${HZ}/s)`, unit: 'ms', meshdoc: m50, baseline: y50, baselineName: '@y/websocket-server', ratio: theirsOverOurs(m50, y50), ratioLabel: 'x (theirs / ours)', note: 'meshdoc column: meshdoc gateway --yws' }),
        row({ id: 'P2y', metric: `yws keystroke latency A->G->B p99 (${count} edits at ${HZ}/s)`, unit: 'ms', meshdoc: m99, baseline: y99, baselineName: '@y/websocket-server', ratio: theirsOverOurs(m99, y99), ratioLabel: 'x (theirs / ours)', goal: 'no worse', met: Number.isFinite(m99) && Number.isFinite(y99) ? m99 <= y99 : null, note: 'meshdoc column: meshdoc gateway --yws' })
      ]
    }
  }
}
