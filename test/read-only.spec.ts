/**
 * `addsNothing` (lib/security/read-only.ts): which updates of a read-only peer
 * are not writes. An update whose every struct the doc already holds and
 * whose every deletion it already made changes nothing; anything else does.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import { DEFAULT_LIMITS } from '../lib/security/limits.js'
import { addsNothing } from '../lib/security/read-only.js'
import { SyncEngine } from '../lib/sync/engine.js'
import { openEngineDoc } from './helpers/engine-doc.js'

const LIMITS = DEFAULT_LIMITS

describe('what a read-only peer may send: updates that add nothing', () => {
  const engine = new SyncEngine({ antiEntropyIntervalMs: 0 })
  const sync = openEngineDoc(engine, 'read-only/doc')
  const doc = sync.doc
  after(() => { engine.stop(); sync.awareness.destroy() })

  // the doc: "abcdef" with "b" and "de" deleted
  const author = new Y.Doc()
  author.getText('t').insert(0, 'abcdef')
  const beforeDeletes = Y.encodeStateAsUpdate(author)
  author.getText('t').delete(1, 1)
  author.getText('t').delete(2, 2)
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(author))
  const authorState = Y.encodeStateAsUpdate(author)

  it('nothing at all, everything it holds, or part of it: nothing added', () => {
    assert.equal(addsNothing(sync, new Uint8Array([0, 0]), LIMITS), true)
    assert.equal(addsNothing(sync, authorState, LIMITS), true, 'the whole state, deletions included')
    assert.equal(addsNothing(sync, beforeDeletes, LIMITS), true, 'an older state of the same author: structs held, no deletion')
    // a delete set alone, a subset of ours
    const partial = new Y.Doc()
    Y.applyUpdate(partial, beforeDeletes)
    partial.getText('t').delete(1, 1)
    assert.equal(addsNothing(sync, Y.encodeStateAsUpdate(partial, Y.encodeStateVector(doc)), LIMITS), true, 'a deletion it made already')
  })

  it('an empty item under a new clientID (Yjs integrates it, and it replaces a map value) adds something; so does an update that does not validate', () => {
    doc.getMap('m').set('title', 'kept')
    const title = (doc.getMap('m') as unknown as { _map: Map<string, { id: { client: number, clock: number } }> })._map.get('title')!
    // V1: one client, one struct at clock 0: an Item with a left origin (the title's item) and an empty string
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, 4242)
    encoding.writeVarUint(e, 0)
    encoding.writeUint8(e, 0x80 | 4)
    encoding.writeVarUint(e, title.id.client)
    encoding.writeVarUint(e, title.id.clock)
    encoding.writeVarString(e, '')
    encoding.writeVarUint(e, 0)
    const emptyItem = encoding.toUint8Array(e)
    assert.equal(addsNothing(sync, emptyItem, LIMITS), false, 'a zero-length item is a struct like any other')
    // what it would do: applied to a copy, the map value is gone
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
    Y.applyUpdate(copy, emptyItem)
    assert.notEqual(copy.getMap('m').get('title'), 'kept', 'the attack is real: the item replaced the value')
    assert.equal(addsNothing(sync, Uint8Array.of(1, 2, 3), LIMITS), false, 'garbage')
  })

  it('a struct it lacks, or a deletion it has not made, even one reaching past its own: something added', () => {
    const more = new Y.Doc()
    Y.applyUpdate(more, authorState)
    more.getText('t').insert(0, 'x')
    assert.equal(addsNothing(sync, Y.encodeStateAsUpdate(more), LIMITS), false, 'a new struct')
    const deleter = new Y.Doc()
    Y.applyUpdate(deleter, authorState)
    deleter.getText('t').delete(0, 1) // "a": not deleted here
    assert.equal(addsNothing(sync, Y.encodeStateAsUpdate(deleter, Y.encodeStateVector(doc)), LIMITS), false, 'a new deletion')
    // "b" to "e" deleted in one range: it covers ours ("b", "de") and "c", which we keep
    const wider = new Y.Doc()
    Y.applyUpdate(wider, beforeDeletes)
    wider.getText('t').delete(1, 4)
    assert.equal(addsNothing(sync, Y.encodeStateAsUpdate(wider, Y.encodeStateVector(doc)), LIMITS), false, 'a deletion range reaching past ours')
  })
})
