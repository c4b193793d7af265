import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { countItems, UpdateBatch, UpdateParts, deleteRangesOf, encodeDeleteRanges, encodeUpdateV1 } from '../lib/yjs/update-batch.js'
import { flatStructWriter } from '../lib/yjs/flat-struct-writer.js'

function randomEdits (doc: Y.Doc, gen: prng.PRNG, n: number): void {
  const text = doc.getText('t')
  const map = doc.getMap('m')
  const arr = doc.getArray('a')
  for (let i = 0; i < n; i++) {
    const op = prng.int32(gen, 0, 5)
    if (op <= 1) text.insert(prng.int32(gen, 0, text.length), prng.word(gen, 1, 4))
    else if (op === 2 && text.length > 0) text.delete(prng.int32(gen, 0, text.length - 1), 1)
    else if (op === 3) map.set(prng.word(gen, 1, 2), prng.int32(gen, 0, 100))
    else if (op === 4) arr.insert(prng.int32(gen, 0, arr.length), [prng.int32(gen, 0, 9)])
    else if (arr.length > 0) arr.delete(prng.int32(gen, 0, arr.length - 1), 1)
  }
}

const content = (d: Y.Doc): string => JSON.stringify([d.getText('t').toString(), d.getMap('m').toJSON(), d.getArray('a').toJSON()])

