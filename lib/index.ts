/**
 * meshdoc: offline-first, peer-to-peer sync of Yjs documents over libp2p.
 *
 * ```ts
 * import { createMeshNode } from 'meshdoc'
 * const node = await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
 * const handle = await node.open('notes/2026-11-22')
 * handle.doc.getText('body').insert(0, 'hello')
 * ```
 */
export { createMeshNode, MeshNode, type MeshNodeOptions, type MeshNodeEvents, type SyncProgress } from './mesh-node.js'
export { DocHandle, type DocHandleEvents, type DocStatus, type PeerDocStatus, type WhenSyncedOptions } from './doc-handle.js'
export { Repo, type RepoOptions } from './repo.js'
export { SyncEngine, type SyncEngineOptions } from './sync/engine.js'
export { DocSync, type DocSyncEvents } from './sync/doc-sync.js'
export { PeerOrigin, type PeerLink, type PeerConnection, type EngineCounters } from './sync/types.js'
export { Access, allowAll, type Policy } from './policy/types.js'
export { policyFromRules, type PolicyRule, type PolicyRules } from './policy/rules.js'
export { DEFAULT_LIMITS, type Limits } from './security/limits.js'
export type { AuthorshipOptions } from './security/authorship.js'
export type { StorageAdapter, StorageKey, StorageChunk } from './storage/types.js'
export { MemoryStorageAdapter } from './storage/memory-adapter.js'
export { DocPersistence, type PersistenceOptions } from './storage/doc-persistence.js'
export { loadOrCreateIdentity, IDENTITY_KEY } from './identity.js'
export { docKeyFor, docKeyHex, DEFAULT_MESH_KEY } from './protocol/doc-key.js'
export { PROTOCOL_ID, PROTOCOL_VERSION, MessageType, ByeReason, DeniedReason } from './protocol/constants.js'
export { encodeFrame, decodeFrame, type Frame } from './protocol/codec.js'
export { FrameReader, lengthPrefix } from './protocol/framing.js'
export * from './errors.js'
