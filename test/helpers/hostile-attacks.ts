/**
 * The attack classes of issue 13, one small function each. Every attack runs
 * on its own stock libp2p node (its own PeerId, admitted by the victim's
 * policy as a reader or a writer), speaks raw frames through `WirePeer`, and
 * keeps going until the victim closes it or its time is up. It reports what
 * it sent, when it first crossed a bound it knows of (`crossedAt`), and when
 * and how the victim ended it.
 */
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import type { Frame } from '../../lib/protocol/codec.js'
import { MessageType } from '../../lib/protocol/constants.js'
import { docKeyHex } from '../../lib/protocol/doc-key.js'
import { awarenessClients, awarenessUpdate, clientId, forgedUpdate, gappedUpdate, hugeStateVector, manyItemsUpdate, randomDocKey, textUpdate } from './hostile-payloads.js'
import { sleep, WirePeer } from './hostile-wire.js'

const MiB = 1024 * 1024
/** documented defaults (lib/security/limits.ts) the attacks push past */
const MAX_DOCS_PER_PEER = 10_000
const MAX_PENDING_BYTES = 4 * MiB
const MAX_UPDATE_BYTES = 8 * MiB
const MAX_AWARENESS_CLIENTS_PER_PEER = 1024
const INBOUND_CONNECTIONS_PER_HOST_PER_SECOND = 20
/** connections one host may hold open (docs/SECURITY.md, `inboundConnectionsPerHost`) */
const OPEN_CONNECTIONS_PER_HOST = 128

/** Markers in the text of frames the victim must refuse: never to be found in any doc. */
export const REFUSED_MARKERS = ['READONLY-', 'FORGED-']

export interface AttackContext {
  victim: Multiaddr
  /** doc keys: a large doc (readers only read it), the doc honest devices edit, the doc where one joins with presence */
  keys: { big: Uint8Array, shared: Uint8Array, presence: Uint8Array }
  gen: prng.PRNG
  /** the victim's write quota per peer, in bytes */
  quotaBytes: number
  /** performance.now() at which to stop */
  until: number
}

export interface AttackOutcome {
  framesSent: number
  bytesSent: number
  bytesReceived: number
  /** the victim's BYE reason; `reset` (stream closed, BYE unread: the attacker was not reading); `refused` (connections refused on accept) */
  closedWith: string | undefined
  /** performance.now() of the victim's BYE, the stream's close or the first refusal */
  endedAt: number | undefined
  /** performance.now() of the first frame (or dial) past a bound the attack knows of */
  crossedAt: number | undefined
  /** DENIED frames the victim answered with, by reason: `read_only×2, authorship×9` */
  refusedWith: string | undefined
  /** performance.now() of the first DENIED at or after `crossedAt` (when there is one) */
  refusedAt: number | undefined
  notes: Record<string, number | string>
}

export interface Attack {
  id: string
  /** what the victim's policy grants it (`host`: nothing, it only connects) */
  role: 'reader' | 'writer' | 'host'
  what: string
  /**
   * the attack knows the bound it pushes against (it sets `crossedAt`): until
   * it crosses it, the victim owes it no answer (say, connections under the
   * per-host rate and cap). Attacks without one must be answered in any case.
   */
  knowsBound: boolean
  run: (node: Libp2p, ctx: AttackContext) => Promise<AttackOutcome>
}

/** after the attack stops, how long a bound it crossed at the very end has to be answered (frames sent before the end are still in flight) */
const GRACE_MS = 2000

/** Wait (at most GRACE_MS) until the victim has answered a crossing: closed the peer, or refused since it. */
async function answered (p: WirePeer, crossedAt: number | undefined): Promise<void> {
  if (crossedAt === undefined) return
  const until = performance.now() + GRACE_MS
  while (!p.done && !p.denials.some(d => d.at >= crossedAt) && performance.now() < until) await sleep(20)
}

const outcome = (p: WirePeer, crossedAt: number | undefined, notes: AttackOutcome['notes'] = {}): AttackOutcome => ({
  framesSent: p.framesSent,
  bytesSent: p.bytesSent,
  bytesReceived: p.bytesReceived,
  closedWith: p.bye?.reason ?? (p.closedAt !== undefined ? 'reset' : undefined),
  endedAt: p.endedAt,
  crossedAt,
  refusedWith: p.denied.size === 0 ? undefined : [...p.denied].map(([r, n]) => `${r}×${n}`).join(', '),
  refusedAt: crossedAt === undefined ? undefined : p.denials.find(d => d.at >= crossedAt)?.at,
  notes
})

