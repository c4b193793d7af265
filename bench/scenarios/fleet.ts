/**
 * P6: a gateway and its fleet of devices reconnecting, with grants off and
 * on, side by side in each run. G2: what presenting 10 grants adds to a
 * device's time to first sync, over real libp2p on 127.0.0.1.
 *
 * P6. Two gateways (`bench/roles/gateway.ts`: serves every doc by key,
 * in-memory storage): `plain` checks no grants; `grants` trusts one owner
 * (`trust.owners`). Two fleets (`bench/roles/fleet.ts`) of N devices each
 * (default 10,000; `--devices N`), every device a real meshdoc node with its
 * own key and its own doc `sensors/<i>/state`; in the `grants` fleet every
 * device holds its own grant (audience its PeerId, `sensors/<i>/**`, write),
 * so no two devices share a token. Each device dials, waits until the
 * gateway has acknowledged its doc, and hangs up (a gateway built by
 * `createMeshNode` keeps at most 1,024 connections, so 10,000 devices cannot
 * all stay connected: they wake, sync and go). Four devices of a fleet are in
 * flight at once: all the bench's devices dial from 127.0.0.1, and a gateway
 * gives one host 4 handshake slots.
 *   first      every device, the first time the gateway sees it
 *   reconnect  every device again (same node, same incarnation, same token),
 *              each with one new reading: the gateway keeps what it remembers
 *              of peers (session resumption) and the tokens it verified
 * The two contenders take turns in slices of N/20 devices (ABBA), so that
 * load drifting during a pass of a minute or more hits both alike. Wall time
 * of a pass = the sum of its slices; the gateway's CPU time is measured over
 * the whole pass (it idles while the other contender runs).
 *
 * G2. Against the same two kinds of gateway, warm (a long-running gateway),
 * a fresh device (new key, new tokens: nothing cached at the gateway)
 * presents 10 grants (1-link chains, or 2-link through a delegate), 1 grant,
 * or none to the plain gateway; timed from its dial to its doc acknowledged
 * by the gateway (`whenSynced({ peer })`). The same device then hangs up and
 * dials again: its tokens are in the gateway's cache. Each sample of a
 * contender presenting grants is paired with one presenting none (order
 * alternating), so both gateways serve as many connections: a gateway that
 * serves fewer is a colder process, and slower (1.5 ms at p50 when the plain
 * one served a quarter of the connections). Not in G2's window: making the
 * device and its tokens.
 */
import { percentile } from '../core/stats.js'
import type { PassResult, TtfsResult } from '../roles/fleet.js'
import type { Usage } from '../roles/doc-commands.js'
import { row, type Ctx, type Row, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtMs, load1, withChildren, type Spawn } from './util.js'

type Contender = 'plain' | 'grants'
type Pass = 'first' | 'reconnect'

/** devices of a fleet dialling at once: the gateway's handshake slots for one host (adapters/libp2p/create-libp2p.ts) */
const CONCURRENCY = 4

interface PassTotals {
  wallMs: number
  syncMs: number[]
  retries: number
  failed: number
  firstError?: string
}

interface GatewayReport extends Usage {
  verifiedTokens: number
  servedDocs: number
}

interface FleetRun {
  run: number
  devices: number
  load1: number
  setupMs: Record<Contender, number>
  passes: Record<Pass, Record<Contender, { wallMs: number, syncP50Ms: number, syncP95Ms: number, retries: number, failed: number, firstError?: string, gateway: GatewayReport, fleet: Usage }>>
}

const cpu = (u: Usage): number => u.cpuUserMs + u.cpuSystemMs
const med = (xs: number[]): number => percentile(xs, 50)

