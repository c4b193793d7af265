import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { validateUpdate } from '../lib/security/validate-update.js'
import { DEFAULT_LIMITS } from '../lib/security/limits.js'

const DEPTH = DEFAULT_LIMITS.maxNestingDepth

/** Every kind of content Yjs can encode: strings, formats, embeds, any, JSON-ish, binary, types, xml, subdocs, deletions. */
function richEdits (doc: Y.Doc, gen: prng.PRNG, n: number): void {
  const text = doc.getText('t')
  const map = doc.getMap('m')
  const arr = doc.getArray('a')
  const xml = doc.getXmlFragment('x')
  for (let i = 0; i < n; i++) {
    switch (prng.int32(gen, 0, 11)) {
      case 0: text.insert(prng.int32(gen, 0, text.length), prng.utf16String(gen, 6)); break
      case 1: text.insert(prng.int32(gen, 0, text.length), 'bold', { bold: true, color: '#f00' }); break
      case 2: text.insertEmbed(prng.int32(gen, 0, text.length), { image: 'x.png', size: [1, 2] }); break
      case 3: if (text.length > 2) text.format(0, 2, { italic: prng.bool(gen) ? true : null }); break
      case 4: if (text.length > 0) text.delete(prng.int32(gen, 0, text.length - 1), 1); break
      case 5: map.set(prng.word(gen, 1, 3), { nested: { deep: [1, 'two', null, true, 3.5, -7, 2 ** 40] } }); break
      case 6: map.set('bin', new Uint8Array([1, 2, 3])); break
      case 7: { const sub = new Y.Map<unknown>(); sub.set('k', [1, { a: 'b' }]); arr.insert(0, [sub]); break }
      case 8: arr.insert(prng.int32(gen, 0, arr.length), [prng.int32(gen, -1e6, 1e6), 'str', null, false]); break
      case 9: if (arr.length > 0) arr.delete(0, 1); break
      case 10: { const el = new Y.XmlElement('p'); el.setAttribute('class', 'c'); el.insert(0, [new Y.XmlText('hi')]); xml.insert(0, [el]); break }
      case 11: map.set('doc', new Y.Doc()); break
    }
  }
}

