/**
 * `node.on('change')`: fired once a change is durably stored, for the app's
 * own edits (origin 'local') and for a peer's (origin: its PeerId), before
 * the peer's ACK; a gateway serving by key names a doc it knows by id, else
 * `key:<hex>` (by the id a writer's grant CLAIM or its store gives, when it
 * has one); a listener that throws does not cost the peer its ACK.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { docKeyFor, docKeyHex, issueGrant, MemoryStorageAdapter, type DocChange, type StorageAdapter, type StorageKey } from '../adapters/presets/node.js'
import { applyChunk } from '../lib/storage/chunk-format.js'
import { connect, NodePool, waitFor } from './helpers/mesh-nodes.js'

/** Storage that remembers, synchronously, every chunk whose save has resolved. */
class CommittedStorage extends MemoryStorageAdapter {
  readonly committed = new Map<string, { key: StorageKey, data: Uint8Array }>()
  override async save (key: StorageKey, data: Uint8Array): Promise<void> {
    await super.save(key, data)
    this.committed.set(JSON.stringify(key), { key, data })
  }

  /** The doc `keyHex` as the saves that resolved so far hold it. */
  stored (keyHex: string): Y.Doc {
    const doc = new Y.Doc()
    for (const c of this.committed.values()) if (c.key[0] === keyHex && (c.key[1] === 'r' || c.key[1] === 's')) applyChunk(doc, c.data, null)
    return doc
  }
}

/** True when everything `update` adds is in `doc` already. */
function holds (doc: Y.Doc, update: Uint8Array): boolean {
  return Y.decodeUpdate(Y.diffUpdate(update, Y.encodeStateVector(doc))).structs.length === 0
}

describe('node.on(\'change\'): changes as they are durably stored', function () {
  this.timeout(30_000)
  const pool = new NodePool()
  afterEach(async () => { await pool.stopAll() })

  it('a local edit and a peer\'s edit each fire once their update is in storage, with their origin', async () => {
    const storageA = new CommittedStorage()
    const a = await pool.create({ storage: storageA, antiEntropyIntervalMs: 0 })
    const b = await pool.create({ antiEntropyIntervalMs: 0 })
    const changes: Array<DocChange & { storedThen: boolean, textThen: string }> = []
    a.on('change', (c) => {
      // what storage held the moment the event fired
      const stored = storageA.stored(c.keyHex)
      changes.push({ ...c, storedThen: holds(stored, c.update), textThen: stored.getText('t').toString() })
    })
    const ha = await a.open('notes/feed')
    ha.doc.getText('t').insert(0, 'local ')
    await waitFor(() => changes.length === 1, { what: 'the local change' })
    assert.equal(changes[0].origin, 'local')
    assert.equal(changes[0].docId, 'notes/feed')
    assert.equal(changes[0].keyHex, docKeyHex(docKeyFor('notes/feed')))
    assert.ok(changes[0].storedThen, 'the local update was in storage when the event fired')
    assert.equal(changes[0].textThen, 'local ')
    assert.equal(changes[0].doc, ha.doc)

    await connect(b, a)
    const hb = await b.open('notes/feed')
    await hb.whenSynced({ peer: a.peerId, timeout: 10_000 })
    const before = changes.length
    hb.doc.getText('t').insert(hb.doc.getText('t').length, 'remote')
    // B's ACK from A comes after A stored it: by then the event has fired
    await hb.whenSynced({ peer: a.peerId, timeout: 10_000 })
    const remote = changes.slice(before).filter(c => c.origin !== 'local')
    assert.equal(remote.length, 1, JSON.stringify(changes.map(c => c.origin)))
    assert.equal(remote[0].origin, b.peerId)
    assert.ok(remote[0].storedThen, 'the peer\'s update was in storage when the event fired')
    assert.equal(remote[0].textThen, 'local remote')
    assert.equal(ha.doc.getText('t').toString(), 'local remote')
  })

  it('nothing is computed while nobody listens, and a listener that throws costs the peer nothing', async () => {
    const a = await pool.create({ antiEntropyIntervalMs: 0 })
    const b = await pool.create({ antiEntropyIntervalMs: 0 })
    await connect(b, a)
    const ha = await a.open('notes/throwing')
    const hb = await b.open('notes/throwing')
    hb.doc.getText('t').insert(0, 'nobody listens')
    await hb.whenSynced({ peer: a.peerId, timeout: 10_000 })
    let calls = 0
    const thrower = (): void => { calls++; throw new Error('a broken listener') }
    a.on('change', thrower)
    hb.doc.getText('t').insert(0, 'still acknowledged: ')
    await hb.whenSynced({ peer: a.peerId, timeout: 10_000 })
    assert.equal(calls, 1)
    a.off('change', thrower)
    assert.equal(ha.doc.getText('t').toString(), 'still acknowledged: nobody listens')
  })

  it('a gateway serving by key reports key:<hex> for a doc it cannot name, and the id for one its store names', async () => {
    const storage: StorageAdapter = new MemoryStorageAdapter()
    // a doc this store names (opened by id once, as `meshdoc import` or `--open` do)
    const first = await pool.create({ storage, listen: [] })
    const named = await first.open('sensors/named')
    named.doc.getText('t').insert(0, 'x')
    await first.stop()
    const gw = await pool.create({ storage, serveAllDocs: true, antiEntropyIntervalMs: 0 })
    const dev = await pool.create({ antiEntropyIntervalMs: 0 })
    const seen: DocChange[] = []
    gw.on('change', (c) => { seen.push(c) })
    await connect(dev, gw)
    for (const id of ['sensors/named', 'sensors/unnamed']) {
      const h = await dev.open(id)
      h.doc.getText('t').insert(0, id)
      await h.whenSynced({ peer: gw.peerId, timeout: 10_000 })
    }
    const ids = new Set(seen.filter(c => c.origin === dev.peerId).map(c => c.docId))
    assert.ok(ids.has('sensors/named'), [...ids].join(' '))
    const unnamed = [...ids].filter(i => i !== 'sensors/named')
    assert.equal(unnamed.length, 1)
    assert.match(unnamed[0], /^key:[0-9a-f]{32}$/)
    assert.ok(seen.every(c => c.keyHex.length === 32))
  })

  it('a gateway that checks grants names a doc by the id its writer claimed (CLAIM)', async () => {
    const owner = await generateKeyPair('Ed25519')
    const gw = await pool.create({ trust: { owners: [peerIdFromPrivateKey(owner).toString()] }, serveAllDocs: true, antiEntropyIntervalMs: 0 })
    const key = await generateKeyPair('Ed25519')
    const token = await issueGrant({ key: owner, audience: peerIdFromPrivateKey(key).toString(), access: 'write', docs: ['sensors/**'], expiresAt: Date.now() + 3_600_000 })
    const dev = await pool.create({ privateKey: key, grants: [token], bootstrap: [gw.multiaddrs[0]], antiEntropyIntervalMs: 0 })
    const seen: DocChange[] = []
    gw.on('change', (c) => { seen.push(c) })
    await waitFor(() => gw.peers.includes(dev.peerId))
    const h = await dev.open('sensors/claimed')
    h.doc.getText('t').insert(0, 'x')
    await h.whenSynced({ peer: gw.peerId, timeout: 10_000 })
    assert.deepEqual([...new Set(seen.map(c => c.docId))], ['sensors/claimed'])
    assert.equal(gw.openDocs.length, 0, 'served by key all along')
  })
})
