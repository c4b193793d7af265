/**
 * What `meshdoc` exports on every platform. The entry points, in
 * `adapters/presets/`, add their platform's `createMeshNode`: `node.ts`
 * (`meshdoc`) and `browser.ts` (`meshdoc/browser`).
 */
export { MeshNode, type MeshNodeOptions, type MeshNodeEvents, type SyncProgress, type Libp2pPreset, type Libp2pPresetInput } from './mesh-node.js'
export { DocHandle, type DocHandleEvents, type DocStatus, type DocSyncProgress, type PeerDocStatus, type WhenSyncedOptions } from './doc-handle.js'
export { PeerOrigin, type PeerLink, type PeerConnection, type EngineCounters } from './sync/types.js'
export { Access, allowAll, type Policy } from './policy/types.js'
export type { PolicyRule, PolicyRules, PolicyFromRulesOptions } from './policy/rules.js'
export { DEFAULT_LIMITS, type Limits } from './security/limits.js'
export type { AuthorshipOptions } from './security/authorship.js'
export type { QuotaOptions, QuotaUsage } from './security/quota.js'
export type { StorageAdapter, StorageKey, StorageChunk } from './storage/types.js'
export { DocPersistence, type PersistenceOptions } from './storage/doc-persistence.js'
export { loadOrCreateIdentity, identityKey, IDENTITY_KEY } from './identity.js'
export { docKeyFor, docKeyHex, DEFAULT_MESH_KEY } from './protocol/doc-key.js'
export { PROTOCOL_ID, PROTOCOL_VERSION, MessageType, ByeReason, DeniedReason } from './protocol/constants.js'
export { encodeFrame, decodeFrame, type Frame } from './protocol/codec.js'
export { FrameReader, lengthPrefix } from './protocol/framing.js'
export * from './errors.js'
