/**
 * The storage subsystem (DocPersistence): group commit, acknowledgement only
 * after commit, failure handling, compaction order and bounds, pending structs.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { DocPersistence, type PersistenceOptions } from '../lib/storage/doc-persistence.js'
import { MemoryStorageAdapter } from '../lib/storage/memory-adapter.js'
import type { StorageAdapter } from '../lib/storage/types.js'
import { gate, InstrumentedAdapter } from './helpers/storage-wrappers.js'

const DOC = 'feedc0de'

async function open (adapter: StorageAdapter, opts: PersistenceOptions = {}): Promise<{ doc: Y.Doc, p: DocPersistence }> {
  const doc = new Y.Doc()
  const p = new DocPersistence(adapter, DOC, doc, opts)
  await p.load()
  doc.on('afterTransactionCleanup', tr => { p.absorb(tr) })
  return { doc, p }
}

async function reload (adapter: StorageAdapter): Promise<Y.Doc> {
  const doc = new Y.Doc()
  await new DocPersistence(adapter, DOC, doc).load()
  return doc
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

describe('DocPersistence', () => {
  it('a burst of transactions, each flushed, is stored in a few commits (group commit)', async () => {
    const store = new InstrumentedAdapter(new MemoryStorageAdapter())
    const { doc, p } = await open(store)
    const g = gate()
    store.beforeSave = async () => { await g.promise }
    const text = doc.getText('t')
    const flushes: Array<Promise<void>> = []
    for (let i = 0; i < 200; i++) {
      text.insert(i, 'x')
      flushes.push(p.flush())
    }
    await tick()
    g.open()
    await Promise.all(flushes)
    const saves = store.keys('save').length
    assert.ok(saves >= 1 && saves <= 2, `200 flushed transactions took ${saves} commits`)
    assert.equal((await reload(store)).getText('t').toString(), 'x'.repeat(200))
  })

  it('flush resolves only after the adapter committed', async () => {
    const store = new InstrumentedAdapter(new MemoryStorageAdapter())
    const { doc, p } = await open(store)
    const g = gate()
    store.beforeSave = async () => { await g.promise }
    doc.getMap('m').set('k', 1)
    let resolved = false
    const f = p.flush().then(() => { resolved = true })
    for (let i = 0; i < 5; i++) await tick()
    assert.equal(resolved, false, 'flush resolved before the save did')
    assert.equal(p.dirty, true, 'a commit in flight is not saved yet')
    g.open()
    await f
    assert.equal(p.dirty, false)
  })

  it('a failed commit rejects every waiter with StorageError, acknowledges nothing, and the next flush stores it', async () => {
    const store = new InstrumentedAdapter(new MemoryStorageAdapter())
    const { doc, p } = await open(store)
    const g = gate()
    let fail = true
    store.beforeSave = async () => {
      await g.promise
      if (fail) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
    }
    doc.getMap('m').set('a', 1)
    const first = p.flush()
    await tick()
    // nothing new absorbed: this waiter rides on the commit in flight and must share its fate
    const rider = p.flush()
    g.open()
    await assert.rejects(first, (err: Error) => err.name === 'StorageError')
    await assert.rejects(rider, (err: Error) => err.name === 'StorageError')
    assert.equal(p.dirty, true, 'the failed change is still waiting')
    assert.equal((await reload(store)).getMap('m').get('a'), undefined)
    fail = false
    doc.getMap('m').set('b', 2)
    await p.flush()
    const back = (await reload(store)).getMap('m')
    assert.equal(back.get('a'), 1, 'the change from the failed commit was retried')
    assert.equal(back.get('b'), 2)
  })

  it('compaction commits the snapshot before deleting, and deletes only chunks it loaded or wrote', async () => {
    const mem = new MemoryStorageAdapter()
    // a chunk another writer stored before we opened (we will load it)
    const other = await open(mem)
    other.doc.getMap('m').set('other-before', 1)
    await other.p.flush()
    const readAtOpen = (await mem.loadRange([DOC])).map(c => c.key.join('/'))
    const store = new InstrumentedAdapter(mem)
    const { doc, p } = await open(store, { compactAfterRecords: 1_000_000 })
    for (let i = 0; i < 10; i++) { doc.getMap('m').set(`k${i}`, i); await p.flush() }
    const g = gate()
    store.beforeSave = async (key) => { if (key[1] === 's') await g.promise }
    const compaction = p.compact()
    await tick()
    // written by the other writer while our compaction runs: we never read it
    other.doc.getMap('m').set('other-during', 2)
    await other.p.flush()
    const foreign = (await mem.loadRange([DOC])).map(c => c.key.join('/')).filter(k => !readAtOpen.includes(k) && !store.keys('save', 'start').includes(k))
    assert.equal(foreign.length, 1)
    assert.deepEqual(store.keys('remove', 'start'), [], 'nothing deleted before the snapshot committed')
    g.open()
    await compaction
    const snapshotDone = store.calls.findIndex(c => c.op === 'save' && c.key[1] === 's' && c.phase === 'done')
    const firstRemove = store.calls.findIndex(c => c.op === 'remove')
    assert.ok(snapshotDone >= 0 && firstRemove > snapshotDone, 'the snapshot committed before the first delete')
    const readOrWritten = new Set([...readAtOpen, ...store.keys('save')])
    assert.equal(store.keys('remove').length, 11, 'deleted the chunk it loaded and the 10 records it wrote')
    for (const k of store.keys('remove')) assert.ok(readOrWritten.has(k), `deleted ${k}, which it never read or wrote`)
    const left = (await mem.loadRange([DOC])).map(c => c.key.join('/'))
    assert.ok(left.includes(foreign[0]), 'the record written during the compaction is still there')
    assert.equal(left.length, 2, 'that record and the new snapshot')
    const back = (await reload(mem)).getMap('m')
    assert.equal(back.get('other-before'), 1)
    assert.equal(back.get('other-during'), 2)
    for (let i = 0; i < 10; i++) assert.equal(back.get(`k${i}`), i)
  })

  it('compaction deletes in bounded batches', async () => {
    const store = new InstrumentedAdapter(new MemoryStorageAdapter())
    const { doc, p } = await open(store, { compactAfterRecords: 1_000_000, compactBatchSize: 8 })
    for (let i = 0; i < 60; i++) { doc.getMap('m').set(`k${i}`, i); await p.flush() }
    store.beforeRemove = async () => { await tick() }
    await p.compact()
    assert.equal(store.keys('remove').length, 60)
    assert.ok(store.maxRemovesInFlight <= 8, `${store.maxRemovesInFlight} deletes in flight at once`)
    assert.ok(store.maxRemovesInFlight >= 2, 'deletes within a batch run together')
  })

  it('a failed snapshot deletes nothing', async () => {
    const store = new InstrumentedAdapter(new MemoryStorageAdapter())
    const { doc, p } = await open(store, { compactAfterRecords: 1_000_000 })
    for (let i = 0; i < 5; i++) { doc.getMap('m').set(`k${i}`, i); await p.flush() }
    store.beforeSave = async (key) => { if (key[1] === 's') throw Object.assign(new Error('EIO'), { code: 'EIO' }) }
    await assert.rejects(p.compact(), (err: Error) => err.name === 'StorageError')
    assert.deepEqual(store.keys('remove', 'start'), [])
    assert.equal((await store.loadRange([DOC])).length, 5)
  })

  it('commits keep flowing while a compaction waits on its snapshot', async () => {
    const store = new InstrumentedAdapter(new MemoryStorageAdapter())
    const { doc, p } = await open(store, { compactAfterRecords: 1_000_000 })
    doc.getMap('m').set('a', 1)
    await p.flush()
    const g = gate()
    store.beforeSave = async (key) => { if (key[1] === 's') await g.promise }
    const compaction = p.compact()
    doc.getMap('m').set('b', 2)
    await p.flush() // would hang if commits queued behind the compaction
    g.open()
    await compaction
    const back = (await reload(store)).getMap('m')
    assert.equal(back.get('a'), 1)
    assert.equal(back.get('b'), 2)
  })

  it('compacts on its own once enough records accumulate, and on load', async () => {
    const mem = new MemoryStorageAdapter()
    const { doc, p } = await open(mem, { compactAfterRecords: 1_000_000 })
    for (let i = 0; i < 20; i++) { doc.getMap('m').set(`k${i}`, i); await p.flush() }
    assert.equal((await mem.loadRange([DOC])).length, 20)
    const again = await open(mem, { compactAfterRecords: 8 })
    await again.p.close() // waits for the compaction load started
    assert.equal((await mem.loadRange([DOC])).length, 1, 'load compacted 20 records')
    for (let i = 0; i < 8; i++) { again.doc.getMap('m').set(`j${i}`, i); await again.p.flush() }
    await again.p.close()
    const chunks = await mem.loadRange([DOC])
    assert.ok(chunks.length <= 2, `after 8 more records: ${chunks.length} chunks`)
    assert.equal((await reload(mem)).getMap('m').size, 28)
  })

  it('remote structs Yjs holds back for missing dependencies are stored before flush resolves', async () => {
    const source = new Y.Doc()
    const updates: Uint8Array[] = []
    source.on('update', (u: Uint8Array) => { updates.push(u) })
    source.getText('t').insert(0, 'hello ')
    source.getText('t').insert(6, 'world')
    source.getText('t').delete(0, 1)
    const mem = new MemoryStorageAdapter()
    const { doc, p } = await open(mem)
    Y.applyUpdate(doc, updates[1], 'peer') // depends on updates[0]: held back
    Y.applyUpdate(doc, updates[2], 'peer') // a delete of something we do not have yet
    assert.ok(doc.store.pendingStructs !== null, 'the test needs pending structs')
    assert.equal(p.dirty, true, 'held-back structs count as unsaved')
    await p.flush()
    // the process dies here; a new one loads the store and then gets the missing update
    const back = await reload(mem)
    Y.applyUpdate(back, updates[0], 'peer')
    assert.equal(back.getText('t').toString(), 'ello world')
  })

  describe('remote updates stored as received (expectUpdate)', () => {
    const peer = { peer: 'remote' }
    const applyRemote = (doc: Y.Doc, p: DocPersistence, u: Uint8Array): void => {
      p.expectUpdate(peer, u)
      try { Y.applyUpdate(doc, u, peer) } finally { p.expectUpdate(undefined) }
    }
    const records = async (mem: MemoryStorageAdapter): Promise<Uint8Array[]> =>
      (await mem.loadRange([DOC])).filter(c => c.key[1] === 'r').map(c => c.data)

    it('the record holds the update bytes themselves, and reloads to the same doc', async () => {
      const source = new Y.Doc()
      source.getText('t').insert(0, 'from a peer')
      source.getMap('m').set('k', 'v')
      const u = Y.encodeStateAsUpdate(source)
      const mem = new MemoryStorageAdapter()
      const { doc, p } = await open(mem)
      applyRemote(doc, p, u)
      assert.equal(p.dirty, true)
      await p.flush()
      const stored = await records(mem)
      assert.equal(stored.length, 1)
      assert.deepEqual(stored[0], Uint8Array.from([1, ...u]), 'a V1 chunk of exactly the bytes applied')
      const back = await reload(mem)
      assert.equal(back.getText('t').toString(), 'from a peer')
      assert.equal(back.getMap('m').get('k'), 'v')
    })

    it('local changes next to a remote update are stored too, and a duplicate stores nothing', async () => {
      const source = new Y.Doc()
      source.getText('t').insert(0, 'remote ')
      const u = Y.encodeStateAsUpdate(source)
      const mem = new MemoryStorageAdapter()
      const { doc, p } = await open(mem)
      applyRemote(doc, p, u)
      doc.getText('t').insert(doc.getText('t').length, 'local')
      await p.flush()
      const before = (await records(mem)).length
      applyRemote(doc, p, u) // already have it: nothing changes
      assert.equal(p.dirty, false, 'a duplicate is nothing to store')
      await p.flush()
      assert.equal((await records(mem)).length, before)
      assert.equal((await reload(mem)).getText('t').toString(), 'remote local')
    })

    it('a remote update Yjs holds back is stored (in its own bytes) before flush resolves', async () => {
      const source = new Y.Doc()
      const updates: Uint8Array[] = []
      source.on('update', (u: Uint8Array) => { updates.push(u) })
      source.getText('t').insert(0, 'hello ')
      source.getText('t').insert(6, 'world')
      const mem = new MemoryStorageAdapter()
      const { doc, p } = await open(mem)
      applyRemote(doc, p, updates[1]) // depends on updates[0]: held back, the doc does not change
      assert.ok(doc.store.pendingStructs !== null, 'the test needs pending structs')
      assert.equal(p.dirty, true, 'held-back structs count as unsaved')
      await p.flush()
      const back = await reload(mem)
      Y.applyUpdate(back, updates[0], 'peer')
      assert.equal(back.getText('t').toString(), 'hello world')
    })

    it('an apply that threw part-way is stored from the struct store, not as its bytes', async () => {
      const mem = new MemoryStorageAdapter()
      const { doc, p } = await open(mem)
      // stand-in for an update Yjs integrated in part before throwing: the
      // transaction carries what it did integrate, the bytes would not load again
      const unloadable = Uint8Array.of(1, 1, 200, 1, 0, 255, 255, 255, 7)
      const partial = new Y.Doc()
      partial.getText('t').insert(0, 'what got in')
      p.expectUpdate(peer, unloadable)
      try {
        Y.applyUpdate(doc, Y.encodeStateAsUpdate(partial), peer)
        p.applyFailed()
      } finally { p.expectUpdate(undefined) }
      await p.flush()
      const stored = await records(mem)
      assert.equal(stored.length, 1)
      assert.notDeepEqual(stored[0], Uint8Array.from([1, ...unloadable]))
      assert.equal((await reload(mem)).getText('t').toString(), 'what got in')
    })

    it('a failed commit keeps the remote bytes for the next flush', async () => {
      const store = new InstrumentedAdapter(new MemoryStorageAdapter())
      const { doc, p } = await open(store)
      let fail = true
      store.beforeSave = async () => { if (fail) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }) }
      const source = new Y.Doc()
      source.getText('t').insert(0, 'must not be lost')
      applyRemote(doc, p, Y.encodeStateAsUpdate(source))
      await assert.rejects(p.flush(), (err: Error) => err.name === 'StorageError')
      assert.equal(p.dirty, true)
      fail = false
      await p.flush()
      assert.equal((await reload(store)).getText('t').toString(), 'must not be lost')
    })
  })

  it('one unreadable part of a record does not cost the others, and the record is kept', async () => {
    const mem = new MemoryStorageAdapter()
    const good = new Y.Doc()
    good.getText('t').insert(0, 'still here')
    const u = Y.encodeStateAsUpdate(good)
    // a record of two parts (tag 3): garbage first, then a good V1 update
    const garbage = Uint8Array.of(255, 255, 255)
    const record = Uint8Array.from([3, 2, 1, garbage.length, ...garbage, 1, u.length, ...u])
    await mem.save([DOC, 'r', '0000'], record)
    const { doc, p } = await open(mem)
    assert.equal(doc.getText('t').toString(), 'still here')
    assert.equal(p.chunkCount, 0, 'not remembered, so a compaction never deletes it')
  })

  it('an unreadable chunk is skipped on load and never deleted', async () => {
    const mem = new MemoryStorageAdapter()
    await mem.save([DOC, 'r', '0-garbage'], Uint8Array.of(1, 0xff, 0xff, 0xff))
    const { doc, p } = await open(mem, { compactAfterRecords: 1_000_000 })
    doc.getMap('m').set('k', 1)
    await p.flush()
    await p.compact()
    assert.ok(await mem.load([DOC, 'r', '0-garbage']) !== undefined)
    assert.equal((await reload(mem)).getMap('m').get('k'), 1)
  })

  describe('autoCommit', () => {
    it('commits each burst of transactions once, says saved after the commit, and failed when it fails', async () => {
      const store = new InstrumentedAdapter(new MemoryStorageAdapter())
      const doc = new Y.Doc()
      const p = new DocPersistence(store, DOC, doc)
      await p.load()
      const events: string[] = []
      const stop = p.autoCommit({ saved: () => { events.push('saved') }, failed: (err) => { events.push(`failed: ${err.name}`) } })
      for (let i = 0; i < 50; i++) doc.getText('t').insert(i, 'x')
      assert.deepEqual(events, [], 'nothing is said before the commit')
      await until(() => events.length > 0)
      assert.deepEqual(events, ['saved'], 'fifty transactions in one tick: one commit')
      assert.equal(store.calls.filter(c => c.op === 'save' && c.phase === 'done').length, 1)
      assert.equal((await reload(store)).getText('t').length, 50, 'saved means stored')

      store.beforeSave = async () => { throw new Error('disk full') }
      doc.getText('t').insert(0, 'y')
      await until(() => events.length > 1)
      assert.equal(events[1], 'failed: StorageError')
      assert.ok(p.dirty, 'the failed change is kept for the next commit')

      store.beforeSave = undefined
      stop()
      doc.getText('t').insert(0, 'z')
      await tick(); await tick()
      assert.equal(events.length, 2, 'stopped: no more events')
      await p.flush()
      assert.ok((await reload(store)).getText('t').toString().includes('y'), 'the change absorbed before stop() is still stored by flush()')
    })
  })
})

async function until (cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await tick()
  assert.ok(cond(), 'condition never held')
}
