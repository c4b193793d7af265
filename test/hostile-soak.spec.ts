/**
 * The hostile-peer soak of issue 13. The victim is a gateway as `meshdoc
 * gateway` runs one (serving by key, fs storage, a policy, authorship
 * enforced, a write quota per peer) in its own process, so that its RSS, heap
 * and event loop are its own. Admitted readers and writers — stock libp2p
 * nodes speaking the documented frames, one per attack class
 * (test/helpers/hostile-attacks.ts; one PeerId each, since a peer has one
 * sync stream and one attacker cannot both stop reading and read) — run every
 * class at once while honest devices, each in its own process, edit through
 * the gateway and time each edit until the gateway acknowledges it as stored.
 *
 * The goals of the issue are checked all together and reported in one table;
 * an attacker counts as closed when the victim said BYE (or reset the stream
 * of one that does not read, or refused its connections on accept). DENIED
 * answers, which leave a peer connected, are shown beside it.
 *
 * MESHDOC_SOAK_SECONDS (runs it: 10 for the short version; `npm run test:soak`: 60), MESHDOC_SOAK_SEED
 * to rerun a seed, MESHDOC_SOAK_ATTACKS=1,2,9a to run only some classes
 * (`none`: honest devices only), MESHDOC_SOAK_JSON=path to write the figures.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'
import { docKeyFor } from '../lib/protocol/doc-key.js'
import type { PolicyRule } from '../lib/policy/rules.js'
import { ChildNode } from './helpers/child-node-client.js'
import type { ChildEdit, EditLoopResult } from './helpers/child-node.js'
import { ATTACKS, REFUSED_MARKERS, type AttackOutcome } from './helpers/hostile-attacks.js'
import { attackFigures, formatSoak, summarize, writeSoakJson, type Goal, type SoakFigures } from './helpers/hostile-soak-report.js'
import { sleep } from './helpers/hostile-wire.js'
import { docFromUpdates, sameState } from './helpers/mesh-nodes.js'

/**
 * `npm test` runs the short version (10 s) and holds it to the goals that are
 * invariants: every attacker closed or refused with a reason, no honest peer
 * closed, no doc changed by a refused frame, the honest copies converged. The
 * speed and memory goals (RSS, edit-to-ACK, event-loop delay, time to close)
 * are measured and printed there, and asserted only when the soak is asked for
 * (`MESHDOC_SOAK_SECONDS`, `npm run test:soak`): on a shared 2-core machine
 * they are a benchmark's figures, and they do not all hold yet
 * (docs/SECURITY.md, "Not yet bounded per peer").
 */
const ALL_GOALS = process.env.MESHDOC_SOAK_SECONDS !== undefined
const SECONDS = Number(process.env.MESHDOC_SOAK_SECONDS ?? 10)
const SEED = Number(process.env.MESHDOC_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31))
const ONLY = process.env.MESHDOC_SOAK_ATTACKS?.split(',').map(s => s.trim())
const JSON_PATH = process.env.MESHDOC_SOAK_JSON

const MiB = 1024 * 1024
/** the goals of issue 13 */
const MAX_RSS_GROWTH = 64 * MiB
/** "back near its start": what the victim may still hold once the attackers are gone and it has settled */
const MAX_RSS_LEFT = 16 * MiB
const MAX_EDIT_TO_ACK_P99_MS = 100
const MAX_EVENT_LOOP_P99_MS = 50
const MAX_TIME_TO_CLOSE_MS = 2000
/**
 * each writer's storage quota on the victim: `meshdoc gateway` defaults to 1 GiB; smaller here so that
 * the disk filler (10 MiB/s) crosses it within the soak
 */
const QUOTA_BYTES = 32 * MiB
/** docs served by key are unloaded after this long without a session, so the victim can settle after the soak */
const IDLE_UNLOAD_MS = 2000
const SETTLE_MS = 6000
const WRITE_STALL_MS = 2000

const DOCS = { big: 'plant/historian', shared: 'team/notes', presence: 'team/standup' }
const EDIT_TIMEOUT_MS = 5000

