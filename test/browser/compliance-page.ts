/**
 * Runs inside Chromium: the StorageAdapter compliance suite (the same one the
 * Node adapters run) against IndexedDbStorageAdapter on the browser's real
 * IndexedDB, under mocha's browser build. Results land in `window.results`.
 */
import { IndexedDbStorageAdapter } from '../../adapters/presets/browser.js'
import { runStorageAdapterTests } from '../../lib/testing/index.js'

let n = 0
runStorageAdapterTests('indexeddb (Chromium)', async () => {
  const dbName = `compliance-${Date.now()}-${n++}`
  return {
    adapter: new IndexedDbStorageAdapter({ dbName, persist: false }),
    open: async () => new IndexedDbStorageAdapter({ dbName, persist: false }),
    teardown: async () => {
      await new Promise<void>((resolve, reject) => {
        const req = indexedDB.deleteDatabase(dbName)
        req.onsuccess = () => { resolve() }
        req.onerror = () => { reject(req.error) }
        req.onblocked = () => { resolve() }
      })
    }
  }
})
