/**
 * What one admitted peer, even a reader, can make a node queue, compute or
 * keep (docs/SECURITY.md, "Bounded per peer"). The engine is driven through
 * its transport seam with frames encoded from docs/PROTOCOL.md; each attack
 * here worked before these bounds (issue 13's table) and is refused now.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { decodeFrame, encodeFrame, type Frame } from '../lib/protocol/codec.js'
import { ByeReason, DeniedReason, MessageType, Sync1Flags } from '../lib/protocol/constants.js'
import type { EngineDoc } from '../lib/sync/engine-doc.js'
import { SyncEngine } from '../lib/sync/engine.js'
import { docResolver } from '../lib/sync/doc-resolver.js'
import type { PeerConnection, PeerLink } from '../lib/sync/types.js'
import { openEngineDoc } from './helpers/engine-doc.js'
import { awarenessUpdate } from './helpers/hostile-payloads.js'
import { hello } from './helpers/hostile-peer.js'

const DOC_ID = 'plant/boiler-3'

/** A link whose writability the test controls; records what the engine sends. */
class ControlledLink implements PeerLink {
  readonly frames: Frame[] = []
  bytes = 0
  writable = true
  closed = false
  send (body: Uint8Array): void { this.bytes += body.length; this.frames.push(decodeFrame(body)) }
  close (): void { this.closed = true }
  count (type: number): number { return this.frames.filter(f => f.type === type).length }
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

interface Victim { engine: SyncEngine, sync: EngineDoc }
const made: Victim[] = []

/** A node holding a doc of about `kb` KiB. */
function victim (kb: number, opts: ConstructorParameters<typeof SyncEngine>[0] = {}): Victim {
  const engine = new SyncEngine({ antiEntropyIntervalMs: 0, ...opts })
  const sync = openEngineDoc(engine, DOC_ID)
  const text = sync.doc.getText('t')
  const line = 'x'.repeat(1023) + '\n'
  sync.doc.transact(() => { for (let i = 0; i < kb; i++) text.insert(text.length, line) })
  made.push({ engine, sync })
  return { engine, sync }
}

function connect (v: Victim, id: string): { conn: PeerConnection, link: ControlledLink, send: (f: Frame) => void } {
  const link = new ControlledLink()
  const conn = v.engine.addPeer(id, link)
  conn.receive(encodeFrame(hello))
  return { conn, link, send: (f) => { conn.receive(encodeFrame(f)) } }
}

const sync1 = (key: Uint8Array, sv: Uint8Array, flags = 0): Frame =>
  ({ type: MessageType.SYNC1, docKey: key, flags, stateVector: sv, dsDigest: new Uint8Array(8) })
const emptySv = Y.encodeStateVector(new Y.Doc())

describe('bounded per peer', () => {
  afterEach(() => {
    for (const v of made.splice(0)) { v.engine.stop(); v.sync.awareness.destroy() }
  })

  describe('SYNC1 floods', () => {
    it('500 SYNC1s for a 2 MiB doc in one read get one answer and one encode', async () => {
      const v = victim(2048)
      const reader = connect(v, 'reader')
      await tick()
      const before = reader.link.count(MessageType.SYNC2)
      for (let i = 0; i < 500; i++) reader.send(sync1(v.sync.key, emptySv))
      await tick(); await tick()
      assert.equal(reader.link.count(MessageType.SYNC2) - before, 1, 'one answer for the same question')
      assert.ok(reader.link.bytes < 3 * 1024 * 1024, `queued for the reader: ${reader.link.bytes} B`)
      assert.equal(v.engine.counters.ignored.sync1_coalesced, 498, 'the waiting SYNC1s were coalesced into one')
      assert.equal(v.engine.counters.ignored.sync1_answered, 1, 'and that one was already answered')
    })

    it('a reader that stops reading holds at most one answer per doc, whatever it sends', async () => {
      const v = victim(2048)
      const reader = connect(v, 'reader')
      await tick()
      reader.send(sync1(v.sync.key, emptySv))
      assert.equal(reader.link.count(MessageType.SYNC2), 1)
      reader.link.writable = false // its window is full: it does not read
      for (let i = 0; i < 300; i++) {
        // a different question each time (how much of our client it holds), in separate reads
        reader.send(sync1(v.sync.key, Y.encodeStateVector(new Map([[v.sync.doc.clientID, i + 1]]))))
        await tick()
      }
      assert.equal(reader.link.count(MessageType.SYNC2), 1, 'nothing more is queued while the peer does not read')
      assert.ok(reader.link.bytes < 3 * 1024 * 1024)
      reader.link.writable = true
      reader.conn.drained()
      assert.equal(reader.link.count(MessageType.SYNC2), 2, 'once it reads again, the latest question is answered, once')
      await tick()
      assert.equal(reader.link.count(MessageType.SYNC2), 2)
    })

    it('the same question against an unchanged doc is answered from the cache; a change makes a new answer', async () => {
      const v = victim(256)
      const reader = connect(v, 'reader')
      await tick()
      for (let i = 0; i < 20; i++) { reader.send(sync1(v.sync.key, emptySv)); await tick() }
      assert.equal(reader.link.count(MessageType.SYNC2), 20, 'asked in separate ticks, each is answered')
      assert.equal(v.engine.counters.answersCached, 19, 'but encoded once')
      v.sync.doc.getText('t').insert(0, 'new')
      await tick()
      reader.send(sync1(v.sync.key, emptySv))
      const last = reader.link.frames.filter(f => f.type === MessageType.SYNC2).at(-1)
      assert.ok(last !== undefined && last.type === MessageType.SYNC2)
      const replica = new Y.Doc()
      Y.applyUpdate(replica, last.update)
      assert.equal(replica.getText('t').toString(), v.sync.doc.getText('t').toString(), 'the answer after a change carries it')
      assert.equal(v.engine.counters.answersCached, 19)
    })

    it('a whole 3 MiB document (a joiner\'s question) is answered from the cache too: a reader asking for it again and again costs one encode', async () => {
      const v = victim(3 * 1024)
      const reader = connect(v, 'reader')
      await tick()
      for (let i = 0; i < 5; i++) { reader.send(sync1(v.sync.key, emptySv)); await tick() }
      assert.equal(reader.link.count(MessageType.SYNC2), 5)
      assert.equal(v.engine.counters.answersCached, 4, 'encoded once')
    })

    it('a reader that reads but asks a new question every tick is held to its answer budget', async () => {
      const v = victim(1024, { limits: { answerBytesPerSecond: 2 * 1024 * 1024, answerByteBurst: 4 * 1024 * 1024 } })
      const reader = connect(v, 'reader')
      await tick()
      const started = performance.now()
      let asked = 0
      while (performance.now() - started < 500) {
        // a new question each time (how much of our client it holds): the cache cannot help
        reader.send(sync1(v.sync.key, Y.encodeStateVector(new Map([[v.sync.doc.clientID, ++asked]]))))
        await new Promise(resolve => setTimeout(resolve, 5)) // well under the frame rate limit
      }
      const answered = reader.link.count(MessageType.SYNC2)
      // 4 MiB of burst and 2 MiB/s for half a second: about 5 answers of 1 MiB, not one per question
      assert.ok(answered <= 7, `${answered} answers for ${asked} questions`)
      assert.ok(asked > 20, `asked ${asked}`)
      assert.ok((v.engine.counters.ignored.answer_throttled ?? 0) > 0)
      assert.equal(reader.link.closed, false, `held back, not dropped: ${JSON.stringify(reader.link.frames.filter(f => f.type === MessageType.BYE))} ${JSON.stringify(v.engine.counters.rejected)}`)
      // the budget refills at 2 MiB/s, and then the latest question is answered: the last SYNC2 starts
      // where the last question said the reader's copy ends (waited for, not slept on: a busy machine
      // runs the refill timer late, and may even answer it before the loop above has counted)
      const answersLatest = (): boolean => {
        const last = reader.link.frames.filter(f => f.type === MessageType.SYNC2).at(-1)
        if (last?.type !== MessageType.SYNC2) return false
        const first = Y.decodeUpdate(last.update).structs[0]
        return first !== undefined && first.id.client === v.sync.doc.clientID && first.id.clock === asked
      }
      const deadline = performance.now() + 10_000
      while (!answersLatest() && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
      assert.ok(answersLatest(), `once the budget refills, the latest question (clock ${asked}) is answered`)
    })

    it('reconnecting does not refill a peer\'s budgets: its spent answer budget follows its PeerId', async () => {
      const v = victim(1024, { limits: { answerBytesPerSecond: 64 * 1024, answerByteBurst: 1.5 * 1024 * 1024 } })
      const first = connect(v, 'reader')
      first.send(sync1(v.sync.key, emptySv)) // a whole 1 MiB answer
      first.send(sync1(v.sync.key, Y.encodeStateVector(new Map([[v.sync.doc.clientID, 1]])))) // and most of it again
      await tick()
      assert.equal(first.link.count(MessageType.SYNC2), 2)
      first.conn.closed()
      // the same PeerId on a new connection: the budget it spent is still spent
      const again = connect(v, 'reader')
      again.send(sync1(v.sync.key, Y.encodeStateVector(new Map([[v.sync.doc.clientID, 2]]))))
      await tick()
      assert.equal(again.link.count(MessageType.SYNC2), 0, 'held back: the budget is in debt')
      assert.ok((v.engine.counters.ignored.answer_throttled ?? 0) > 0)
      // another peer has a budget of its own
      const other = connect(v, 'other')
      other.send(sync1(v.sync.key, emptySv))
      await tick()
      assert.equal(other.link.count(MessageType.SYNC2), 1)
    })

    it('a question that waited is not answered once the peer has lost access', async () => {
      let access: 'write' | 'none' = 'write'
      const v = victim(64, { policy: () => access })
      const reader = connect(v, 'reader')
      await tick()
      reader.link.writable = false
      reader.send(sync1(v.sync.key, emptySv))
      assert.equal(reader.link.count(MessageType.SYNC2), 0, 'it waits while the link is full')
      access = 'none' // a policy that changes on its own, without setPolicy
      reader.link.writable = true
      reader.conn.drained()
      assert.equal(reader.link.count(MessageType.SYNC2), 0, 'nothing of the doc leaves')
      assert.ok(reader.link.frames.some(f => f.type === MessageType.DENIED))
    })

    it('an honest peer that asks again after reading gets a fresh answer (WANT_REPLY honoured)', async () => {
      const v = victim(16)
      const peer = connect(v, 'honest')
      await tick()
      peer.send(sync1(v.sync.key, emptySv, Sync1Flags.WANT_REPLY))
      await tick()
      const sync1sBefore = peer.link.count(MessageType.SYNC1)
      peer.send(sync1(v.sync.key, emptySv, Sync1Flags.WANT_REPLY))
      assert.equal(peer.link.count(MessageType.SYNC2), 2)
      assert.equal(peer.link.count(MessageType.SYNC1), sync1sBefore + 1, 'WANT_REPLY gets our SYNC1')
    })
  })

  describe('ACKs', () => {
    it('an ACK with seq 0 and a state vector of 50,000 clients keeps no more than our own state vector', async () => {
      const v = victim(4)
      const reader = connect(v, 'reader')
      reader.send(sync1(v.sync.key, emptySv))
      await tick()
      const clocks = new Map<number, number>()
      for (let c = 1; c <= 50_000; c++) clocks.set(c * 7 + 1, c)
      clocks.set(v.sync.doc.clientID, 1)
      const huge = Y.encodeStateVector(clocks)
      assert.ok(huge.length > 200_000)
      for (let i = 0; i < 16; i++) reader.send({ type: MessageType.ACK, docKey: v.sync.key, seq: 0, stateVector: huge })
      const kept = v.sync.sessions.get('reader')?.remoteStateVector
      assert.ok(kept !== undefined)
      assert.ok(kept.length <= Y.encodeStateVector(v.sync.doc).length, `kept ${kept.length} B`)
      assert.deepEqual(Y.decodeStateVector(kept), new Map([[v.sync.doc.clientID, 1]]), 'what it stored of ours, no more')
      assert.equal(reader.link.closed, false, 'a big but well-formed state vector is not a violation')
      // the state vector decoder ignores trailing bytes: a megabyte behind a valid vector is not kept either
      const junk = new Uint8Array(1 + 1024 * 1024)
      reader.send({ type: MessageType.ACK, docKey: v.sync.key, seq: 0, stateVector: junk })
      const after = v.sync.sessions.get('reader')?.remoteStateVector
      assert.ok(after !== undefined && after.length <= Y.encodeStateVector(v.sync.doc).length, `kept ${after?.length} B`)
    })

    it('a state vector naming more than 100,000 clients, in an ACK or a SYNC1, closes the peer with limit_exceeded before it is decoded', async () => {
      const v = victim(4)
      const clocks = new Map<number, number>()
      for (let c = 1; c <= 300_000; c++) clocks.set(c * 7 + 1, c)
      const huge = Y.encodeStateVector(clocks) // 2.9 MB: some 100 ms to decode, ten times a second under the byte rate
      const acker = connect(v, 'acker')
      acker.send(sync1(v.sync.key, emptySv))
      await tick()
      acker.send({ type: MessageType.ACK, docKey: v.sync.key, seq: 0, stateVector: huge })
      const asker = connect(v, 'asker')
      asker.send(sync1(v.sync.key, huge))
      // only the count is read: a vector that announces 300,000 clients and holds none is refused the same way
      const announcer = connect(v, 'announcer')
      const countOnly = huge.subarray(0, 3)
      announcer.send(sync1(v.sync.key, countOnly))
      for (const p of [acker, asker, announcer]) {
        assert.equal(p.link.closed, true)
        const bye = p.link.frames.at(-1)
        assert.ok(bye?.type === MessageType.BYE && bye.reason === ByeReason.LIMIT_EXCEEDED)
      }
      assert.equal(v.engine.counters.rejected.limit_exceeded, 3)
    })

    it('an ACK whose state vector does not decode closes the peer with protocol_error', async () => {
      const v = victim(4)
      const reader = connect(v, 'reader')
      reader.send(sync1(v.sync.key, emptySv))
      await tick()
      reader.send({ type: MessageType.ACK, docKey: v.sync.key, seq: 0, stateVector: Uint8Array.of(0xff, 0xff, 0xff) })
      assert.equal(reader.link.closed, true)
      assert.equal(v.engine.counters.rejected.protocol_error, 1)
      const bye = reader.link.frames.at(-1)
      assert.ok(bye?.type === MessageType.BYE && bye.reason === ByeReason.PROTOCOL_ERROR)
    })
  })

  describe('docs opened for a peer', () => {
    it('the per-peer docs cap holds before a doc is opened: 50 keys, cap 5, 5 opens', async () => {
      let opens = 0
      const engine = new SyncEngine({
        antiEntropyIntervalMs: 0,
        limits: { maxDocsPerPeer: 5 },
        docResolver: docResolver(async (_peer, keyHex) => {
          opens++
          await tick()
          const doc = new Y.Doc()
          const { EngineDoc } = await import('../lib/sync/engine-doc.js')
          const { Awareness } = await import('y-protocols/awareness')
          const sync = new EngineDoc(`key:${keyHex}`, Uint8Array.from(Buffer.from(keyHex, 'hex')), keyHex, doc, new Awareness(doc), undefined)
          sync.servedOnly = true
          engine.addDoc(sync)
          made.push({ engine, sync })
          return sync
        })
      })
      const link = new ControlledLink()
      const conn = engine.addPeer('scanner', link)
      conn.receive(encodeFrame(hello))
      for (let i = 0; i < 50; i++) {
        const key = crypto.getRandomValues(new Uint8Array(16))
        conn.receive(encodeFrame(sync1(key, emptySv)))
      }
      for (let i = 0; i < 5; i++) await tick()
      assert.equal(opens, 5, 'no doc is loaded past the cap')
      assert.equal(engine.counters.rejected.too_many_docs, 45)
      const denied = link.frames.filter(f => f.type === MessageType.DENIED)
      assert.equal(denied.length, 45)
      assert.ok(denied.every(f => f.type === MessageType.DENIED && f.reason === DeniedReason.UNAVAILABLE))
      assert.equal(link.count(MessageType.SYNC2), 5, 'the docs within the cap are served')
      engine.stop()
    })
  })

  describe('presence (awareness)', () => {
    /** an awareness update in y-protocols' format: [clientID, clock, state] */
    const presence = awarenessUpdate
    const joined = async (v: Victim, id: string): Promise<ReturnType<typeof connect>> => {
      const p = connect(v, id)
      p.send(sync1(v.sync.key, emptySv))
      await tick()
      return p
    }

    it('removals of clients nobody introduced keep nothing: 100,000 null states, no growth', async () => {
      const v = victim(1)
      const reader = await joined(v, 'reader')
      for (let round = 0; round < 100; round++) {
        const entries: Array<[number, number, unknown]> = []
        for (let i = 0; i < 1000; i++) entries.push([10_000 + round * 1000 + i, 1, null])
        reader.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence(entries) })
      }
      await tick()
      assert.ok(v.sync.awareness.meta.size <= 1, `y-protocols keeps ${v.sync.awareness.meta.size} clocks`)
      assert.equal(v.engine.counters.ignored.awareness_unknown_removal, 100_000)
      assert.equal(reader.link.closed, false)
    })

    it("no peer speaks for this node's own client, or for a client another peer introduced (clock 2^53)", async () => {
      const v = victim(1)
      v.sync.awareness.setLocalState({ user: 'victim' })
      const honest = await joined(v, 'honest')
      honest.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence([[777, 1, { user: 'alice' }]]) })
      assert.deepEqual(v.sync.awareness.getStates().get(777), { user: 'alice' })
      const attacker = await joined(v, 'attacker')
      attacker.send({
        type: MessageType.AWARENESS,
        docKey: v.sync.key,
        update: presence([[v.sync.awareness.clientID, 2 ** 53, { user: 'forged' }], [777, 2 ** 53, { user: 'forged' }]])
      })
      assert.deepEqual(v.sync.awareness.getLocalState(), { user: 'victim' }, 'our own presence is ours')
      assert.deepEqual(v.sync.awareness.getStates().get(777), { user: 'alice' }, "alice's presence is alice's peer's")
      honest.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence([[777, 2, { user: 'alice', cursor: 3 }]]) })
      assert.deepEqual(v.sync.awareness.getStates().get(777), { user: 'alice', cursor: 3 }, 'and it still moves')
      assert.equal(v.engine.counters.ignored.awareness_own_client, 1)
      assert.equal(v.engine.counters.ignored.awareness_not_owner, 1)
      // a clock past 2^40 is refused for a client of its own too
      attacker.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence([[888, 2 ** 53, { user: 'm' }]]) })
      assert.equal(v.sync.awareness.getStates().has(888), false)
      assert.equal(v.engine.counters.rejected.awareness_clock, 1)
      assert.equal(attacker.link.closed, false, 'left out, not a reason to drop the link')
    })

    it("a client that timed out can be spoken for by another peer (the first one's claim ends with it)", async () => {
      const v = victim(1)
      const gateway = await joined(v, 'gateway')
      const direct = await joined(v, 'direct')
      gateway.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence([[4242, 1, { user: 'u' }]]) })
      direct.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence([[4242, 1, { user: 'u' }]]) })
      assert.equal(v.engine.counters.ignored.awareness_not_owner, 1, 'the second path is left out while the first holds it')
      // the state times out here (y-protocols' own check), and the gateway's removal never comes
      const { removeAwarenessStates } = await import('y-protocols/awareness')
      removeAwarenessStates(v.sync.awareness, [4242], 'timeout')
      direct.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence([[4242, 3, { user: 'u', back: true }]]) })
      assert.deepEqual(v.sync.awareness.getStates().get(4242), { user: 'u', back: true })
    })

    it('a gateway relaying 1,000 people present is not taken for a flood', async () => {
      const v = victim(1)
      const gateway = await joined(v, 'gateway')
      const crowd: Array<[number, number, unknown]> = []
      for (let i = 0; i < 1000; i++) crowd.push([50_000 + i, 1, { user: `person ${i}` }])
      gateway.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence(crowd) })
      assert.equal(gateway.link.closed, false)
      assert.equal(v.sync.awareness.getStates().size, 1001)
      // and edits still flow from it
      const src = new Y.Doc()
      src.getText('t').insert(0, 'still syncing')
      gateway.send({ type: MessageType.UPDATE, docKey: v.sync.key, seq: 1, update: Y.encodeStateAsUpdate(src) })
      assert.ok(v.sync.doc.getText('t').toString().includes('still syncing'))
    })

    it('one peer speaks for at most 1,024 clients per doc; the rest is left out and counted, the peer stays', async () => {
      const v = victim(1)
      const flood = await joined(v, 'flood')
      for (let round = 0; round < 5; round++) {
        const entries: Array<[number, number, unknown]> = []
        for (let i = 0; i < 1000; i++) entries.push([100_000 + round * 1000 + i, 1, { n: i }])
        flood.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence(entries) })
      }
      assert.equal(v.sync.awareness.getStates().size, 1 + 1024)
      assert.equal(v.engine.counters.rejected.awareness_over_cap, 5000 - 1024)
      assert.equal(flood.link.closed, false)
      // an update naming more clients than a doc may hold is refused whole
      const huge: Array<[number, number, unknown]> = []
      for (let i = 0; i < 4097; i++) huge.push([900_000 + i, 1, {}])
      flood.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence(huge) })
      assert.equal(flood.link.closed, true)
    })

    it('clients that come and go leave a bounded number of clocks behind', async () => {
      const v = victim(1)
      const peer = await joined(v, 'churn')
      for (let round = 0; round < 50; round++) {
        const ids = Array.from({ length: 200 }, (_, i) => 200_000 + round * 200 + i)
        peer.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence(ids.map(c => [c, 1, { here: true }])) })
        peer.send({ type: MessageType.AWARENESS, docKey: v.sync.key, update: presence(ids.map(c => [c, 2, null])) })
        await tick()
      }
      assert.equal(peer.link.closed, false)
      assert.equal(v.sync.awareness.getStates().size, 1)
      // the clocks of the latest departures are kept a while, so that their states, still in flight, cannot come back
      const kept = v.sync.awareness.meta.size
      assert.ok(kept <= 1 + 4096, `${kept} clocks kept for 10,000 departed clients`)
    })
  })
})
