/**
 * P4: cold join. A gateway G holds the B4 document; a new peer J (fresh
 * process) dials it and waits until its text equals the trace's end. The
 * floor: a libp2p dial of G plus Y.applyUpdateV2 of the doc's V2 state.
 * G is a fresh process too (the goal row). `meshdoc-warm` also measures the
 * join a long-running gateway serves: the same, but G has served one joiner
 * (another fresh process, not measured) just before.
 *
 * Encrypted (issue 16), the doc end-to-end encrypted on a blind gateway,
 * two ways: `meshdoc-encrypted`, G holds the envelopes as the writer sealed
 * them while typing (no other member was ever online to attest a snapshot,
 * so G could compact nothing: J checks, opens and applies the whole
 * history); `meshdoc-encrypted-compacted`, a second member was online while
 * the writer typed and attested its snapshots, so G holds what a blind
 * gateway holds in its steady state: the newest attested snapshot and the
 * envelopes after it (J takes the snapshot as its checkpoint).
 */
import { median } from '../core/stats.js'
import type { Usage } from '../roles/doc-commands.js'
import { row, type Ctx, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtMs, load1, resourceRows, rotate, withChildren } from './util.js'

type Contender = 'meshdoc' | 'meshdoc-warm' | 'meshdoc-encrypted' | 'meshdoc-encrypted-compacted' | 'floor' | 'y-websocket'

interface JoinRun {
  contender: Contender
  run: number
  totalMs: number
  dialMs?: number
  applyMs?: number
  /** meshdoc: dial, session (stream + HELLO), waitSync2 (SYNC1 -> SYNC2 arrives and is validated), apply, settle (until the text check) */
  phases?: Record<string, number>
  verified: boolean
  /** encrypted: what the blind gateway held when J dialled */
  held?: { envelopes: number, bytes: number }
  load1: number
  usage: { j?: Usage, g?: Usage }
}

async function runOnce (ctx: Ctx, c: Contender, run: number): Promise<JoinRun> {
  const path = await ctx.statePath()
  return await withChildren(async (spawn) => {
    const base = { contender: c, run, load1: load1() }
    if (c === 'y-websocket') {
      const g = await spawn('P4/y-websocket/G', 'yws-server', {})
      await g.call('load-state', { path })
      const j = await spawn('P4/y-websocket/J', 'yws-client', { url: g.info.url, connect: false })
      await Promise.all([g.call('mark', { limit: ctx.limit }), j.call('mark', { limit: ctx.limit })])
      const r = await j.call('join', { limit: ctx.limit, timeoutMs: ctx.timeoutMs }, ctx.timeoutMs + 5000)
      const [uj, ug] = await Promise.all([j.call('report'), g.call('report')])
      return { ...base, totalMs: r.totalMs, verified: r.verified, usage: { j: uj, g: ug } }
    }
    if (c === 'meshdoc-encrypted' || c === 'meshdoc-encrypted-compacted') {
      // the doc end-to-end encrypted, on a blind gateway: a member M types the whole trace through G, which stores it
      // (STORED), M leaves; the joiner J (a member from the start) gets it from G alone, which cannot read it.
      // Compacted: another member B is online meanwhile and attests M's snapshots, so G drops what they cover
      const g = await spawn(`P4/${c}/G`, 'mesh', { listen: true, blind: true })
      const j = await spawn(`P4/${c}/J`, 'mesh', { encrypted: true })
      const b = c === 'meshdoc-encrypted-compacted' ? await spawn(`P4/${c}/B`, 'mesh', { encrypted: true }) : undefined
      const m = await spawn(`P4/${c}/M`, 'mesh', { encrypted: { members: [j.info.peerId, ...(b !== undefined ? [b.info.peerId] : [])] } })
      await m.call('dial', { addr: g.info.addrs[0] })
      if (b !== undefined) await b.call('dial', { addr: g.info.addrs[0] })
      // typed under M's own clientID (the state file's is another writer's, which no member may write under)
      await m.call('mark', { limit: ctx.limit })
      await m.call('replay', { limit: ctx.limit, chunk: ctx.chunk }, ctx.timeoutMs)
      await m.call('synced', { peer: g.info.peerId, timeoutMs: ctx.timeoutMs }, ctx.timeoutMs + 5000)
      let held = await g.call('e2e-held') as { envelopes: number, bytes: number }
      if (b !== undefined) {
        // until G compacted: M seals a snapshot once its typing pauses (2 s), B attests it once M's envelopes
        // pause, G then drops what it covers; G's count unchanged for 3 s
        await b.call('watch', { limit: ctx.limit, timeoutMs: ctx.timeoutMs }, ctx.timeoutMs + 5000)
        for (let last = Infinity, since = Date.now(), until = Date.now() + 20_000; Date.now() < until && Date.now() - since < 3000;) {
          await new Promise(resolve => setTimeout(resolve, 500))
          held = await g.call('e2e-held') as { envelopes: number, bytes: number }
          if (held.envelopes !== last) since = Date.now()
          last = held.envelopes
        }
        await b.exit()
      }
      await m.exit()
      await Promise.all([g.call('mark', { limit: ctx.limit }), j.call('mark', { limit: ctx.limit })])
      const r = await j.call('join', { addr: g.info.addrs[0], limit: ctx.limit, timeoutMs: ctx.timeoutMs }, ctx.timeoutMs + 5000)
      const [uj, ug] = await Promise.all([j.call('report'), g.call('report')])
      return { ...base, totalMs: r.totalMs, dialMs: r.dialMs, ...(r.phases !== undefined ? { phases: r.phases } : {}), held, verified: r.verified, usage: { j: uj, g: ug } }
    }
    const g = await spawn(`P4/${c}/G`, 'mesh', { listen: true })
    await g.call('load-state', { path })
    if (c === 'meshdoc-warm') {
      // the gateway serves one joiner first (not measured), which then leaves
      const first = await spawn('P4/meshdoc-warm/J0', 'mesh', {})
      await first.call('join', { addr: g.info.addrs[0], limit: ctx.limit, timeoutMs: ctx.timeoutMs }, ctx.timeoutMs + 5000)
      await first.exit()
    }
    const j = c === 'floor' ? await spawn('P4/floor/J', 'floor', {}) : await spawn(`P4/${c}/J`, 'mesh', {})
    await Promise.all([g.call('mark', { limit: ctx.limit }), j.call('mark', { limit: ctx.limit })])
    const r = await j.call('join', { addr: g.info.addrs[0], limit: ctx.limit, statePath: path, timeoutMs: ctx.timeoutMs }, ctx.timeoutMs + 5000)
    const [uj, ug] = await Promise.all([j.call('report'), g.call('report')])
    return { ...base, totalMs: r.totalMs, dialMs: r.dialMs, ...(r.applyMs !== undefined ? { applyMs: r.applyMs } : {}), ...(r.phases !== undefined ? { phases: r.phases } : {}), verified: r.verified, usage: { j: uj, g: ug } }
  })
}