async function p6Once (ctx: Ctx, spawn: Spawn, n: number, run: number): Promise<FleetRun> {
  const timeoutMs = ctx.timeoutMs
  const fleets = {
    plain: await spawn('P6/plain/F', 'fleet', {}),
    grants: await spawn('P6/grants/F', 'fleet', {})
  }
  const setup = await Promise.all((['plain', 'grants'] as const).map(async c => await fleets[c].call('setup', { n, grants: c === 'grants' }, 1_200_000)))
  const gateways = {
    plain: await spawn('P6/plain/G', 'gateway', {}),
    grants: await spawn('P6/grants/G', 'gateway', { owners: [fleets.grants.info.ownerId] })
  }
  const slice = Math.max(50, Math.ceil(n / 20))
  const passes = {} as FleetRun['passes']
  for (const pass of ['first', 'reconnect'] as Pass[]) {
    const totals: Record<Contender, PassTotals> = { plain: { wallMs: 0, syncMs: [], retries: 0, failed: 0 }, grants: { wallMs: 0, syncMs: [], retries: 0, failed: 0 } }
    await Promise.all([...Object.values(fleets), ...Object.values(gateways)].map(async c => await c.call('mark')))
    for (let from = 0, k = 0; from < n; from += slice, k++) {
      // ABBA over slices, and the first contender alternates from run to run
      const order: Contender[] = ((k + (k >> 1) + run) % 2 === 0) ? ['plain', 'grants'] : ['grants', 'plain']
      for (const c of order) {
        const r: PassResult = await fleets[c].call('pass', { addr: gateways[c].info.addrs[0], gatewayId: gateways[c].info.peerId, concurrency: CONCURRENCY, timeoutMs, from, to: from + slice }, timeoutMs * 4)
        const t = totals[c]
        t.wallMs += r.wallMs
        t.syncMs.push(...r.syncMs)
        t.retries += r.retries
        t.failed += r.failed
        if (r.firstError !== undefined) t.firstError ??= r.firstError
      }
    }
    const reports = Object.fromEntries(await Promise.all((['plain', 'grants'] as const).map(async c =>
      [c, { gateway: await gateways[c].call('report') as GatewayReport, fleet: await fleets[c].call('report') as Usage }] as const)))
    passes[pass] = Object.fromEntries((['plain', 'grants'] as const).map(c => {
      const t = totals[c]
      return [c, { wallMs: t.wallMs, syncP50Ms: med(t.syncMs), syncP95Ms: percentile(t.syncMs, 95), retries: t.retries, failed: t.failed, ...(t.firstError !== undefined ? { firstError: t.firstError } : {}), ...reports[c] }]
    })) as FleetRun['passes'][Pass]
    for (const c of ['plain', 'grants'] as const) {
      const p = passes[pass][c]
      ctx.progress(`P6 run ${run + 1}/${ctx.runs} ${pass.padEnd(9)} ${c.padEnd(6)} ${(p.wallMs / 1000).toFixed(1)} s for ${n} devices, dial->ack p50 ${fmtMs(p.syncP50Ms)} ms p95 ${fmtMs(p.syncP95Ms)} ms; gateway CPU ${(cpu(p.gateway) / n).toFixed(2)} ms/device, resumed ${p.gateway.extra.sessionsResumed}, tokens cached ${p.gateway.verifiedTokens}${p.retries > 0 ? `, ${p.retries} dials retried` : ''}${p.failed > 0 ? `, ${p.failed} FAILED (${p.firstError ?? ''})` : ''}`)
    }
  }
  return { run, devices: n, load1: load1(), setupMs: { plain: setup[0].setupMs, grants: setup[1].setupMs }, passes }
}

