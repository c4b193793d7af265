import 'fake-indexeddb/auto'
import { IndexedDbStorageAdapter } from '../adapters/indexeddb-storage/index.js'
import { runStorageAdapterTests } from '../lib/testing/storage-compliance.js'

let n = 0
runStorageAdapterTests('indexeddb (fake-indexeddb)', async () => {
  const dbName = `meshdoc-compliance-${n++}`
  return {
    adapter: new IndexedDbStorageAdapter({ dbName }),
    open: async () => new IndexedDbStorageAdapter({ dbName }),
    teardown: async () => {
      await new Promise<void>((resolve, reject) => {
        const req = indexedDB.deleteDatabase(dbName)
        req.onsuccess = () => { resolve() }
        req.onerror = () => { reject(req.error) }
      })
    }
  }
})
