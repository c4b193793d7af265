/**
 * Big SYNC2 answers go in parts (docs/PROTOCOL.md §3.2): every part is a valid
 * update, the parts together are exactly the answer, no part exceeds the
 * frame limit unless a single struct does, the delete set comes last, and a
 * peer that does not announce SYNC2_PARTS still gets one SYNC2. End to end,
 * a joiner gets a document bigger than any one update it would admit.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { decodeFrame, encodeFrame, type Frame } from '../lib/protocol/codec.js'
import { Features, MAX_UPDATE_ITEMS, MessageType } from '../lib/protocol/constants.js'
import { Access } from '../lib/policy/types.js'
import { deleteRangesOf, encodeDeleteRanges, UpdateParts } from '../lib/yjs/update-batch.js'
import { attach, settle, target, type Target } from './helpers/hostile-peer.js'
import { NodePool } from './helpers/mesh-nodes.js'
import { randomTransaction } from './helpers/random-edits.js'
import type { DocSyncProgress } from '../adapters/presets/node.js'

/** everything a reader sees (map keys sorted: their order follows integration order, not content) */
const content = (d: Y.Doc): string => JSON.stringify([d.getText('body').toString(), Object.entries(d.getMap('meta').toJSON()).sort(), d.getArray('list').toJSON()])
const dsOf = (d: Y.Doc): string => Buffer.from(encodeDeleteRanges(deleteRangesOf(d))).toString('hex')

/** Three writers editing concurrently and merging now and then; `old` stops merging halfway. */
function concurrentDocs (seed: number): { src: Y.Doc, old: Y.Doc } {
  const gen = prng.create(seed)
  const rand = (): number => prng.real53(gen)
  const docs = [1, 2, 3].map(id => { const d = new Y.Doc(); d.clientID = seed * 10 + id; return d })
  const old = new Y.Doc()
  for (let round = 0; round < 30; round++) {
    for (const d of docs) for (let t = prng.int32(gen, 1, 6); t > 0; t--) randomTransaction(d, rand, `w${d.clientID}`)
    if (prng.bool(gen)) {
      const a = docs[prng.int32(gen, 0, 2)]
      const b = docs[prng.int32(gen, 0, 2)]
      Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
    }
    if (round === 15) for (const d of docs) Y.applyUpdate(old, Y.encodeStateAsUpdate(d))
  }
  const src = docs[0]
  for (const d of docs.slice(1)) Y.applyUpdate(src, Y.encodeStateAsUpdate(d))
  return { src, old }
}

const helloWith = (features: number): Frame => ({ type: MessageType.HELLO, maxFrameBytes: 1 << 24, features, epoch: new Uint8Array(8).fill(1) })

function allParts (p: UpdateParts): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let u = p.next(); u !== undefined; u = p.next()) out.push(u)
  return out
}