describe('batch encoding without an update listener', () => {
  for (const seed of [1, 2, 3, 42, 1337]) {
    it(`batches of random transactions reproduce the doc exactly (seed ${seed})`, () => {
      const gen = prng.create(seed)
      const src = new Y.Doc()
      const dst = new Y.Doc()
      let batch = new UpdateBatch()
      src.on('afterTransactionCleanup', (tr: Y.Transaction) => { batch.absorbTransaction(tr) })
      for (let round = 0; round < 20; round++) {
        const n = prng.int32(gen, 1, 40)
        for (let i = 0; i < n; i++) src.transact(() => { randomEdits(src, gen, prng.int32(gen, 1, 3)) })
        Y.applyUpdate(dst, batch.encode(src))
        batch = new UpdateBatch()
        assert.equal(content(dst), content(src), `seed ${seed} round ${round}`)
      }
      assert.deepEqual(Y.encodeStateVector(dst), Y.encodeStateVector(src))
      assert.deepEqual(encodeDeleteRanges(deleteRangesOf(dst)), encodeDeleteRanges(deleteRangesOf(src)))
    })
  }

  it('a batch carries only its own deletions, not the whole delete set', () => {
    const doc = new Y.Doc()
    const text = doc.getText('t')
    text.insert(0, 'x'.repeat(2000))
    for (let i = 0; i < 500; i++) text.delete(i, 1) // 500 separate delete ranges
    const batch = new UpdateBatch()
    doc.on('afterTransactionCleanup', (tr: Y.Transaction) => { batch.absorbTransaction(tr) })
    text.insert(0, 'a')
    const perKeystroke = batch.encode(doc).length
    const yjsOwn = Y.encodeStateAsUpdate(doc, Y.encodeStateVector(doc)).length
    assert.ok(perKeystroke < 40, `one keystroke encoded in ${perKeystroke} B`)
    assert.ok(yjsOwn > 500, `Yjs' diff carries the whole delete set (${yjsOwn} B)`)
  })

  it('merging batches (slow peer) equals sending them one by one', () => {
    const gen = prng.create(7)
    const src = new Y.Doc()
    const a = new Y.Doc()
    const b = new Y.Doc()
    const batches: UpdateBatch[] = []
    src.on('afterTransactionCleanup', (tr: Y.Transaction) => {
      const bt = new UpdateBatch()
      bt.absorbTransaction(tr)
      batches.push(bt)
    })
    for (let i = 0; i < 200; i++) randomEdits(src, gen, 1)
    const merged = new UpdateBatch()
    for (const bt of batches) merged.absorbBatch(bt)
    Y.applyUpdate(a, merged.encode(src))
    for (const bt of batches) Y.applyUpdate(b, bt.encode(src))
    assert.equal(content(a), content(src))
    assert.equal(content(b), content(src))
  })

  it('a diff against a remote state vector matches Yjs', () => {
    const gen = prng.create(9)
    const src = new Y.Doc()
    randomEdits(src, gen, 300)
    const remote = new Y.Doc()
    Y.applyUpdate(remote, Y.encodeStateAsUpdate(src))
    randomEdits(src, gen, 100)
    const diff = encodeUpdateV1(src, Y.decodeStateVector(Y.encodeStateVector(remote)), deleteRangesOf(src))
    Y.applyUpdate(remote, diff)
    assert.equal(content(remote), content(src))
  })

  /** every kind of struct and content, several writers, some of them offline for a while */
  function richDoc (seed: number): { doc: Y.Doc, old: Y.Doc } {
    const gen = prng.create(seed)
    const writers = [1, 2, 3].map(id => { const d = new Y.Doc(); d.clientID = seed * 100 + id; return d })
    const old = new Y.Doc()
    const strings = ['a', 'hello ', 'é', '€uro', '😀🎉', 'x'.repeat(1500), '日本語のテキスト'.repeat(200)]
    for (let round = 0; round < 40; round++) {
      for (const d of writers) {
        d.transact(() => {
          const text = d.getText('t')
          const op = prng.int32(gen, 0, 9)
          if (op <= 3) text.insert(prng.int32(gen, 0, text.length), prng.oneOf(gen, strings))
          else if (op === 4 && text.length > 2) text.delete(prng.int32(gen, 0, text.length - 2), prng.int32(gen, 1, 2))
          else if (op === 5) text.format(0, Math.min(3, text.length), { bold: prng.bool(gen) })
          else if (op === 6) text.insertEmbed(0, { image: prng.word(gen, 1, 5) })
          else if (op === 7) d.getMap('m').set(prng.oneOf(gen, ['k', 'l', prng.word(gen, 1, 2)]), prng.bool(gen) ? new Y.Map() : prng.oneOf(gen, strings))
          else if (op === 8) d.getArray('a').insert(0, [new Uint8Array([1, 2, 3]), prng.int32(gen, 0, 99), new Y.Text('nested')])
          else d.getXmlFragment('x').insert(0, [new Y.XmlElement('p')])
        })
      }
      if (prng.bool(gen)) {
        const a = writers[prng.int32(gen, 0, 2)]
        const b = writers[prng.int32(gen, 0, 2)]
        Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)))
      }
      if (round === 20) {
        // an append the old replica sees, then one it does not: Yjs merges the two
        // into one struct, so the diff starts in the middle of it (an offset);
        // the same for a struct then deleted (deleted content from an offset)
        const t0 = writers[0].getText('t')
        const t1 = writers[1].getText('t')
        t0.insert(t0.length, 'seen-')
        t1.insert(0, 'gone-')
        for (const d of writers) Y.applyUpdate(old, Y.encodeStateAsUpdate(d))
        t0.insert(t0.length, 'unseen')
        t1.insert(5, 'later')
        t1.delete(0, 10)
      }
    }
    const doc = writers[0]
    for (const d of writers.slice(1)) Y.applyUpdate(doc, Y.encodeStateAsUpdate(d))
    return { doc, old }
  }

  // the Node entry's flat writer (lib/yjs/flat-struct-writer.ts), and Yjs' own (the default, browsers')
  for (const [name, writer] of [['the flat writer', flatStructWriter], ['Yjs\' writer', undefined]] as const) {
    for (const seed of [1, 2, 3]) {
      it(`encodes byte for byte what Yjs encodes, whole and as a diff, with ${name} (seed ${seed})`, () => {
        const { doc, old } = richDoc(seed)
        const ds = deleteRangesOf(doc)
        assert.deepEqual(encodeUpdateV1(doc, new Map(), ds, false, writer), Y.encodeStateAsUpdate(doc), `seed ${seed}: whole state`)
        // against an old state vector: structs are written from the middle of a run (an offset)
        const sv = Y.encodeStateVector(old)
        assert.deepEqual(encodeUpdateV1(doc, Y.decodeStateVector(sv), ds, false, writer), Y.encodeStateAsUpdate(doc, sv), `seed ${seed}: diff bytes`)
      })
    }
  }

  it('parts and batches use the writer they are given (the same bytes as Yjs\' writer)', () => {
    const { doc, old } = richDoc(4)
    const since = Y.decodeStateVector(Y.encodeStateVector(old))
    const ds = deleteRangesOf(doc)
    let flatCalls = 0
    const counting: typeof flatStructWriter = (e, s, offset) => { flatCalls++; flatStructWriter(e, s, offset) }
    const all = (p: UpdateParts): Uint8Array[] => { const out: Uint8Array[] = []; for (let u = p.next(); u !== undefined; u = p.next()) out.push(u); return out }
    const opts = { partBytes: 2048, limitBytes: 1 << 20 }
    const flatParts = all(new UpdateParts(doc, since, ds, { ...opts, writer: counting }))
    assert.ok(flatParts.length > 1, `${flatParts.length} parts`)
    assert.ok(flatCalls > 0)
    assert.deepEqual(flatParts, all(new UpdateParts(doc, since, ds, opts)))
    const batch = new UpdateBatch()
    doc.on('afterTransaction', (tr: Y.Transaction) => { batch.absorbTransaction(tr) })
    doc.getText('t').insert(1, 'typed')
    doc.getText('t').delete(0, 3)
    flatCalls = 0
    assert.deepEqual(batch.encodeAll(doc, 1000, counting), batch.encodeAll(doc, 1000))
    assert.deepEqual(batch.encode(doc, counting), batch.encode(doc))
    assert.ok(flatCalls > 0)
  })
})