describe('hostile-peer soak (issue 13; MESHDOC_SOAK_SECONDS for its speed and memory goals): the victim gateway in its own process', function () {
  this.timeout(SECONDS * 1000 + 150_000)
  const children: ChildNode[] = []
  const attackers: Libp2p[] = []
  let dir: string | undefined

  after(async () => {
    await Promise.allSettled(attackers.splice(0).map(async n => { await n.stop() }))
    // stopped, not killed, when they answer: a profile or a log (NODE_OPTIONS, DEBUG) is written on the way out
    await Promise.allSettled(children.splice(0).map(async c => {
      await c.request('stop', {}, 5000).catch(() => {})
      await Promise.race([c.exited, sleep(3000)])
      await c.kill()
    }))
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it(`admitted readers and writers run every attack class at once for ${SECONDS} s while honest devices edit through the gateway (seed ${SEED})`, async () => {
    const gen = prng.create(SEED)
    const attacks = ATTACKS.filter(a => ONLY === undefined || ONLY.includes(a.id))
    dir = await mkdtemp(join(tmpdir(), 'meshdoc-soak-'))

    // ---------------------------------------------------------------- set-up
    const victim = new ChildNode('victim')
    const [a, b, c] = ['A', 'B', 'C'].map(n => new ChildNode(`honest-${n}`))
    children.push(victim, a, b, c)
    const nodes = await Promise.all(attacks.map(async () => {
      const n = await createDefaultLibp2p()
      await n.start()
      attackers.push(n)
      return n
    }))
    const honestIds = await Promise.all([a, b, c].map(async h => (await h.request('start', {}, 30_000)).peerId))
    const idsOf = (role: string): string[] => attacks.flatMap((at, i) => at.role === role ? [nodes[i].peerId.toString()] : [])
    const rules: PolicyRule[] = [
      { peers: honestIds, docs: '**', access: 'write' },
      { peers: idsOf('writer'), docs: '**', access: 'write' },
      { peers: idsOf('reader'), docs: '**', access: 'read' }
    ].filter(r => r.peers.length > 0) as PolicyRule[]
    const started = await victim.request('start', {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      dataDir: join(dir, 'gateway'),
      policy: { default: 'none', rules },
      serveAllDocs: true,
      authorship: { relays: [] },
      quota: { maxBytes: QUOTA_BYTES },
      // the default is 20 s, longer than the short soak: a peer that reads nothing is closed after 2 s here
      limits: { writeStallMs: WRITE_STALL_MS },
      idleUnloadMs: IDLE_UNLOAD_MS
    }, 30_000)
    const gateway = started.peerId
    const addr = started.multiaddrs[0]
    for (const doc of Object.values(DOCS)) await victim.request('open', { doc })
    await fillLargeDoc(victim, DOCS.big)

    for (const h of [a, b, c]) await h.request('dial', { addr })
    for (const h of [a, b]) {
      await h.request('open', { doc: DOCS.shared })
      await h.request('whenSynced', { doc: DOCS.shared, peer: gateway, timeout: 10_000 })
    }
    // warm up (JIT, storage files, an answer of the large doc) before measuring
    await c.request('open', { doc: DOCS.big })
    await c.request('whenSynced', { doc: DOCS.big, peer: gateway, timeout: 10_000 })
    await c.request('close', { doc: DOCS.big })
    await Promise.all([a, b].map(async (h, i) => await h.request('editLoop', { doc: DOCS.shared, peer: gateway, durationMs: 500, intervalMs: 20, timeout: EDIT_TIMEOUT_MS, tag: `warm${i}` })))
    // the attackers' connections, one at a time (one host may have only a few handshakes under way at once)
    const victimAddr = multiaddr(addr)
    for (const [i, attack] of attacks.entries()) if (attack.role !== 'host') await nodes[i].dial(victimAddr)
    const bigBefore = await victim.request('state', { doc: DOCS.big })
    // the start: the victim's RSS with only the honest devices editing (its peak over 1.5 s), and after a full GC
    await victim.request('monitor', {})
    await Promise.all([a, b].map(async (h, i) => await h.request('editLoop', { doc: DOCS.shared, peer: gateway, durationMs: 1500, intervalMs: 50, timeout: EDIT_TIMEOUT_MS, tag: `base${i}` })))
    const start = await victim.request('health', {})
    const rssBase = Math.max(start.rss, start.rssPeak)
    for (const ch of [victim, a, b, c]) await ch.request('monitor', {})

    // ---------------------------------------------------------------- the soak
    const durationMs = SECONDS * 1000
    const t0 = performance.now()
    const wallT0 = Date.now()
    const keys = { big: docKeyFor(DOCS.big), shared: docKeyFor(DOCS.shared), presence: docKeyFor(DOCS.presence) }
    const runs = attacks.map(async (attack, i): Promise<AttackOutcome> => {
      const ctx = { victim: victimAddr, keys, gen: prng.create(prng.uint32(gen, 1, 0x7fffffff)), quotaBytes: QUOTA_BYTES, until: t0 + durationMs }
      try {
        return await attack.run(nodes[i], ctx)
      } catch (err) {
        return { framesSent: 0, bytesSent: 0, bytesReceived: 0, closedWith: undefined, endedAt: undefined, crossedAt: undefined, refusedWith: undefined, refusedAt: undefined, notes: { error: (err as Error).message } }
      }
    })
    const edits = [a, b].map(async (h, i) => await h.request('editLoop', { doc: DOCS.shared, peer: gateway, durationMs, intervalMs: 50, timeout: EDIT_TIMEOUT_MS, tag: `h${i}-` }, durationMs + 60_000))
    // a device joins a doc with presence a second in, and starts writing a second later
    const joiner = (async (): Promise<EditLoopResult> => {
      try {
        await sleep(1000)
        await c.request('open', { doc: DOCS.presence })
        await c.request('presence', { doc: DOCS.presence, state: { user: 'C' } })
        await sleep(1000)
        return await c.request('editLoop', { doc: DOCS.presence, peer: gateway, durationMs: Math.max(0, durationMs - 2000), intervalMs: 200, timeout: EDIT_TIMEOUT_MS, tag: 'c-' }, durationMs + 60_000)
      } catch (err) {
        return { samples: [], timeouts: 0, errors: [`C: ${(err as Error).message}`], at: [] }
      }
    })()
    const outcomes = await Promise.all(runs)
    const [editA, editB] = await Promise.all(edits)
    const editC = await joiner
    const soak = await victim.request('health', {}, 60_000)

    // ---------------------------------------------------------------- after: attackers gone, the victim settles
    await Promise.allSettled(attackers.splice(0).map(async n => { await n.stop() }))
    let end = await victim.request('health', {}, 60_000)
    for (const settleEnd = performance.now() + SETTLE_MS; end.rss - start.rss >= MAX_RSS_LEFT && performance.now() < settleEnd;) {
      await sleep(1000)
      end = await victim.request('health', {}, 60_000)
    }

    // ---------------------------------------------------------------- what the docs hold
    for (const h of [a, b]) await h.request('whenSynced', { doc: DOCS.shared, peer: gateway, timeout: 15_000 }).catch(() => {})
    const states = {
      victimShared: await victim.request('state', { doc: DOCS.shared }),
      victimPresence: await victim.request('state', { doc: DOCS.presence }),
      a: await a.request('state', { doc: DOCS.shared }),
      b: await b.request('state', { doc: DOCS.shared }),
      c: await c.request('state', { doc: DOCS.presence }).catch(() => '')
    }
    const bigAfter = await victim.request('state', { doc: DOCS.big })
    const authors: Author[] = [
      { name: 'A', gatewayState: states.victimShared, ...await a.request('ownClient', { doc: DOCS.shared }) },
      { name: 'B', gatewayState: states.victimShared, ...await b.request('ownClient', { doc: DOCS.shared }) },
      ...(editC.samples.length > 0 ? [{ name: 'C', gatewayState: states.victimPresence, ...await c.request('ownClient', { doc: DOCS.presence }) }] : [])
    ]
    const honestHealth = await Promise.all([a, b, c].map(async h => await h.request('health', {})))
    const disconnects = honestHealth.flatMap((hh, i) => hh.disconnects.filter(d => d.peer === gateway).map(d => `${'ABC'[i]} at ${((d.at - wallT0) / 1000).toFixed(2)} s`))

    // ---------------------------------------------------------------- figures and goals
    const perAttack = attacks.map((at, i) => attackFigures(at, outcomes[i], t0))
    // presence has no DENIED: the victim's counters are where refused entries show (3 is the only presence attacker)
    const presence = perAttack.find(at => at.id === '3')
    if (presence !== undefined && presence.closedWith === undefined && presence.refusedWith === undefined) {
      const counted = Object.entries({ ...soak.stats.rejected, ...soak.stats.ignored }).filter(([k]) => k.startsWith('awareness_'))
      if (counted.length > 0) presence.refusedWith = `entries ${counted.map(([k, n]) => `${k.slice('awareness_'.length)}×${n}`).join(', ')} (counted; the peer stays)`
    }
    const editToAck = summarize([...editA.samples, ...editB.samples], editA.timeouts + editB.timeouts)
    const slowestEdits = [editA, editB].flatMap(e => e.samples.map((ms, i) => ({ at: (e.at[i] - wallT0) / 1000, ms })))
      .sort((x, y) => y.ms - x.ms).slice(0, 5)
    const presenceDevice = editC.samples.length > 0 ? summarize(editC.samples, editC.timeouts) : undefined

    const goals: Goal[] = []
    const goal = (name: string, holds: boolean, figure: string): void => { goals.push({ goal: name, holds, figure }) }
    /** a speed or memory goal: asserted only with MESHDOC_SOAK_SECONDS, else measured and printed */
    const measured = (name: string, holds: boolean, figure: string): void => { goals.push({ goal: name, holds, figure, measuredOnly: !ALL_GOALS }) }
    measured(`victim RSS growth < ${MAX_RSS_GROWTH / MiB} MiB`, soak.rssPeak - rssBase < MAX_RSS_GROWTH, `${((soak.rssPeak - rssBase) / MiB).toFixed(1)} MiB more at peak than with only honest devices`)
    measured(`victim RSS back within ${MAX_RSS_LEFT / MiB} MiB of its start after the attackers close`, end.rss - start.rss < MAX_RSS_LEFT, `${((end.rss - start.rss) / MiB).toFixed(1)} MiB above its start (${end.servedDocs} docs still served)`)
    measured(`honest edit-to-ACK p99 < ${MAX_EDIT_TO_ACK_P99_MS} ms`, editToAck.p99 < MAX_EDIT_TO_ACK_P99_MS, `${editToAck.p99.toFixed(1)} ms (p50 ${editToAck.p50.toFixed(1)}, ${editToAck.n} edits, ${editToAck.timeouts} timed out)`)
    measured(`victim event-loop delay p99 < ${MAX_EVENT_LOOP_P99_MS} ms`, soak.eventLoop.p99 < MAX_EVENT_LOOP_P99_MS, `${soak.eventLoop.p99} ms (max ${soak.eventLoop.max} ms)`)
    for (const at of perAttack) {
      // Closed with a BYE reason; or, where the issue has the peer stay (a write
      // past its quota, a forged author: "refuses with a reason code", "never
      // costs the honest device its link"), refused with a DENIED reason
      const closed = at.closedWith !== undefined
      const answered = closed || at.refusedWith !== undefined
      const after = closed ? at.timeToClose : at.timeToRefusal
      const inTime = after === undefined || after <= MAX_TIME_TO_CLOSE_MS
      if (!answered && at.knowsBound && at.crossedAt === undefined) {
        goal(`attacker ${at.id} closed (or its writes refused) with a reason once it crosses a bound`, true, 'never crossed the bound it pushes against')
        continue
      }
      const how = !answered ? '' : closed ? at.closedWith! : at.refusedWith!.startsWith('entries') ? at.refusedWith! : `DENIED ${at.refusedWith!}`
      goal(`attacker ${at.id} closed (or its writes refused) with a reason`, answered, answered ? how : `still open at the end${at.crossedAt !== undefined ? ` (crossed at ${at.crossedAt.toFixed(2)} s)` : ''}`)
      if (at.crossedAt !== undefined && after !== undefined) {
        measured(`attacker ${at.id} answered within ${MAX_TIME_TO_CLOSE_MS} ms of crossing`, inTime, `${after.toFixed(0)} ms after crossing at ${at.crossedAt.toFixed(2)} s`)
      }
    }
    const editErrors = [...editA.errors, ...editB.errors, ...editC.errors]
    goal('no honest peer closed', disconnects.length === 0 && editErrors.length === 0, disconnects.length === 0 && editErrors.length === 0 ? 'none' : [...disconnects, ...editErrors].join('; '))
    const changed = refusedChanges(states, authors)
    if (!sameUpdate(bigBefore, bigAfter)) changed.push(`${DOCS.big} (read-only for every attacker) changed`)
    goal('no doc changed by a refused frame', changed.length === 0, changed.join('; ') || 'no refused content in any doc, every clientID holds only its own edits, the read-only doc is byte-identical')
    const converged = sameUpdate(states.victimShared, states.a) && sameUpdate(states.a, states.b)
    goal('the honest copies of the shared doc equal the gateway\'s', converged, converged ? 'identical' : 'they differ')

    const figures: SoakFigures = {
      seed: SEED,
      seconds: SECONDS,
      victim: {
        rssStart: start.rss,
        rssBase,
        rssPeak: soak.rssPeak,
        rssEnd: end.rss,
        heapStart: start.heapUsed,
        heapAfterSoak: soak.heapUsed,
        heapEnd: end.heapUsed,
        arrayBuffersStart: start.arrayBuffers,
        arrayBuffersEnd: end.arrayBuffers,
        heapTotalStart: start.heapTotal,
        heapTotalEnd: end.heapTotal,
        heapTotalPeak: soak.heapTotalPeak,
        arrayBuffersPeak: soak.arrayBuffersPeak,
        eventLoop: soak.eventLoop,
        rejected: soak.stats.rejected,
        ignored: soak.stats.ignored
      },
      editToAck,
      slowestEdits,
      presenceDevice,
      honestDisconnects: disconnects,
      attacks: perAttack,
      goals
    }
    console.log(formatSoak(figures))
    if (JSON_PATH !== undefined) await writeSoakJson(JSON_PATH, figures)

    const failed = goals.filter(g => !g.holds && g.measuredOnly !== true)
    assert.equal(failed.length, 0, `seed ${SEED} (MESHDOC_SOAK_SEED=${SEED}): ${failed.length} goal(s) failed:\n${failed.map(g => `  - ${g.goal}: ${g.figure}`).join('\n')}`)
  })
})

const sameUpdate = (x: string, y: string): boolean =>
  sameState(docFromUpdates(Buffer.from(x, 'base64')), docFromUpdates(Buffer.from(y, 'base64')))

/** An honest device's own clientID on a doc: what it wrote, what it holds, and the gateway's copy of the doc (base64). */
interface Author { name: string, clientID: number, ownClock: number, stateClock: number, gatewayState: string }

/**
 * What refused frames left behind: the markers attackers put in frames the
 * victim must refuse (read-only writes, forgeries), in any copy of a doc; and
 * structs under an honest device's clientID that it did not write, at the
 * gateway or at the device itself.
 */
function refusedChanges (states: Record<string, string>, authors: Author[]): string[] {
  const out: string[] = []
  for (const [where, state] of Object.entries(states)) {
    for (const m of REFUSED_MARKERS) if (Buffer.from(state, 'base64').includes(m)) out.push(`${m}… in ${where}`)
  }
  for (const au of authors) {
    const atGateway = Y.decodeStateVector(Y.encodeStateVectorFromUpdate(Buffer.from(au.gatewayState, 'base64'))).get(au.clientID) ?? 0
    if (atGateway !== au.ownClock || au.stateClock !== au.ownClock) {
      out.push(`${au.name}'s client ${au.clientID}: wrote up to clock ${au.ownClock}, the gateway holds ${atGateway}, ${au.name} holds ${au.stateClock}`)
    }
  }
  return out
}

/** A large doc, as the victim's own edits: 2 MiB of text and 20,000 map entries (many items make encoding it cost). */
async function fillLargeDoc (victim: ChildNode, doc: string): Promise<void> {
  const line = 'y'.repeat(1023) + '\n'
  for (let i = 0; i < 4; i++) {
    await victim.request('edit', { doc, edits: [{ type: 'text-insert', name: 't', index: 0, text: line.repeat(512) }] })
  }
  for (let round = 0; round < 4; round++) {
    const edits: ChildEdit[] = []
    for (let i = 0; i < 5000; i++) edits.push({ type: 'map-set', name: 'm', key: `k${round}-${i}`, value: `v${i}` })
    await victim.request('edit', { doc, edits })
  }
}