describe('strict V1 update validation', () => {
  it('accepts every update Yjs produces, per transaction and as whole state (no false positives)', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const gen = prng.create(seed)
      const doc = new Y.Doc()
      const updates: Uint8Array[] = []
      doc.on('update', (u: Uint8Array) => { updates.push(u) })
      for (let i = 0; i < 60; i++) doc.transact(() => { richEdits(doc, gen, prng.int32(gen, 1, 4)) })
      const target = new Y.Doc()
      for (const u of updates) {
        assert.doesNotThrow(() => validateUpdate(target, u, DEPTH), `seed=${seed}`)
        Y.applyUpdate(target, u)
      }
      assert.doesNotThrow(() => validateUpdate(new Y.Doc(), Y.encodeStateAsUpdate(doc), DEPTH), `seed=${seed} full state`)
      const merged = Y.mergeUpdates(updates)
      assert.doesNotThrow(() => validateUpdate(new Y.Doc(), merged, DEPTH), `seed=${seed} merged`)
    }
  })

  it('reports exactly the authoring clientIDs', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    a.getText('t').insert(0, 'a')
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
    b.getText('t').insert(1, 'b')
    const diff = Y.encodeStateAsUpdate(b, Y.encodeStateVector(a))
    assert.deepEqual([...validateUpdate(a, diff, DEPTH).authors], [b.clientID])
    assert.deepEqual(new Set(validateUpdate(new Y.Doc(), Y.encodeStateAsUpdate(b), DEPTH).authors), new Set([a.clientID, b.clientID]))
  })

  it('reports every clientID that has a struct in the update, held by the doc or not, as Yjs parses them', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    a.getText('t').insert(0, 'aaa')
    Y.applyUpdate(b, Y.encodeStateAsUpdate(a))
    b.getText('t').insert(1, 'b')
    b.getText('t').delete(0, 1)
    const full = Y.encodeStateAsUpdate(b)
    // a's structs are held by `a` already: not authors of anything new there, but still in the update
    const v = validateUpdate(a, full, DEPTH)
    assert.deepEqual(v.authors, new Set([b.clientID]))
    assert.deepEqual(v.clients, new Set([a.clientID, b.clientID]))
    assert.deepEqual(v.clients, new Set(Y.parseUpdateMeta(full).to.keys()))
    // a delete-only update names no client with structs
    const del = new Y.Doc()
    Y.applyUpdate(del, full)
    const sv = Y.encodeStateVector(del)
    del.getText('t').delete(0, 1)
    const deleteOnly = Y.encodeStateAsUpdate(del, sv)
    assert.deepEqual(validateUpdate(new Y.Doc(), deleteOnly, DEPTH).clients, new Set(Y.parseUpdateMeta(deleteOnly).to.keys()))
    assert.equal(validateUpdate(new Y.Doc(), deleteOnly, DEPTH).clients.size, 0)
  })

  it('rejects trailing bytes, truncation, and unknown content', () => {
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'hello')
    const u = Y.encodeStateAsUpdate(doc)
    assert.throws(() => validateUpdate(new Y.Doc(), new Uint8Array([...u, 0]), DEPTH), { name: 'InvalidUpdateError' })
    for (let cut = 0; cut < u.length; cut++) {
      assert.throws(() => validateUpdate(new Y.Doc(), u.subarray(0, cut), DEPTH), { name: 'InvalidUpdateError' }, `cut ${cut}`)
    }
    assert.throws(() => validateUpdate(new Y.Doc(), new Uint8Array(0), DEPTH), { name: 'InvalidUpdateError' })
  })

  it('measures nesting through the existing doc, not only inside the update', () => {
    const doc = new Y.Doc()
    let m = doc.getMap('m')
    for (let i = 0; i < DEPTH - 1; i++) { const c = new Y.Map<unknown>(); m.set('c', c); m = c }
    const before = Y.encodeStateVector(doc)
    const remote = new Y.Doc()
    Y.applyUpdate(remote, Y.encodeStateAsUpdate(doc))
    let rm = remote.getMap('m')
    for (let i = 0; i < DEPTH - 1; i++) rm = rm.get('c') as Y.Map<unknown>
    rm.set('leaf', 1) // depth DEPTH: allowed
    assert.doesNotThrow(() => validateUpdate(doc, Y.encodeStateAsUpdate(remote, before), DEPTH))
    rm.set('deeper', new Y.Map()) // a type at depth DEPTH, whose content would sit at DEPTH + 1
    const next = new Y.Map<unknown>()
    ;(rm.get('deeper') as Y.Map<unknown>).set('x', next)
    assert.throws(() => validateUpdate(doc, Y.encodeStateAsUpdate(remote, before), DEPTH), { name: 'InvalidUpdateError' })
  })

  it('counts string lengths in UTF-16 units as Yjs does, so clocks after multi-byte text stay right', () => {
    // One client writes multi-byte text, then a chain of nested maps, in one
    // update. The chain's parents are found by clock: if a string length were
    // miscounted, the lookups would miss and the chain would pass as shallow.
    const deep = (text: string, levels: number): Uint8Array => {
      const doc = new Y.Doc()
      doc.getText('t').insert(0, text)
      let m = doc.getMap('m')
      for (let i = 0; i < levels; i++) { const c = new Y.Map<unknown>(); m.set('c', c); m = c }
      m.set('leaf', 1)
      return Y.encodeStateAsUpdate(doc)
    }
    for (const text of ['plain ascii', 'é and ü', '😀 astral 𝄞', 'mixed a😀bé']) {
      assert.doesNotThrow(() => validateUpdate(new Y.Doc(), deep(text, DEPTH - 1), DEPTH), text)
      assert.throws(() => validateUpdate(new Y.Doc(), deep(text, DEPTH + 1), DEPTH), { name: 'InvalidUpdateError' }, text)
    }
  })
})