describe('updates of at most MAX_UPDATE_ITEMS items (structs and delete ranges)', () => {
  /** items in a V1 update: structs announced per client, plus delete ranges */
  function itemsIn (update: Uint8Array): number {
    let n = 0
    const meta = Y.decodeUpdate(update)
    n += meta.structs.length
    meta.ds.clients.forEach(items => { n += items.length })
    return n
  }

  /** two authors, 30,000 structs, then every other map entry deleted: many structs and many delete ranges */
  function bigDoc (): { doc: Y.Doc, other: Y.Doc } {
    const doc = new Y.Doc()
    const other = new Y.Doc()
    doc.transact(() => { for (let i = 0; i < 15_000; i++) doc.getMap('m').set(`a${i}`, i) })
    other.transact(() => { for (let i = 0; i < 15_000; i++) other.getMap('n').set(`b${i}`, i) })
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(other))
    doc.transact(() => { for (let i = 0; i < 15_000; i += 2) doc.getMap('m').delete(`a${i}`) })
    return { doc, other }
  }

  it('an answer in parts: each part within the cap, the delete set in parts of its own when it does not fit, and the parts rebuild the doc', () => {
    const { doc } = bigDoc()
    const deletes = deleteRangesOf(doc)
    const ranges = [...deletes.values()].reduce((n, r) => n + r.length, 0)
    assert.ok(ranges > 64, `${ranges} delete ranges`)
    const max = 4096
    const parts = new UpdateParts(doc, new Map(), deletes, { partBytes: Infinity, limitBytes: Infinity, maxItems: max })
    const copy = new Y.Doc()
    let n = 0
    for (let u = parts.next(); u !== undefined; u = parts.next()) {
      assert.ok(itemsIn(u) <= max, `part ${n} has ${itemsIn(u)} items`)
      Y.applyUpdate(copy, u)
      n++
    }
    assert.ok(n >= Math.ceil((countItems(doc, new Map(), deletes)) / max), `${n} parts`)
    assert.deepEqual(Y.encodeStateVector(copy), Y.encodeStateVector(doc))
    assert.deepEqual(copy.getMap('n').toJSON(), doc.getMap('n').toJSON())
    assert.deepEqual(copy.getMap('m').toJSON(), doc.getMap('m').toJSON())
    assert.equal(copy.store.pendingStructs, null)
  })

  it('a batch: one update when it fits (a paste is one struct however long), several when it does not', () => {
    const doc = new Y.Doc()
    let batch = new UpdateBatch()
    doc.on('afterTransaction', (tr: Y.Transaction) => { batch.absorbTransaction(tr) })
    doc.getText('t').insert(0, 'x'.repeat(100_000))
    const paste = batch.encodeAll(doc, 16)
    assert.equal(paste.length, 1, 'one struct spanning 100,000 clocks')
    batch = new UpdateBatch()
    doc.transact(() => { for (let i = 0; i < 10_000; i++) doc.getMap('m').set(`k${i}`, i) })
    doc.transact(() => { for (let i = 0; i < 2_000; i++) doc.getMap('m').delete(`k${i * 5}`) })
    const updates = batch.encodeAll(doc, 1000)
    assert.ok(updates.length >= 10, `${updates.length} updates`)
    const copy = new Y.Doc()
    Y.applyUpdate(copy, paste[0])
    for (const u of updates) {
      assert.ok(itemsIn(u) <= 1000, `${itemsIn(u)} items`)
      Y.applyUpdate(copy, u)
    }
    assert.deepEqual(copy.getMap('m').toJSON(), doc.getMap('m').toJSON())
    assert.equal(copy.getText('t').length, 100_000)
    assert.equal(copy.store.pendingStructs, null)
  })
})
