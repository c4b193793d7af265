/**
 * `meshdoc/testing`: what adapter authors and app tests need.
 * - `MemoryNetwork`: a seeded in-memory transport for SyncEngines, with
 *   reordering, duplication, loss, partitions and backpressure.
 * - `runStorageAdapterTests`: the StorageAdapter compliance suite (mocha).
 * - `PeerLink` / `PeerConnection` (the engine's transport seam) and
 *   `DocPersistence` (one doc kept in a StorageAdapter), for adapter authors.
 */
export * from './memory-network.js'
export * from './storage-compliance.js'
// the engine's transport seam (what `MemoryNetwork` and `StreamLink` implement)
export type { PeerLink, PeerConnection } from '../sync/types.js'
// how the engine persists one doc in a StorageAdapter (the compliance suite drives it)
export { DocPersistence, type PersistenceOptions } from '../storage/doc-persistence.js'
