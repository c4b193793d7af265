/**
 * `meshdoc/testing`: what adapter authors and app tests need.
 * - `MemoryNetwork`: a seeded in-memory transport for SyncEngines, with
 *   reordering, duplication, loss, partitions and backpressure.
 * - `runStorageAdapterTests`: the StorageAdapter compliance suite (mocha).
 */
export * from './memory-network.js'
export * from './storage-compliance.js'
