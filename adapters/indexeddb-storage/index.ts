/** `meshdoc/adapters/indexeddb-storage`: durable storage in one IndexedDB database, for browsers. */
export { IndexedDbStorageAdapter, strictStore, type IndexedDbStorageOptions } from './idb-adapter.js'
