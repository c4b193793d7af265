/**
 * What `meshdoc` exports on every platform. The entry points, in
 * `adapters/presets/`, add their platform's `createMeshNode`: `node.ts`
 * (`meshdoc`) and `browser.ts` (`meshdoc/browser`).
 *
 * What apps use, only: the wire format (frame codecs, message types) is
 * `meshdoc/protocol`; the engine's transport seam and doc persistence, for
 * adapter authors, are in `meshdoc/testing`.
 */
export { MeshNode, type MeshNodeOptions, type MeshNodeEvents, type DocChange, type PeerRefusal, type SyncProgress, type EncryptedDocHandle, type EncryptedDocMember, type EncryptedOpenOptions, type Libp2pPreset, type Libp2pPresetInput } from './mesh-node.js'
export { DocHandle, type DocHandleEvents, type DocStatus, type DocSyncProgress, type PeerDocStatus, type WhenSyncedOptions } from './doc-handle.js'
export { PeerOrigin, type EngineCounters } from './sync/types.js'
export { Access, allowAll, type Policy } from './policy/types.js'
export type { PolicyRule, PolicyRules, PolicyFromRulesOptions } from './policy/rules.js'
export { DEFAULT_LIMITS, type Limits } from './security/limits.js'
export type { AuthorshipOptions } from './security/authorship.js'
export type { QuotaOptions, QuotaUsage } from './security/quota.js'
export type { StorageAdapter, StorageKey, StorageChunk } from './storage/types.js'
export { loadOrCreateIdentity, identityKey, IDENTITY_KEY } from './identity.js'
export { docKeyFor, docKeyHex, DEFAULT_MESH_KEY } from './protocol/doc-key.js'
// the protocol id (to find meshdoc's streams on a shared libp2p node) and the
// `denied` event's reasons; the rest of the wire is `meshdoc/protocol`
export { PROTOCOL_ID, DeniedReason, type DeniedReasonName } from './protocol/constants.js'
export * from './errors.js'
