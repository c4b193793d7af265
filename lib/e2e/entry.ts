/**
 * End-to-end encrypted documents for browsers (`meshdoc/e2e`): an opt-in, so
 * that an app without them bundles none of their code. The Node entry has
 * them built in.
 *
 * ```ts
 * import { createMeshNode } from 'meshdoc'
 * import { encryptedDocs } from 'meshdoc/e2e'
 * const node = await createMeshNode({ bootstrap: [gateway], encryptedDocs: encryptedDocs() })
 * const notes = await node.open('team/notes', { encrypted: true })   // a member: Bob added it
 * await notes.whenReady()
 * ```
 *
 * The browser member seals and signs with the node's own key (kept in
 * IndexedDB with its documents), and uses the portable primitives (@noble
 * and the libp2p keys, lib/e2e/primitives.ts).
 */
import type { E2eSupport } from '../mesh-node.js'
import { NodeMeshNode } from './node.js'
import { e2eSupport } from './support.js'

export { NodeMeshNode as EncryptedMeshNode } from './node.js'
export type { E2eSupport, EncryptedDocHandle, EncryptedDocMember, EncryptedOpenOptions } from '../mesh-node.js'

/** What `createMeshNode({ encryptedDocs })` of the browser entry takes: `encryptedDocs()`. */
export interface EncryptedDocs {
  readonly support: E2eSupport
  readonly Node: typeof NodeMeshNode
}

/** Encrypted documents for a browser node: pass it as `createMeshNode({ encryptedDocs: encryptedDocs() })`. */
export function encryptedDocs (): EncryptedDocs {
  return { support: e2eSupport(), Node: NodeMeshNode }
}
