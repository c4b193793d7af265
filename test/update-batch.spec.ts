import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { UpdateBatch, deleteRangesOf, encodeDeleteRanges, encodeUpdateV1 } from '../lib/yjs/update-batch.js'

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
})