export const p6: Scenario = {
  id: 'P6',
  title: 'a gateway and N devices (default 10,000) connecting, then reconnecting: grants off and on',
  async run (ctx): Promise<ScenarioResult> {
    const n = ctx.devices ?? (ctx.quick ? 400 : 10_000)
    const runs: FleetRun[] = []
    const errors: string[] = []
    for (let run = 0; run < ctx.runs; run++) {
      try {
        const r = await withChildren(async (spawn) => await p6Once(ctx, spawn, n, run))
        runs.push(r)
        for (const pass of ['first', 'reconnect'] as Pass[]) {
          for (const c of ['plain', 'grants'] as Contender[]) {
            const p = r.passes[pass][c]
            if (p.failed > 0) errors.push(`P6 run ${run + 1} ${pass} ${c}: ${p.failed} of ${n} devices never synced: ${p.firstError ?? ''}`)
          }
        }
      } catch (err) {
        errors.push(`P6 run ${run + 1}: ${errorText(err)}`)
        ctx.progress(`P6 run ${run + 1}/${ctx.runs}: FAILED ${(err as Error).message.split('\n')[0]}`)
      }
    }
    const ok = runs.filter(r => (['first', 'reconnect'] as Pass[]).every(p => r.passes[p].plain.failed === 0 && r.passes[p].grants.failed === 0))
    const m = (pass: Pass, c: Contender, f: (p: FleetRun['passes'][Pass][Contender]) => number): number => med(ok.map(r => f(r.passes[pass][c])))
    const rows: Row[] = []
    const summary: Record<string, unknown> = { devices: n, concurrency: CONCURRENCY, runs: ok.length }
    for (const pass of ['first', 'reconnect'] as Pass[]) {
      const what = pass === 'first' ? 'first connect' : 'reconnect'
      const wall = { plain: m(pass, 'plain', p => p.wallMs / 1000), grants: m(pass, 'grants', p => p.wallMs / 1000) }
      // the run's own ratio, then the median over runs (each run's contenders shared the machine's load)
      const ratio = med(ok.map(r => r.passes[pass].grants.wallMs / r.passes[pass].plain.wallMs))
      const gwCpu = { plain: m(pass, 'plain', p => cpu(p.gateway) / n), grants: m(pass, 'grants', p => cpu(p.gateway) / n) }
      const cpuRatio = med(ok.map(r => cpu(r.passes[pass].grants.gateway) / cpu(r.passes[pass].plain.gateway)))
      const p50 = { plain: m(pass, 'plain', p => p.syncP50Ms), grants: m(pass, 'grants', p => p.syncP50Ms) }
      const p95 = { plain: m(pass, 'plain', p => p.syncP95Ms), grants: m(pass, 'grants', p => p.syncP95Ms) }
      const resumed = { plain: m(pass, 'plain', p => p.gateway.extra.sessionsResumed), grants: m(pass, 'grants', p => p.gateway.extra.sessionsResumed) }
      const cached = m(pass, 'grants', p => p.gateway.verifiedTokens)
      summary[pass] = { wallS: wall, ratio, gatewayCpuMsPerDevice: gwCpu, gatewayCpuRatio: cpuRatio, syncP50Ms: p50, syncP95Ms: p95, sessionsResumed: resumed, tokensCachedAtEnd: cached, fleetCpuMsPerDevice: { plain: m(pass, 'plain', p => cpu(p.fleet) / n), grants: m(pass, 'grants', p => cpu(p.fleet) / n) }, gatewayPeakRssMB: { plain: m(pass, 'plain', p => p.gateway.peakRssMB), grants: m(pass, 'grants', p => p.gateway.peakRssMB) } }
      const finite = Number.isFinite(ratio)
      rows.push(row({ id: 'P6', metric: `${n.toLocaleString('en-US')} devices, ${what}: all synced, grants on`, unit: 's', meshdoc: wall.grants, baseline: wall.plain, baselineName: 'grants off (same run, turns of N/20 devices)', ratio: finite ? ratio : null, ratioLabel: 'x grants off', goal: '<= 1.2x', met: finite ? ratio <= 1.2 : null, note: `${CONCURRENCY} devices dialling at once` }))
      rows.push(row({ id: 'P6', metric: `${what}: gateway CPU per device, grants on`, unit: 'ms', meshdoc: gwCpu.grants, baseline: gwCpu.plain, baselineName: 'grants off', ratio: Number.isFinite(cpuRatio) ? cpuRatio : null, ratioLabel: 'x grants off', note: pass === 'reconnect' ? `tokens cached at the end ${Math.round(cached)} (cache holds 4,096); sessions resumed ${Math.round(resumed.grants)} on, ${Math.round(resumed.plain)} off` : '' }))
      rows.push(row({ id: 'P6', metric: `${what}: one device, dial to ack, p50 (p95), grants on`, unit: 'ms', meshdoc: p50.grants, baseline: p50.plain, baselineName: 'grants off', ratio: p50.plain > 0 ? p50.grants / p50.plain : null, ratioLabel: 'x grants off', note: `p95 ${fmtMs(p95.grants)} vs ${fmtMs(p95.plain)} ms` }))
    }
    return {
      runs,
      errors,
      summary,
      rows: rows.map(r => r.note === '' ? (({ note: _, ...rest }) => rest)(r) : r),
      resources: (['plain', 'grants'] as Contender[]).flatMap(c => (['first', 'reconnect'] as Pass[]).flatMap(pass => [
        { id: 'P6', contender: `${c} ${pass}`, side: 'G', ...res(ok.map(r => r.passes[pass][c].gateway)) },
        { id: 'P6', contender: `${c} ${pass}`, side: 'F', ...res(ok.map(r => r.passes[pass][c].fleet)) }
      ]))
    }
  }
}

function res (u: Usage[]): { cpuMs: number, peakRssMB: number, rssGrowthMB: number, socketWritten: number, runs: number } {
  return {
    cpuMs: med(u.map(cpu)),
    peakRssMB: med(u.map(x => x.peakRssMB)),
    rssGrowthMB: med(u.map(x => x.peakRssMB - x.rssAtMarkMB)),
    socketWritten: med(u.map(x => x.socketWritten)),
    runs: u.length
  }
}

// ------------------------------------------------------------------ G2