/** Run `step` every `ms` until the victim ends `p` or time is up. */
async function every (ms: number, p: WirePeer, ctx: AttackContext, step: (round: number) => void | Promise<void>): Promise<void> {
  for (let round = 0; !p.done && performance.now() < ctx.until; round++) {
    await step(round)
    await p.drained()
    await sleep(ms)
  }
}

const forDoc = (key: Uint8Array, ...types: number[]) => (f: Frame): boolean =>
  'docKey' in f && types.includes(f.type) && docKeyHex(f.docKey) === docKeyHex(key)

/** Hold `key` (SYNC1) and wait for the victim's answer. */
async function join (p: WirePeer, key: Uint8Array): Promise<void> {
  const answered = p.next(forDoc(key, MessageType.SYNC2, MessageType.DENIED), 5000)
  p.sync1(key)
  await answered
}

/** 1. A reader that reads nothing floods tiny SYNC1s for the large doc. */
const pausedSync1Flood: Attack = {
  id: '1',
  knowsBound: false,
  role: 'reader',
  what: 'paused reader, SYNC1 flood on a large doc',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim, { paused: true })
    // it holds the doc the honest devices edit too: what is sent it whether it reads or not (presence) piles up
    p.sync1(ctx.keys.shared)
    // 1,000 a second, a tenth of the frame rate limit: never rate-limited
    await every(10, p, ctx, () => { for (let i = 0; i < 10; i++) p.sync1(ctx.keys.big) })
    return outcome(p, undefined)
  }
}

/** 2. A reader that reads asks for the large doc 1,000 times a second, and tries to write the docs it may only read. */
const sync1Storm: Attack = {
  id: '2',
  knowsBound: false,
  role: 'reader',
  what: '1,000 SYNC1/s on a large doc (reading), writes to read-only docs',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    let answers = 0
    p.listen(f => { if (f.type === MessageType.SYNC2) answers++ })
    await join(p, ctx.keys.shared)
    let seq = 0
    await every(10, p, ctx, (round) => {
      for (let i = 0; i < 10; i++) p.sync1(ctx.keys.big)
      if (round % 100 === 0) {
        seq++
        for (const docKey of [ctx.keys.shared, ctx.keys.big]) {
          p.send({ type: MessageType.UPDATE, docKey, seq, update: textUpdate(clientId(ctx.gen), `READONLY-2-${seq} `) })
        }
      }
    })
    return outcome(p, undefined, { answers, writesTried: 2 * seq })
  }
}

/** 3. Presence abuse: null states for fresh clients, a crowd past the per-peer cap, others' clients at clock 2^53. */
const awarenessAbuse: Attack = {
  id: '3',
  knowsBound: true,
  role: 'reader',
  what: 'awareness: null states, 1,100 clients, forged clients at clock 2^53',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    const others = new Set<number>()
    const ours = new Set<number>()
    // the victim's and other users' clients (its own crowd comes back too, as y-protocols times its states out)
    p.listen(f => { if (f.type === MessageType.AWARENESS) for (const c of awarenessClients(f.update)) if (!ours.has(c.client)) others.add(c.client) })
    await join(p, ctx.keys.big)
    await join(p, ctx.keys.shared)
    const crowd: Array<{ client: number, clock: number }> = []
    const state = { user: 'crowd', cursor: 'c'.repeat(400) }
    let crossedAt: number | undefined
    await every(100, p, ctx, (round) => {
      const removals: Array<[number, number, unknown]> = []
      for (let i = 0; i < 200; i++) {
        const client = clientId(ctx.gen)
        ours.add(client)
        removals.push([client, 1, null])
      }
      p.send({ type: MessageType.AWARENESS, docKey: ctx.keys.big, update: awarenessUpdate(removals) })
      // 64 newcomers a round until 1,100, and the newest 320 of the crowd moving
      for (let i = 0; i < 64 && crowd.length < 1100; i++) {
        crowd.push({ client: clientId(ctx.gen), clock: 0 })
        ours.add(crowd[crowd.length - 1].client)
      }
      const moving = crowd.slice(-320)
      for (const m of moving) m.clock++
      p.send({ type: MessageType.AWARENESS, docKey: ctx.keys.shared, update: awarenessUpdate(moving.map(m => [m.client, m.clock, state])) })
      if (crowd.length > MAX_AWARENESS_CLIENTS_PER_PEER) crossedAt ??= performance.now()
      if (round % 5 === 0 && others.size > 0) {
        const forged = [...others].map((c): [number, number, unknown] => [c, 2 ** 53, { user: 'forged' }])
        for (const docKey of [ctx.keys.big, ctx.keys.shared]) p.send({ type: MessageType.AWARENESS, docKey, update: awarenessUpdate(forged) })
        crossedAt ??= performance.now()
      }
    })
    await answered(p, crossedAt)
    return outcome(p, crossedAt, { crowd: crowd.length, othersForged: others.size })
  }
}