export const p4: Scenario = {
  id: 'P4',
  title: 'cold join: a new peer gets the whole B4 document',
  async run (ctx): Promise<ScenarioResult> {
    const runs: JoinRun[] = []
    const errors: string[] = []
    await rotate(ctx.runs, ['meshdoc', 'floor', 'y-websocket', 'meshdoc-warm', 'meshdoc-encrypted', 'meshdoc-encrypted-compacted'] as Contender[], async (c, run) => {
      try {
        const r = await runOnce(ctx, c, run)
        runs.push(r)
        const phases = r.phases !== undefined ? Object.entries(r.phases).map(([k, v]) => k === 'remoteTxns' ? `${v} remote txns` : `${k} ${fmtMs(v)}`).join(', ') : r.dialMs !== undefined ? `dial ${fmtMs(r.dialMs)}${r.applyMs !== undefined ? `, apply ${fmtMs(r.applyMs)}` : ''}` : ''
        ctx.progress(`P4 run ${run + 1}/${ctx.runs} ${c.padEnd(12)} ${fmtMs(r.totalMs)} ms${phases !== '' ? ` (${phases} ms)` : ''}${r.verified ? '' : '  NOT VERIFIED'}`)
      } catch (err) {
        errors.push(`P4 run ${run + 1} ${c}: ${errorText(err)}`)
        ctx.progress(`P4 run ${run + 1}/${ctx.runs} ${c}: FAILED ${(err as Error).message.split('\n')[0]}`)
      }
    })
    const med = (c: Contender, f: (r: JoinRun) => number | undefined): number =>
      median(runs.filter(r => r.contender === c && r.verified).map(f).filter((x): x is number => x !== undefined))
    const m = med('meshdoc', r => r.totalMs)
    const f = med('floor', r => r.totalMs)
    const y = med('y-websocket', r => r.totalMs)
    const w = med('meshdoc-warm', r => r.totalMs)
    const e = med('meshdoc-encrypted', r => r.totalMs)
    const ec = med('meshdoc-encrypted-compacted', r => r.totalMs)
    const encryptedSummary = (c: Contender): Record<string, number> => ({
      totalMs: med(c, r => r.totalMs),
      joinerCpuMs: med(c, r => cpu(r.usage.j)),
      gatewayCpuMs: med(c, r => cpu(r.usage.g)),
      bytesToJoiner: med(c, r => r.usage.j?.socketRead),
      envelopesHeld: med(c, r => r.held?.envelopes),
      bytesHeld: med(c, r => r.held?.bytes)
    })
    const ratio = Number.isFinite(m) && Number.isFinite(f) && f > 0 ? m / f : null
    const cpu = (u: Usage | undefined): number | undefined => u === undefined ? undefined : u.cpuUserMs + u.cpuSystemMs
    const phasesOf = (c: Contender): Record<string, number> =>
      Object.fromEntries(['dial', 'session', 'waitSync2', 'apply', 'settle'].map(k => [k, med(c, r => r.phases?.[k])]))
    return {
      runs,
      errors,
      resources: resourceRows('P4', runs),
      summary: {
        meshdoc: {
          totalMs: m,
          dialMs: med('meshdoc', r => r.dialMs),
          phasesMs: phasesOf('meshdoc'),
          joinerCpuMs: med('meshdoc', r => cpu(r.usage.j)),
          gatewayCpuMs: med('meshdoc', r => cpu(r.usage.g)),
          joinerMaxRssMB: med('meshdoc', r => r.usage.j?.maxRssMB),
          bytesToJoiner: med('meshdoc', r => r.usage.j?.socketRead)
        },
        'meshdoc-warm': { totalMs: w, phasesMs: phasesOf('meshdoc-warm') },
        'meshdoc-encrypted': encryptedSummary('meshdoc-encrypted'),
        'meshdoc-encrypted-compacted': encryptedSummary('meshdoc-encrypted-compacted'),
        floor: { totalMs: f, dialMs: med('floor', r => r.dialMs), applyMs: med('floor', r => r.applyMs) },
        'y-websocket': { totalMs: y, joinerCpuMs: med('y-websocket', r => cpu(r.usage.j)), bytesToJoiner: med('y-websocket', r => r.usage.j?.socketRead) }
      },
      rows: [
        row({ id: 'P4', metric: 'cold join of the B4 doc', unit: 'ms', meshdoc: m, baseline: f, baselineName: 'floor: libp2p dial + applyUpdateV2', ratio, ratioLabel: 'x the floor', goal: '<= 1.3x', met: ratio === null ? null : ratio <= 1.3 }),
        row({ id: 'P4', metric: 'cold join of the B4 doc', unit: 'ms', meshdoc: m, baseline: y, baselineName: 'y-websocket (connect + sync)', ratio: Number.isFinite(m) && Number.isFinite(y) && m > 0 ? y / m : null, ratioLabel: 'x faster' }),
        row({ id: 'P4', metric: 'cold join of the B4 doc, gateway has served a joiner before', unit: 'ms', meshdoc: w, baseline: f, baselineName: 'floor: libp2p dial + applyUpdateV2', ratio: Number.isFinite(w) && Number.isFinite(f) && f > 0 ? w / f : null, ratioLabel: 'x the floor', note: 'G warm: its second joiner' }),
        row({ id: 'P4', metric: 'cold join of the B4 doc, end-to-end encrypted, from a blind gateway that compacted nothing (the whole history)', unit: 'ms', meshdoc: e, baseline: m, baselineName: 'meshdoc, the doc in clear', ratio: Number.isFinite(e) && Number.isFinite(m) && m > 0 ? e / m : null, ratioLabel: 'x clear', goal: '<= 1.5x', met: Number.isFinite(e) && Number.isFinite(m) && m > 0 ? e / m <= 1.5 : null }),
        row({ id: 'P4', metric: 'cold join of the B4 doc, end-to-end encrypted, from a blind gateway that compacted (attested snapshot + tail)', unit: 'ms', meshdoc: ec, baseline: m, baselineName: 'meshdoc, the doc in clear', ratio: Number.isFinite(ec) && Number.isFinite(m) && m > 0 ? ec / m : null, ratioLabel: 'x clear', goal: '<= 1.5x', met: Number.isFinite(ec) && Number.isFinite(m) && m > 0 ? ec / m <= 1.5 : null })
      ]
    }
  }
}
