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
import { Features, MessageType } from '../lib/protocol/constants.js'
import { deleteRangesOf, encodeDeleteRanges, UpdateParts } from '../lib/yjs/update-batch.js'
import { attach, settle, target, type Target } from './helpers/hostile-peer.js'
import { NodePool } from './helpers/mesh-nodes.js'
import type { DocSyncProgress } from '../lib/index.js'

function randomEdits (doc: Y.Doc, gen: prng.PRNG, n: number): void {
  const text = doc.getText('t')
  const map = doc.getMap('m')
  const arr = doc.getArray('a')
  for (let i = 0; i < n; i++) {
    const op = prng.int32(gen, 0, 5)
    if (op <= 1) text.insert(prng.int32(gen, 0, text.length), prng.word(gen, 1, 12))
    else if (op === 2 && text.length > 0) text.delete(prng.int32(gen, 0, text.length - 1), prng.int32(gen, 1, 3))
    else if (op === 3) map.set(prng.word(gen, 1, 2), prng.word(gen, 0, 20))
    else if (op === 4) arr.insert(prng.int32(gen, 0, arr.length), [prng.int32(gen, 0, 9), prng.word(gen, 0, 4)])
    else if (arr.length > 0) arr.delete(prng.int32(gen, 0, arr.length - 1), 1)
  }
}

/** everything a reader sees (map keys sorted: their order follows integration order, not content) */
const content = (d: Y.Doc): string => JSON.stringify([d.getText('t').toString(), Object.entries(d.getMap('m').toJSON()).sort(), d.getArray('a').toJSON()])
const dsOf = (d: Y.Doc): string => Buffer.from(encodeDeleteRanges(deleteRangesOf(d))).toString('hex')

/** Three writers editing concurrently and merging now and then; `old` stops merging halfway. */
function concurrentDocs (seed: number): { src: Y.Doc, old: Y.Doc } {
  const gen = prng.create(seed)
  const docs = [1, 2, 3].map(id => { const d = new Y.Doc(); d.clientID = seed * 10 + id; return d })
  const old = new Y.Doc()
  for (let round = 0; round < 30; round++) {
    for (const d of docs) for (let t = prng.int32(gen, 1, 6); t > 0; t--) d.transact(() => { randomEdits(d, gen, prng.int32(gen, 1, 4)) })
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
          const parts = allParts(new UpdateParts(src, since, deleteRangesOf(src), { firstBytes: 256, maxBytes: 2048, limitBytes: 1 << 20 }))
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
      const p = new UpdateParts(doc, new Map(), deleteRangesOf(doc), { firstBytes: 4000, maxBytes: 4000, limitBytes })
      const parts = allParts(p)
      for (const u of parts) assert.ok(u.length <= limitBytes, `a part of ${u.length} B over the ${limitBytes} B limit`)
      const dst = new Y.Doc()
      for (const u of parts) Y.applyUpdate(dst, u)
      assert.equal(dst.getText('t').toString(), text.toString())
    })

    it('a single struct bigger than the limit comes out whole (the engine refuses to send it)', () => {
      const doc = new Y.Doc()
      doc.getText('t').insert(0, 'x'.repeat(10_000))
      const parts = allParts(new UpdateParts(doc, new Map(), deleteRangesOf(doc), { firstBytes: 1000, maxBytes: 1000, limitBytes: 2000 }))
      assert.equal(parts.length, 1)
      assert.ok(parts[0].length > 10_000)
    })

    it('nothing beyond the state vector gives one empty part', () => {
      const { src } = concurrentDocs(5)
      const parts = allParts(new UpdateParts(src, Y.decodeStateVector(Y.encodeStateVector(src)), new Map(), { firstBytes: 256, maxBytes: 256, limitBytes: 1 << 20 }))
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