type TtfsContender = 'none' | 'one' | 'ten' | 'ten-2link'
const TTFS: Record<TtfsContender, { grants: number, hops: number, gateway: Contender, label: string }> = {
  none: { grants: 0, hops: 1, gateway: 'plain', label: 'no grants (gateway checks none)' },
  one: { grants: 1, hops: 1, gateway: 'grants', label: '1 grant, owner -> device' },
  ten: { grants: 10, hops: 1, gateway: 'grants', label: '10 grants, owner -> device' },
  'ten-2link': { grants: 10, hops: 2, gateway: 'grants', label: '10 grants, owner -> delegate -> device' }
}

export const g2: Scenario = {
  id: 'G2',
  title: 'time to first sync over libp2p TCP: a device presenting 10 grants vs none',
  async run (ctx): Promise<ScenarioResult> {
    const samples = ctx.quick ? 10 : Math.max(60, ctx.runs * 20)
    const warmup = ctx.quick ? 3 : 15
    const errors: string[] = []
    const contenders = Object.keys(TTFS) as TtfsContender[]
    const got = Object.fromEntries(contenders.map(c => [c, { first: [] as number[], again: [] as number[] }])) as Record<TtfsContender, { first: number[], again: number[] }>
    try {
      await withChildren(async (spawn) => {
        const fleet = await spawn('G2/F', 'fleet', {})
        const gateways = {
          plain: await spawn('G2/plain/G', 'gateway', {}),
          grants: await spawn('G2/grants/G', 'gateway', { owners: [fleet.info.ownerId] })
        }
        let index = 0
        const checked = contenders.filter(c => c !== 'none')
        for (let s = 0; s < warmup + samples; s++) {
          // each contender presenting grants in a pair with one presenting none, the pair's order alternating:
          // both gateways serve as many connections, so neither is the colder process
          for (let k = 0; k < checked.length; k++) {
            const c = checked[(s + k) % checked.length]
            for (const x of (s + k) % 2 === 0 ? [c, 'none' as const] : ['none' as const, c]) {
              const t = TTFS[x]
              const g = gateways[t.gateway]
              const r: TtfsResult = await fleet.call('ttfs', { addr: g.info.addrs[0], gatewayId: g.info.peerId, grants: t.grants, hops: t.hops, index: index++, timeoutMs: 10_000 })
              if (s < warmup) continue
              got[x].first.push(r.first)
              got[x].again.push(r.again)
            }
          }
          if (s === warmup + samples - 1 || (s >= warmup && (s - warmup) % 20 === 19)) {
            ctx.progress(`G2 ${s + 1 - warmup}/${samples} samples: p50 first sync ${contenders.map(c => `${c} ${fmtMs(med(got[c].first))} ms`).join(', ')}`)
          }
        }
      })
    } catch (err) {
      errors.push(`G2: ${errorText(err)}`)
      ctx.progress(`G2: FAILED ${(err as Error).message.split('\n')[0]}`)
    }
    const stat = (c: TtfsContender, k: 'first' | 'again', p: number): number => percentile(got[c][k], p)
    const summary: Record<string, unknown> = { samples, warmup }
    for (const c of contenders) summary[c] = { firstP50Ms: stat(c, 'first', 50), firstP95Ms: stat(c, 'first', 95), againP50Ms: stat(c, 'again', 50), againP95Ms: stat(c, 'again', 95) }
    const rows: Row[] = []
    const none = { first: { p50: stat('none', 'first', 50), p95: stat('none', 'first', 95) }, again: { p50: stat('none', 'again', 50), p95: stat('none', 'again', 95) } }
    const plus = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)} ms`
    for (const c of ['one', 'ten', 'ten-2link'] as TtfsContender[]) {
      for (const k of ['first', 'again'] as const) {
        const p50 = stat(c, k, 50)
        const p95 = stat(c, k, 95)
        const added = p50 - none[k].p50
        const when = k === 'first' ? 'first connection (tokens new to the gateway)' : 'reconnect (tokens cached)'
        rows.push(row({
          id: 'G2',
          metric: `time to first sync, ${TTFS[c].label}, ${when}, p50`,
          unit: 'ms',
          meshdoc: p50,
          baseline: none[k].p50,
          baselineName: TTFS.none.label,
          goal: c === 'ten' && k === 'first' ? '< 5 ms added at p50' : null,
          met: c === 'ten' && k === 'first' && Number.isFinite(added) ? added < 5 : null,
          note: `added ${plus(added)} at p50, ${plus(p95 - none[k].p95)} at p95 (p95 ${fmtMs(p95)} vs ${fmtMs(none[k].p95)} ms)`
        }))
      }
    }
    return { runs: [got], summary, rows, errors }
  }
}