/** 4. ACKs with seq 0 and a state vector naming 300,000 clients, on several docs. */
const hugeAcks: Attack = {
  id: '4',
  knowsBound: true,
  role: 'reader',
  what: 'ACK seq 0 with a 300,000-client state vector on 5 docs',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    const docs = [ctx.keys.big, ctx.keys.shared, randomDocKey(ctx.gen), randomDocKey(ctx.gen), randomDocKey(ctx.gen)]
    for (const key of docs) await join(p, key)
    const stateVector = hugeStateVector(ctx.gen, 300_000)
    let crossedAt: number | undefined
    // about 20 MiB/s: under the 32 MiB/s byte rate limit
    await every(100, p, ctx, (round) => {
      p.send({ type: MessageType.ACK, docKey: docs[round % docs.length], seq: 0, stateVector })
      crossedAt ??= performance.now()
    })
    await answered(p, crossedAt)
    return outcome(p, crossedAt, { stateVectorBytes: stateVector.length })
  }
}

/** 5. A reader names random doc keys to a gateway that serves by key, 1,500 a second. */
const randomKeys: Attack = {
  id: '5',
  knowsBound: true,
  role: 'reader',
  what: 'SYNC1 for 1,500 random doc keys/s (serving by key)',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    let denied = 0
    p.listen(f => { if (f.type === MessageType.DENIED) denied++ })
    let named = 0
    let crossedAt: number | undefined
    await every(10, p, ctx, () => {
      for (let i = 0; i < 15; i++) {
        p.sync1(randomDocKey(ctx.gen))
        if (++named > MAX_DOCS_PER_PEER) crossedAt ??= performance.now()
      }
    })
    await answered(p, crossedAt)
    return outcome(p, crossedAt, { keysNamed: named, denied })
  }
}

/** 6. A writer sends gapped structs (their dependencies never come) past the pending cap. */
const gappedStructs: Attack = {
  id: '6',
  knowsBound: true,
  role: 'writer',
  what: 'gapped structs past the 4 MiB pending cap',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    const key = randomDocKey(ctx.gen)
    let resyncs = 0
    p.listen(f => { if (f.type === MessageType.SYNC1) resyncs++ })
    await join(p, key)
    let sent = 0
    let crossedAt: number | undefined
    await every(50, p, ctx, (round) => {
      const update = gappedUpdate(clientId(ctx.gen), 256 * 1024)
      p.send({ type: MessageType.UPDATE, docKey: key, seq: round + 1, update })
      sent += update.length
      if (sent > MAX_PENDING_BYTES) crossedAt ??= performance.now()
    })
    await answered(p, crossedAt)
    return outcome(p, crossedAt, { gappedBytes: sent, victimSync1s: resyncs })
  }
}

/** 7. Connections from one host as fast as they go (kept open), past the per-host rate. */
const connectionFlood: Attack = {
  id: '7',
  knowsBound: true,
  role: 'host',
  what: 'connections from one host as fast as they go, kept open (past the per-host rate or open cap)',
  run: async (node, ctx) => {
    const attempts: number[] = []
    let accepted = 0
    let refused = 0
    let crossedAt: number | undefined
    let refusedAt: number | undefined
    // past the end only to give a crossing near it its answer, as answered() does for the other
    // attacks: the victim counts in fixed one-second windows, so a burst this side sees as over
    // the rate may straddle two of them, and the refusal comes with the next window
    const going = (now: number): boolean => now < ctx.until ||
      (crossedAt !== undefined && refusedAt === undefined && now < Math.max(ctx.until, crossedAt) + GRACE_MS)
    while (going(performance.now())) {
      const t = performance.now()
      attempts.push(t)
      const window = attempts.filter(a => a > t - 1000).length
      if (window > INBOUND_CONNECTIONS_PER_HOST_PER_SECOND || accepted >= OPEN_CONNECTIONS_PER_HOST) crossedAt ??= t
      try {
        await node.dial(ctx.victim, { force: true, signal: AbortSignal.timeout(2000) })
        accepted++
      } catch {
        refused++
        if (crossedAt !== undefined) refusedAt ??= performance.now()
      }
      if (attempts.length > 100) attempts.splice(0, attempts.length - 100)
    }
    return {
      framesSent: 0,
      bytesSent: 0,
      bytesReceived: 0,
      closedWith: refusedAt !== undefined ? 'refused' : undefined,
      endedAt: refusedAt,
      crossedAt,
      refusedWith: undefined,
      refusedAt: undefined,
      notes: { accepted, refused, open: node.getConnections().length }
    }
  }
}