describe('SYNC2 answers in parts', () => {
  describe('UpdateParts', () => {
    for (const seed of [1, 2, 3, 7]) {
      it(`parts applied in order rebuild the doc exactly, from nothing and from an old state (seed ${seed})`, () => {
        const { src, old } = concurrentDocs(seed)
        for (const from of [new Y.Doc(), old]) {
          const since = Y.decodeStateVector(Y.encodeStateVector(from))
          const parts = allParts(new UpdateParts(src, since, deleteRangesOf(src), { partBytes: 512, limitBytes: 1 << 20 }))
          assert.ok(parts.length >= 3, `seed ${seed}: only ${parts.length} part(s)`)
          // only the last part carries the delete set
          for (const u of parts.slice(0, -1)) assert.equal(Y.decodeUpdate(u).ds.clients.size, 0, `seed ${seed}: a leading part has deletes`)
          const dst = new Y.Doc()
          Y.applyUpdate(dst, Y.encodeStateAsUpdate(from))
          for (const u of parts) Y.applyUpdate(dst, u)
          assert.equal(content(dst), content(src), `seed ${seed}`)
          assert.deepEqual(Y.encodeStateVector(dst), Y.encodeStateVector(src), `seed ${seed}: state vectors differ`)
          assert.equal(dsOf(dst), dsOf(src), `seed ${seed}: delete sets differ`)
          assert.equal(dst.store.pendingStructs, null, `seed ${seed}: structs left pending`)
        }
      })
    }

    it('a part that encodes above the limit is cut until it fits', () => {
      const doc = new Y.Doc()
      const text = doc.getText('t')
      // the estimate counts UTF-16 units; these need 3 bytes each in UTF-8, so budgets undershoot 3x
      // (inserted at the front: appended runs would merge into one struct, which cannot be cut)
      for (let i = 0; i < 400; i++) text.insert(0, '€'.repeat(50))
      const limitBytes = 4096
      const p = new UpdateParts(doc, new Map(), deleteRangesOf(doc), { partBytes: 4000, limitBytes })
      const parts = allParts(p)
      for (const u of parts) assert.ok(u.length <= limitBytes, `a part of ${u.length} B over the ${limitBytes} B limit`)
      const dst = new Y.Doc()
      for (const u of parts) Y.applyUpdate(dst, u)
      assert.equal(dst.getText('t').toString(), text.toString())
    })

    it('values (map entries, array elements) are cut by their size too', () => {
      const doc = new Y.Doc()
      const map = doc.getMap('readings')
      const arr = doc.getArray('log')
      for (let i = 0; i < 200; i++) {
        map.set(`sensor-${i}`, { values: 'v'.repeat(20_000), at: i })
        arr.push([{ blob: 'b'.repeat(5_000) }, new Uint8Array(3_000)])
      }
      const limitBytes = 128 * 1024
      const parts = allParts(new UpdateParts(doc, new Map(), deleteRangesOf(doc), { partBytes: 64 * 1024, limitBytes }))
      assert.ok(parts.length >= 40, `${parts.length} parts for ${parts.reduce((n, u) => n + u.length, 0)} B`)
      for (const u of parts) assert.ok(u.length <= limitBytes, `a part of ${u.length} B over the ${limitBytes} B limit`)
      const dst = new Y.Doc()
      for (const u of parts) Y.applyUpdate(dst, u)
      assert.deepEqual(dst.getMap('readings').toJSON(), map.toJSON())
      assert.equal(dst.getArray('log').length, arr.length)
    })

    it('a single struct bigger than the limit comes out whole (the engine refuses to send it)', () => {
      const doc = new Y.Doc()
      doc.getText('t').insert(0, 'x'.repeat(10_000))
      const parts = allParts(new UpdateParts(doc, new Map(), deleteRangesOf(doc), { partBytes: 1000, limitBytes: 2000 }))
      assert.equal(parts.length, 1)
      assert.ok(parts[0].length > 10_000)
    })

    it('nothing beyond the state vector gives one empty part', () => {
      const { src } = concurrentDocs(5)
      const parts = allParts(new UpdateParts(src, Y.decodeStateVector(Y.encodeStateVector(src)), new Map(), { partBytes: 256, limitBytes: 1 << 20 }))
      assert.equal(parts.length, 1)
      const dec = Y.decodeUpdate(parts[0])
      assert.equal(dec.structs.length, 0)
      assert.equal(dec.ds.clients.size, 0)
    })
  })

  describe('on the wire (one engine, frames by hand)', () => {
    let t: Target
    const BIG = 5 * 1024 * 1024
    before(() => {
      t = target('big')
      const text = t.doc.getText('t')
      // ~5.5 MB of text in 64 KiB inserts, each at the front so they stay separate structs: above the 4 MiB split threshold
      const chunk = 'lorem ipsum dolor sit amet '.repeat(2500)
      while (text.length < BIG + 500_000) text.insert(0, chunk)
    })
    after(() => { t.close() })

    const join = async (features: number): Promise<Frame[]> => {
      const a = attach(t, `joiner-${features}-${Math.random()}`)
      a.send(helloWith(features))
      a.send({ type: MessageType.SYNC1, docKey: t.sync.key, flags: 0, stateVector: new Uint8Array([0]), dsDigest: new Uint8Array(8) })
      await settle()
      return a.received.filter(f => f.type === MessageType.SYNC2 || f.type === MessageType.SYNC2_PART)
    }

    it('a peer announcing SYNC2_PARTS gets parts of at most ~1 MiB, numbered, ended by a SYNC2', async () => {
      const before = t.engine.counters.sync2PartsSent
      const answer = await join(Features.SYNC2_PARTS)
      assert.ok(answer.length >= 4, `${answer.length} frames`)
      const last = answer[answer.length - 1]
      assert.equal(last.type, MessageType.SYNC2)
      const parts = answer.slice(0, -1)
      let seq = 0
      parts.forEach((f, i) => {
        assert.equal(f.type, MessageType.SYNC2_PART)
        if (f.type !== MessageType.SYNC2_PART) return
        assert.ok(f.seq > seq, 'seq must grow')
        seq = f.seq
        assert.equal(f.partsLeft, answer.length - 1 - i, 'partsLeft counts the frames still to come')
        assert.ok(f.update.length < 2 * 1024 * 1024, `a part of ${f.update.length} B`)
      })
      assert.ok(last.type === MessageType.SYNC2 && last.seq > seq)
      assert.equal(t.engine.counters.sync2PartsSent - before, parts.length)
      const dst = new Y.Doc()
      for (const f of answer) if (f.type === MessageType.SYNC2 || f.type === MessageType.SYNC2_PART) Y.applyUpdate(dst, f.update)
      assert.equal(dst.getText('t').toString(), t.doc.getText('t').toString())
    })

    it('a peer without the feature gets the answer as one SYNC2', async () => {
      const answer = await join(0)
      assert.equal(answer.length, 1)
      assert.equal(answer[0].type, MessageType.SYNC2)
      if (answer[0].type === MessageType.SYNC2) assert.ok(answer[0].update.length > BIG)
    })
  })

  describe('many small items (a few hundred KB, but more items than a receiver applies at once)', () => {
    it('are answered in parts of at most MAX_UPDATE_ITEMS items, and a node with the default limits takes them all', async () => {
      const src = target('readings')
      const dst = target('readings')
      try {
        // 40,000 map entries under distinct keys: 40,000 structs that never merge, ~600 KB
        src.doc.transact(() => { for (let i = 0; i < 40_000; i++) src.doc.getMap('m').set(`r${i}`, i) })
        const a = attach(src, 'joiner')
        a.send(helloWith(Features.SYNC2_PARTS))
        a.send({ type: MessageType.SYNC1, docKey: src.sync.key, flags: 0, stateVector: new Uint8Array([0]), dsDigest: new Uint8Array(8) })
        await settle()
        const answer = a.received.filter(f => f.type === MessageType.SYNC2 || f.type === MessageType.SYNC2_PART)
        assert.ok(answer.length >= 3, `${answer.length} frames`)
        // the same frames, handed to an engine with the default limits, as its peer's answer
        const b = attach(dst, 'source')
        b.send(helloWith(Features.SYNC2_PARTS))
        b.send({ type: MessageType.SYNC1, docKey: dst.sync.key, flags: 0, stateVector: new Uint8Array([0]), dsDigest: new Uint8Array(8) })
        await settle()
        for (const f of answer) {
          if (f.type !== MessageType.SYNC2 && f.type !== MessageType.SYNC2_PART) continue
          assert.ok(Y.decodeUpdate(f.update).structs.length <= MAX_UPDATE_ITEMS)
          b.send(f)
        }
        await settle()
        assert.equal(b.closed, false)
        assert.deepEqual(dst.engine.counters.rejected, {})
        assert.equal(dst.doc.getMap('m').size, 40_000)
        assert.deepEqual(Y.encodeStateVector(dst.doc), Y.encodeStateVector(src.doc))
      } finally {
        src.close()
        dst.close()
      }
    })
  })

  describe('hostile parts', () => {
    it('a SYNC2_PART claiming no parts left is a protocol error', () => {
      const body = encodeFrame({ type: MessageType.SYNC2_PART, docKey: new Uint8Array(16), seq: 1, partsLeft: 1, update: new Uint8Array([0, 0]) })
      // partsLeft is the byte after version, type, key and seq
      const bad = body.slice()
      bad[1 + 1 + 16 + 1] = 0
      assert.throws(() => decodeFrame(bad), /no parts left/)
      assert.equal(decodeFrame(body).type, MessageType.SYNC2_PART)
    })

    it('a malformed part closes the peer with malformed_update and leaves the doc as it was', async () => {
      const t = target('victim')
      t.doc.getText('t').insert(0, 'kept')
      try {
        const a = attach(t, 'mallory')
        a.send(helloWith(Features.SYNC2_PARTS))
        a.send({ type: MessageType.SYNC1, docKey: t.sync.key, flags: 0, stateVector: new Uint8Array([0]), dsDigest: new Uint8Array(8) })
        await settle()
        a.send({ type: MessageType.SYNC2_PART, docKey: t.sync.key, seq: 1, partsLeft: 2, update: new Uint8Array([1, 1, 200, 1, 0, 255, 255, 255, 7]) })
        await settle()
        assert.equal(t.engine.counters.rejected.malformed_update, 1)
        assert.ok(a.closed)
        assert.equal(t.doc.getText('t').toString(), 'kept')
        assert.equal(t.engine.counters.sync2PartsApplied, 0)
      } finally { t.close() }
    })

    /** an engine whose doc `peer` answers by hand: HELLO with SYNC2_PARTS, then our SYNC1 to it */
    const answering = async (docId: string, opts: Parameters<typeof target>[1] = {}): Promise<{ t: Target, a: ReturnType<typeof attach>, sync1s: () => number, acks: () => number[] }> => {
      const t = target(docId, opts)
      const a = attach(t, 'peer')
      a.send(helloWith(Features.SYNC2_PARTS))
      a.send({ type: MessageType.SYNC1, docKey: t.sync.key, flags: 0, stateVector: new Uint8Array([0]), dsDigest: new Uint8Array(8) })
      await settle()
      return {
        t,
        a,
        sync1s: () => a.received.filter(f => f.type === MessageType.SYNC1).length,
        acks: () => a.received.flatMap(f => f.type === MessageType.ACK ? [f.seq] : [])
      }
    }
    const textUpdates = (): Uint8Array[] => {
      const src = new Y.Doc()
      const out: Uint8Array[] = []
      src.on('update', (u: Uint8Array) => { out.push(u) })
      for (const w of ['one ', 'two ', 'three']) src.getText('t').insert(src.getText('t').length, w)
      return out
    }

    it('an answer with a part missing is not taken as whole: it is asked for again', async () => {
      const { t, a, sync1s } = await answering('gap')
      try {
        const [u1, u2, u3] = textUpdates()
        const before = sync1s()
        a.send({ type: MessageType.SYNC2_PART, docKey: t.sync.key, seq: 1, partsLeft: 2, update: u1 })
        // seq 2 never comes
        a.send({ type: MessageType.SYNC2, docKey: t.sync.key, seq: 3, update: u3 })
        await settle()
        const s = t.sync.sessions.get('peer')!
        assert.equal(s.gotSync2, false)
        assert.equal(t.engine.counters.ignored.incomplete_answer, 1)
        assert.equal(sync1s(), before + 1, 'one SYNC1 asks for the answer again')
        a.send({ type: MessageType.SYNC2, docKey: t.sync.key, seq: 4, update: Y.mergeUpdates([u1, u2, u3]) })
        await settle()
        assert.equal(s.gotSync2, true)
        assert.equal(t.doc.getText('t').toString(), 'one two three')
      } finally { t.close() }
    })

    it('parts from a peer whose writes are refused are dropped, and counted', async () => {
      const { t, a } = await answering('read-only', { policy: (peer) => peer === 'peer' ? Access.READ : Access.WRITE })
      try {
        const [u1] = textUpdates()
        a.send({ type: MessageType.SYNC2_PART, docKey: t.sync.key, seq: 1, partsLeft: 1, update: u1 })
        await settle()
        assert.equal(t.doc.getText('t').toString(), '')
        assert.equal(t.engine.counters.rejected.forbidden, 1)
        assert.equal(t.engine.counters.sync2PartsApplied, 0)
        assert.ok(a.received.some(f => f.type === MessageType.DENIED), 'the peer is told its writes are refused')
      } finally { t.close() }
    })

    it('parts are acknowledged with the SYNC2, and a part waiting for a later one asks for nothing', async () => {
      const { t, a, sync1s, acks } = await answering('acks')
      try {
        const [u1, u2, u3] = textUpdates()
        const before = sync1s()
        // the second part first: its structs wait (pending) for the first
        a.send({ type: MessageType.SYNC2_PART, docKey: t.sync.key, seq: 1, partsLeft: 2, update: u2 })
        await settle()
        assert.ok(t.doc.store.pendingStructs !== null, 'the test needs pending structs')
        assert.equal(sync1s(), before, 'a part does not ask for missing dependencies')
        a.send({ type: MessageType.SYNC2_PART, docKey: t.sync.key, seq: 2, partsLeft: 1, update: u1 })
        await settle()
        assert.deepEqual(acks(), [], 'no ACK for parts alone')
        a.send({ type: MessageType.SYNC2, docKey: t.sync.key, seq: 3, update: u3 })
        await settle()
        assert.equal(t.doc.getText('t').toString(), 'one two three')
        assert.deepEqual(acks(), [3], 'one ACK, for the SYNC2')
        assert.equal(t.sync.sessions.get('peer')!.gotSync2, true)
      } finally { t.close() }
    })

    it('parts do not complete a sync: only the SYNC2 that ends them does', async () => {
      const t = target('half')
      try {
        const a = attach(t, 'slow-sender')
        a.send(helloWith(Features.SYNC2_PARTS))
        await settle()
        // the engine offered its SYNC1; answer it with one part and hold the rest back
        const src = new Y.Doc()
        src.getText('t').insert(0, 'first half ')
        const first = Y.encodeStateAsUpdate(src)
        a.send({ type: MessageType.SYNC1, docKey: t.sync.key, flags: 0, stateVector: new Uint8Array([0]), dsDigest: new Uint8Array(8) })
        a.send({ type: MessageType.SYNC2_PART, docKey: t.sync.key, seq: 1, partsLeft: 1, update: first })
        await settle()
        assert.equal(t.doc.getText('t').toString(), 'first half ')
        assert.equal(t.engine.counters.sync2PartsApplied, 1)
        assert.equal(t.sync.sessions.get('slow-sender')?.gotSync2, false, 'a part must not count as the whole answer')
        const sv = Y.encodeStateVector(src)
        src.getText('t').insert(src.getText('t').length, 'second half')
        a.send({ type: MessageType.SYNC2, docKey: t.sync.key, seq: 2, update: Y.encodeStateAsUpdate(src, sv) })
        await settle()
        assert.equal(t.doc.getText('t').toString(), 'first half second half')
        assert.equal(t.sync.sessions.get('slow-sender')?.gotSync2, true)
      } finally { t.close() }
    })
  })

  describe('end to end (libp2p TCP + Noise)', function () {
    this.timeout(120_000)
    const pool = new NodePool()
    after(async () => { await pool.stopAll() })

    it('a joiner gets a document bigger than the largest update it admits (8 MiB)', async () => {
      const gw = await pool.create()
      const joiner = await pool.create()
      const h = await gw.open('archive/big')
      const text = h.doc.getText('t')
      // a day of readings, one insert each (at the front, so they do not merge into one huge struct)
      const chunk = `${'sensor reading 0123456789 '.repeat(4000)}\n`
      while (text.length < 10 * 1024 * 1024) text.insert(0, chunk)
      const j = await joiner.open('archive/big')
      const progress: DocSyncProgress[] = []
      j.on('progress', (p) => { progress.push(p) })
      await joiner.dial(gw.multiaddrs[0])
      await j.whenSynced({ peer: gw.peerId, timeout: 60_000 })
      // one event per part, counting up, and a last one when the answer is complete
      assert.ok(progress.length >= 9, `${progress.length} progress events`)
      progress.forEach((p, i) => {
        assert.equal(p.peer, gw.peerId)
        assert.equal(p.parts, i + 1)
      })
      assert.equal(progress[progress.length - 1].partsLeft, 0)
      assert.ok(progress.slice(0, -1).every(p => p.partsLeft > 0))
      assert.equal(progress[0].parts + progress[0].partsLeft, progress.length, 'the first part announced how many follow')
      assert.equal(j.doc.getText('t').length, text.length)
      assert.equal(j.doc.getText('t').toString(), text.toString())
      assert.ok(gw.stats.sync2PartsSent >= 8, `${gw.stats.sync2PartsSent} parts sent`)
      assert.equal(joiner.stats.sync2PartsApplied, gw.stats.sync2PartsSent)
      assert.deepEqual(joiner.stats.rejected, {})
    })
  })
})
