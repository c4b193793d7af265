/**
 * IndexedDB specifics (under fake-indexeddb): every write transaction asks for
 * durability 'strict', bursts share transactions, persistent storage is
 * requested, and two handles on one database writing and compacting one
 * document at the same time lose nothing.
 */
import 'fake-indexeddb/auto'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { IndexedDbStorageAdapter } from '../adapters/indexeddb-storage/index.js'
import { seeded } from '../lib/testing/storage-compliance.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'

const SEED = process.env.MESHDOC_SEED ?? Math.floor(Math.random() * 2 ** 32).toString(16)
let n = 0
const freshName = (): string => `meshdoc-idb-${process.pid}-${n++}`

describe('IndexedDB storage', function () {
  this.timeout(60_000)
  const opened: IndexedDbStorageAdapter[] = []
  const adapter = (dbName: string, persist = false): IndexedDbStorageAdapter => {
    const a = new IndexedDbStorageAdapter({ dbName, persist })
    opened.push(a)
    return a
  }
  afterEach(async () => { for (const a of opened.splice(0)) await a.close() })

  it('opens every read-write transaction with durability \'strict\', and a burst shares one', async () => {
    const proto = IDBDatabase.prototype
    const original = proto.transaction
    const seen: Array<{ mode: string, durability: string | undefined }> = []
    proto.transaction = function (this: IDBDatabase, names: string | string[], mode?: IDBTransactionMode, options?: IDBTransactionOptions) {
      seen.push({ mode: mode ?? 'readonly', durability: options?.durability })
      return original.call(this, names, mode, options)
    } as typeof proto.transaction
    try {
      const a = adapter(freshName())
      await Promise.all(Array.from({ length: 50 }, async (_, i) => { await a.save(['doc', 'r', String(i)], Uint8Array.of(i)) }))
      await a.remove(['doc', 'r', '0'])
      await a.removeRange(['doc', 'r'])
      assert.equal((await a.loadRange(['doc'])).length, 0)
    } finally {
      proto.transaction = original
    }
    const writes = seen.filter(s => s.mode === 'readwrite')
    assert.ok(writes.length >= 3, `${writes.length} write transactions`)
    assert.ok(writes.length <= 4, `50 saves in one burst took ${writes.length - 2} transactions`)
    for (const w of writes) assert.equal(w.durability, 'strict')
  })

  it('asks for persistent storage where the browser offers it', async () => {
    const nav = globalThis.navigator as unknown as { storage?: unknown }
    const had = Object.getOwnPropertyDescriptor(nav, 'storage')
    let asked = 0
    Object.defineProperty(nav, 'storage', {
      configurable: true,
      value: { persisted: async () => false, persist: async () => { asked++; return true } }
    })
    try {
      const a = adapter(freshName(), true)
      assert.equal(await a.persisted, true)
      assert.equal(asked, 1)
    } finally {
      if (had !== undefined) Object.defineProperty(nav, 'storage', had)
      else delete nav.storage
    }
    const b = adapter(freshName(), true)
    assert.equal(await b.persisted, undefined, 'no navigator.storage: nothing to ask')
  })

  it('two handles on one database, writing and compacting one document at once, lose no flushed update', async () => {
    const rnd = seeded(`idb-two-${SEED}`)
    const dbName = freshName()
    const flushed = new Set<string>()
    const writer = async (name: string): Promise<void> => {
      let a = adapter(dbName)
      let doc = new Y.Doc()
      let p = new DocPersistence(a, 'd0c', doc, { compactAfterRecords: 2 + rnd.int(3), compactBatchSize: 1 + rnd.int(3) })
      await p.load()
      doc.on('afterTransactionCleanup', tr => { p.absorb(tr) })
      const pending: Array<Promise<void>> = []
      for (let i = 0; i < 300; i++) {
        const key = `${name}${i}`
        doc.getMap('m').set(key, i)
        pending.push(p.flush().then(() => { flushed.add(key) }))
        const roll = rnd.int(12)
        if (roll < 3) await Promise.all(pending)
        else if (roll === 3) pending.push(p.compact())
        else if (roll === 4) {
          // a tab reload: a new connection reads the other tab's chunks and may delete them later
          await p.close()
          a = adapter(dbName)
          doc = new Y.Doc()
          p = new DocPersistence(a, 'd0c', doc, { compactAfterRecords: 2 + rnd.int(3) })
          await p.load()
          const pp = p
          doc.on('afterTransactionCleanup', tr => { pp.absorb(tr) })
        } else await new Promise(resolve => setImmediate(resolve))
      }
      await Promise.all(pending)
      await p.close()
    }
    await Promise.all([writer('a'), writer('b')])
    const check = new Y.Doc()
    await new DocPersistence(adapter(dbName), 'd0c', check).load()
    const missing = [...flushed].filter(k => !check.getMap('m').has(k))
    assert.deepEqual(missing, [], `seed ${SEED}`)
    assert.equal(flushed.size, 600)
    assert.ok((await adapter(dbName).loadRange(['d0c'])).length < 40, 'compaction kept the store small')
  })
})
