/**
 * P1 (and P3): B4 live, A -> B in two processes; P1g: A -> G -> B in three.
 * A replays the trace (each edit its own transaction); the clock stops when
 * B's text equals the trace's end. Rate = edits / seconds.
 */
import type { Child } from '../core/procs.js'
import { median, medianOf } from '../core/stats.js'
import type { Usage } from '../roles/doc-commands.js'
import { row, WRITER_CLIENT_ID, type Ctx, type Row, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtInt, load1, resourceRows, rotate, withChildren, type Spawn } from './util.js'

type Contender = 'meshdoc' | 'meshdoc-encrypted' | 'y-websocket' | 'y-websocket-framing' | 'y-websocket-batched' | 'floor'

export interface LiveRun {
  contender: Contender
  run: number
  edits: number
  ms: number
  rate: number
  verified: boolean
  load1: number
  /** the writer (A) and the reader (B); the gateway G in P1g */
  usage: { a?: Usage, b?: Usage, g?: Usage }
  dialMs?: number
  /** sum of the raw V1 updates (floor only) */
  v1Bytes?: number
  v1Updates?: number
}

const BATCH = 256

/** Spawn the writer / reader pair for a contender; `via` adds a gateway in between. */
async function setup (spawn: Spawn, id: string, c: Exclude<Contender, 'floor'>, via: boolean): Promise<{ a: Child, b: Child, g?: Child, dialMs?: number }> {
  if (c === 'meshdoc') {
    if (!via) {
      const b = await spawn(`${id}/meshdoc/B`, 'mesh', { listen: true })
      const a = await spawn(`${id}/meshdoc/A`, 'mesh', {})
      const { dialMs } = await a.call('dial', { addr: b.info.addrs[0] })
      await Promise.all([a.call('synced'), b.call('synced')])
      return { a, b, dialMs }
    }
    const g = await spawn(`${id}/meshdoc/G`, 'mesh', { listen: true })
    const a = await spawn(`${id}/meshdoc/A`, 'mesh', {})
    const b = await spawn(`${id}/meshdoc/B`, 'mesh', {})
    const [{ dialMs }] = await Promise.all([a.call('dial', { addr: g.info.addrs[0] }), b.call('dial', { addr: g.info.addrs[0] })])
    await Promise.all([a.call('synced'), b.call('synced')])
    await g.call('synced')
    return { a, b, g, dialMs }
  }
  if (c === 'meshdoc-encrypted') {
    // an end-to-end encrypted doc through a blind gateway: A creates it with B as a member; G serves it by key, without the key
    const g = await spawn(`${id}/${c}/G`, 'mesh', { listen: true, blind: true })
    const b = await spawn(`${id}/${c}/B`, 'mesh', { encrypted: true })
    const a = await spawn(`${id}/${c}/A`, 'mesh', { encrypted: { members: [b.info.peerId] } })
    const [{ dialMs }] = await Promise.all([a.call('dial', { addr: g.info.addrs[0] }), b.call('dial', { addr: g.info.addrs[0] })])
    await a.call('synced', { peer: g.info.peerId })
    await b.call('synced', { peer: g.info.peerId })
    return { a, b, g, dialMs }
  }
  // the real y-websocket server, or (framing) a bare receiver with the same wire format
  const server = await spawn(`${id}/${c}/${via ? 'G' : 'B'}`, c === 'y-websocket-framing' ? 'yws-raw-server' : 'yws-server', {})
  const a = c === 'y-websocket'
    ? await spawn(`${id}/${c}/A`, 'yws-client', { url: server.info.url })
    : await spawn(`${id}/${c}/A`, 'yws-batched', { url: server.info.url, batch: c === 'y-websocket-framing' ? 1 : BATCH })
  await a.call('synced')
  if (!via) return { a, b: server }
  const b = await spawn(`${id}/${c}/B`, 'yws-client', { url: server.info.url })
  await b.call('synced')
  return { a, b, g: server }
}

async function runOnce (ctx: Ctx, id: string, c: Contender, via: boolean, run: number): Promise<LiveRun> {
  return await withChildren(async (spawn) => {
    const base = { contender: c, run, load1: load1() }
    if (c === 'floor') {
      const f = await spawn(`${id}/floor`, 'floor', {})
      await f.call('mark', { limit: ctx.limit })
      const r = await f.call('replay', { limit: ctx.limit, chunk: ctx.chunk, clientID: WRITER_CLIENT_ID }, ctx.timeoutMs)
      const ms = r.t1 - r.t0
      return { ...base, edits: r.edits, ms, rate: r.edits / ms * 1000, verified: r.verified, usage: { a: await f.call('report') }, v1Bytes: r.v1Bytes, v1Updates: r.v1Updates }
    }
    const { a, b, g, dialMs } = await setup(spawn, id, c, via)
    const all = [a, b, ...(g !== undefined ? [g] : [])]
    await Promise.all(all.map(async x => await x.call('mark', { limit: ctx.limit })))
    const watching = b.call('watch', { limit: ctx.limit, timeoutMs: ctx.timeoutMs }, ctx.timeoutMs + 5000)
    watching.catch(() => {})
    // a member of an encrypted doc writes under its own clientID (derived from its key): no other is accepted
    const r = await a.call('replay', { limit: ctx.limit, chunk: ctx.chunk, ...(c === 'meshdoc-encrypted' ? {} : { clientID: WRITER_CLIENT_ID }) }, ctx.timeoutMs)
    const done = await watching
    const [ua, ub, ug] = await Promise.all(all.map(async x => await x.call('report') as Usage))
    const ms = done.t - r.t0
    return { ...base, edits: r.edits, ms, rate: r.edits / ms * 1000, verified: done.verified, usage: { a: ua, b: ub, ...(ug !== undefined ? { g: ug } : {}) }, ...(dialMs !== undefined ? { dialMs } : {}) }
  })
}