/** 8a. A writer sends updates of about 700,000 items each, just under the 8 MiB update cap, each to a new doc. */
const manyItems: Attack = {
  id: '8a',
  knowsBound: true,
  role: 'writer',
  what: 'updates of ~700,000 items just under the 8 MiB cap',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    const { update, items } = manyItemsUpdate(clientId(ctx.gen), MAX_UPDATE_BYTES - 4096)
    let crossedAt: number | undefined
    await every(2000, p, ctx, async () => {
      const key = randomDocKey(ctx.gen)
      await join(p, key)
      p.send({ type: MessageType.UPDATE, docKey: key, seq: 1, update })
      // crossed once the frame has left: the victim reads it as fast as it can
      await p.drained()
      crossedAt ??= performance.now()
    })
    await answered(p, crossedAt)
    return outcome(p, crossedAt, { itemsPerUpdate: items, updateBytes: update.length })
  }
}

/** 8b. A writer fills the disk: 1 MiB into a new doc every 100 ms, past its write quota. */
const diskFill: Attack = {
  id: '8b',
  knowsBound: true,
  role: 'writer',
  what: '1 MiB into a new doc every 100 ms (10 MiB/s to disk), past the write quota',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    let docs = 0
    let sent = 0
    let crossedAt: number | undefined
    await every(100, p, ctx, () => {
      const key = randomDocKey(ctx.gen)
      const update = textUpdate(clientId(ctx.gen), 'fill ', MiB)
      p.sync1(key)
      p.send({ type: MessageType.UPDATE, docKey: key, seq: 1, update })
      docs++
      sent += update.length
      if (sent > ctx.quotaBytes) crossedAt ??= performance.now()
    })
    await answered(p, crossedAt)
    return outcome(p, crossedAt, { docs })
  }
}

/** 9a. A writer forges edits under an honest device's clientID that it saw in the updates relayed to it. */
const forgeRelayed: Attack = {
  id: '9a',
  knowsBound: true,
  role: 'writer',
  what: 'writes under an honest clientID seen via relay',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    const replica = new Y.Doc()
    p.listen(f => {
      if ((f.type === MessageType.SYNC2 || f.type === MessageType.SYNC2_PART || f.type === MessageType.UPDATE) && docKeyHex(f.docKey) === docKeyHex(ctx.keys.shared)) {
        Y.applyUpdate(replica, f.update)
      }
    })
    await join(p, ctx.keys.shared)
    let crossedAt: number | undefined
    let victimClient: number | undefined
    let n = 0
    await every(1000, p, ctx, () => {
      const clocks = Y.decodeStateVector(Y.encodeStateVector(replica))
      const client = [...clocks].sort((a, b) => b[1] - a[1])[0]?.[0]
      if (client === undefined) return
      victimClient = client
      p.send({ type: MessageType.UPDATE, docKey: ctx.keys.shared, seq: ++n, update: forgedUpdate(Y.encodeStateAsUpdate(replica), client, `FORGED-9a-${n} `) })
      crossedAt ??= performance.now()
    })
    replica.destroy()
    await answered(p, crossedAt)
    return outcome(p, crossedAt, { forgedClient: victimClient ?? 'none seen', forgeries: n })
  }
}

/** 9b. A writer claims the clientID a device announces in its presence before the device writes anything. */
const forgePresence: Attack = {
  id: '9b',
  knowsBound: true,
  role: 'writer',
  what: 'writes under a clientID learned from presence, before its owner writes',
  run: async (node, ctx) => {
    const p = await WirePeer.open(node, ctx.victim)
    const known = new Set<number>()
    const fresh: number[] = []
    let joined = false
    p.listen(f => {
      if (f.type !== MessageType.AWARENESS || docKeyHex(f.docKey) !== docKeyHex(ctx.keys.presence)) return
      for (const { client, present } of awarenessClients(f.update)) {
        if (known.has(client)) continue
        known.add(client)
        // the states greeting us are the victim's own; a client that shows up later is a device joining
        if (joined && present) fresh.push(client)
      }
    })
    await join(p, ctx.keys.presence)
    await sleep(50)
    joined = true
    let crossedAt: number | undefined
    let n = 0
    await every(5, p, ctx, () => {
      for (const client of fresh.splice(0)) {
        p.send({ type: MessageType.UPDATE, docKey: ctx.keys.presence, seq: ++n, update: textUpdate(client, `FORGED-9b-${n} `) })
        crossedAt ??= performance.now()
      }
    })
    await answered(p, crossedAt)
    return outcome(p, crossedAt, { claimed: n })
  }
}

export const ATTACKS: readonly Attack[] = [pausedSync1Flood, sync1Storm, awarenessAbuse, hugeAcks, randomKeys, gappedStructs, connectionFlood, manyItems, diskFill, forgeRelayed, forgePresence]
