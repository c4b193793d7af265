/** `meshdoc/adapters/memory-storage`: the in-memory reference StorageAdapter. */
export { MemoryStorageAdapter } from '../../lib/storage/memory-adapter.js'