function rateOf (runs: LiveRun[], c: Contender): number {
  return medianOf(runs.filter(r => r.contender === c && r.verified), r => r.rate)
}

function usageSummary (runs: LiveRun[], c: Contender): Record<string, number> {
  const mine = runs.filter(r => r.contender === c)
  const out: Record<string, number> = {}
  for (const side of ['a', 'b', 'g'] as const) {
    const u = mine.map(r => r.usage[side]).filter((x): x is Usage => x !== undefined)
    if (u.length === 0) continue
    out[`${side}CpuMs`] = median(u.map(x => x.cpuUserMs + x.cpuSystemMs))
    out[`${side}PeakRssMB`] = median(u.map(x => x.peakRssMB))
    out[`${side}MaxRssMB`] = median(u.map(x => x.maxRssMB))
    out[`${side}SocketWritten`] = median(u.map(x => x.socketWritten))
  }
  out.ms = medianOf(mine, r => r.ms)
  out.rate = rateOf(runs, c)
  out.verifiedRuns = mine.filter(r => r.verified).length
  out.runs = mine.length
  return out
}

async function runLive (ctx: Ctx, id: 'P1' | 'P1g', via: boolean, contenders: Contender[]): Promise<{ runs: LiveRun[], errors: string[] }> {
  const runs: LiveRun[] = []
  const errors: string[] = []
  await rotate(ctx.runs, contenders, async (c, run) => {
    try {
      const r = await runOnce(ctx, id, c, via, run)
      runs.push(r)
      ctx.progress(`${id} run ${run + 1}/${ctx.runs} ${c.padEnd(20)} ${fmtInt(r.rate).padStart(9)} upd/s  ${(r.ms / 1000).toFixed(2)} s${r.verified ? '' : '  NOT VERIFIED'}`)
    } catch (err) {
      errors.push(`${id} run ${run + 1} ${c}: ${errorText(err)}`)
      ctx.progress(`${id} run ${run + 1}/${ctx.runs} ${c}: FAILED ${(err as Error).message.split('\n')[0]}`)
    }
  })
  return { runs, errors }
}

const ratio = (a: number, b: number): number | null => Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : null

export const p1: Scenario = {
  id: 'P1',
  covers: ['P3'],
  title: 'B4 live A -> B (two processes), and P3 wire bytes',
  async run (ctx): Promise<ScenarioResult> {
    const { runs, errors } = await runLive(ctx, 'P1', false, ['meshdoc', 'y-websocket', 'y-websocket-framing', 'y-websocket-batched', 'floor'])
    const m = rateOf(runs, 'meshdoc')
    const u = rateOf(runs, 'y-websocket')
    const uf = rateOf(runs, 'y-websocket-framing')
    const rF = ratio(m, uf)
    const bt = rateOf(runs, 'y-websocket-batched')
    const fl = rateOf(runs, 'floor')
    const rU = ratio(m, u)
    const rB = ratio(m, bt)
    const rows: Row[] = [
      row({ id: 'P1', metric: 'B4 live A->B, updates/s', unit: 'upd/s', meshdoc: m, baseline: u, baselineName: 'y-websocket unbatched (provider -> server)', ratio: rU, ratioLabel: 'x faster', goal: '>= 2x', met: rU === null ? null : rU >= 2 }),
      row({ id: 'P1', metric: 'B4 live A->B, updates/s', unit: 'upd/s', meshdoc: m, baseline: uf, baselineName: 'y-websocket framing over ws, unbatched, no echo', ratio: rF, ratioLabel: 'x faster', goal: '>= 2x', met: rF === null ? null : rF >= 2 }),
      row({ id: 'P1', metric: 'B4 live A->B, updates/s', unit: 'upd/s', meshdoc: m, baseline: bt, baselineName: `y-websocket batched (${BATCH}/msg)`, ratio: rB, ratioLabel: 'x faster', goal: '>= 1.3x', met: rB === null ? null : rB >= 1.3 }),
      row({ id: 'P1', metric: 'B4 live A->B, updates/s', unit: 'upd/s', meshdoc: m, baseline: fl, baselineName: 'floor: local replay + V1 listener', ratio: ratio(m, fl), ratioLabel: 'of floor', goal: null, met: null })
    ]
    // P3: socket bytes written by A during the replay / sum of the raw V1 updates
    const v1 = medianOf(runs.filter(r => r.contender === 'floor'), r => r.v1Bytes)
    const wireOf = (c: Contender): number => medianOf(runs.filter(r => r.contender === c && r.verified), r => r.usage.a?.socketWritten)
    const appOf = (c: Contender): number => medianOf(runs.filter(r => r.contender === c && r.verified), r => r.usage.a?.extra.bytesOut)
    const pm = ratio(wireOf('meshdoc'), v1) ?? NaN
    const pu = ratio(wireOf('y-websocket'), v1) ?? NaN
    const pb = ratio(wireOf('y-websocket-batched'), v1) ?? NaN
    rows.push(
      row({ id: 'P3', metric: 'wire bytes / raw V1 bytes (TCP socket, A)', unit: 'x', meshdoc: pm, baseline: pu, baselineName: 'y-websocket unbatched', ratio: ratio(pu, pm), ratioLabel: 'x fewer bytes', goal: '<= 1.0', met: Number.isFinite(pm) ? pm <= 1.0 : null }),
      row({ id: 'P3', metric: 'wire bytes / raw V1 bytes (TCP socket, A)', unit: 'x', meshdoc: pm, baseline: ratio(wireOf('y-websocket-framing'), v1), baselineName: 'y-websocket framing over ws, unbatched', ratio: ratio(ratio(wireOf('y-websocket-framing'), v1) ?? NaN, pm), ratioLabel: 'x fewer bytes', goal: null, met: null }),
      row({ id: 'P3', metric: 'wire bytes / raw V1 bytes (TCP socket, A)', unit: 'x', meshdoc: pm, baseline: pb, baselineName: `y-websocket batched (${BATCH}/msg)`, ratio: ratio(pb, pm), ratioLabel: 'x fewer bytes', goal: null, met: null }),
      row({ id: 'P3', metric: 'frame bytes / raw V1 bytes (meshdoc engine, before Noise/yamux)', unit: 'x', meshdoc: ratio(appOf('meshdoc'), v1) ?? NaN, note: 'engine stats.bytesOut' })
    )
    return {
      runs,
      errors,
      summary: {
        rawV1Bytes: v1,
        rawV1Updates: medianOf(runs.filter(r => r.contender === 'floor'), r => r.v1Updates),
        dialMs: medianOf(runs.filter(r => r.contender === 'meshdoc'), r => r.dialMs),
        meshdoc: usageSummary(runs, 'meshdoc'),
        'y-websocket': usageSummary(runs, 'y-websocket'),
        'y-websocket-framing': usageSummary(runs, 'y-websocket-framing'),
        'y-websocket-batched': usageSummary(runs, 'y-websocket-batched'),
        floor: usageSummary(runs, 'floor'),
        p3: { meshdocSocketBytes: wireOf('meshdoc'), meshdocFrameBytes: appOf('meshdoc'), ywsSocketBytes: wireOf('y-websocket'), ywsFramingSocketBytes: wireOf('y-websocket-framing'), ywsBatchedSocketBytes: wireOf('y-websocket-batched') }
      },
      rows,
      resources: resourceRows('P1', runs)
    }
  }
}

export const p1g: Scenario = {
  id: 'P1g',
  title: 'B4 live through a gateway, A -> G -> B (three processes)',
  async run (ctx): Promise<ScenarioResult> {
    const { runs, errors } = await runLive(ctx, 'P1g', true, ['meshdoc', 'meshdoc-encrypted', 'y-websocket'])
    const m = rateOf(runs, 'meshdoc')
    const e = rateOf(runs, 'meshdoc-encrypted')
    const u = rateOf(runs, 'y-websocket')
    const r = ratio(m, u)
    const re = ratio(e, m)
    const gwBytes = (c: Contender): number => medianOf(runs.filter(x => x.contender === c && x.verified), x => x.usage.g?.socketWritten)
    return {
      runs,
      errors,
      summary: { meshdoc: usageSummary(runs, 'meshdoc'), 'meshdoc-encrypted': usageSummary(runs, 'meshdoc-encrypted'), 'y-websocket': usageSummary(runs, 'y-websocket') },
      resources: resourceRows('P1g', runs),
      rows: [
        row({ id: 'P1g', metric: 'B4 live A->G->B, updates/s', unit: 'upd/s', meshdoc: m, baseline: u, baselineName: 'y-websocket via its server', ratio: r, ratioLabel: 'x faster', goal: '>= 1.5x', met: r === null ? null : r >= 1.5 }),
        row({ id: 'P1g', metric: 'B4 live A->G->B, updates/s, encrypted doc through a blind gateway', unit: 'upd/s', meshdoc: e, baseline: m, baselineName: 'meshdoc, the doc in clear', ratio: re, ratioLabel: 'of clear', goal: '>= 0.8x', met: re === null ? null : re >= 0.8 }),
        row({ id: 'P1g', metric: 'socket bytes the gateway wrote, encrypted / clear', unit: 'x', meshdoc: ratio(gwBytes('meshdoc-encrypted'), gwBytes('meshdoc')) ?? NaN, note: 'G to B (and acknowledgements to A)' })
      ]
    }
  }
}
