/**
 * The HTTP document API on the node (doc-api.ts is the HTTP side): a doc read
 * as JSON or as a V1 update, and a V1 update applied as the gateway's own
 * write. It uses the copy the node holds (`ServingRepo.borrow`: the app's,
 * or the one its peers' sessions hold), so a write reaches every peer syncing
 * the doc as a local edit does (and the `change` event calls it `local`). A
 * doc not loaded is loaded as served by key, as if a peer had asked, and
 * unloads again once idle; a read loads nothing when nothing is stored.
 *
 * A write meets what a peer's update meets (lib/sync/inbound.ts): the strict
 * V1 validator with the node's caps (items, nesting) before anything touches
 * the doc, authorship (no new structs under a clientID a connected peer
 * holds), and the pending-struct cap. It resolves once storage committed it.
 * Access is the policy's answer for the gateway's own PeerId: docs/SECURITY.md,
 * "The HTTP document API".
 */
import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { ClosedError, InvalidUpdateError, ProtocolError } from '../errors.js'
import type { MeshNode } from '../mesh-node.js'
import { ServingRepo } from '../serving-repo.js'
import { Access, type Policy } from '../policy/types.js'
import { validateUpdate } from '../security/validate-update.js'
import type { EngineDoc } from '../sync/engine-doc.js'
import { pendingBytes } from '../yjs/update-batch.js'
import { DocRefusedError, type DocApiStore, type StoredWrite } from './doc-api.js'
import { docToJSON, isEmptyDoc } from './doc-json.js'

/** The origin of the API's writes: no peer's, so the node sends them to every peer holding the doc. */
export const DOC_API_ORIGIN = Object.freeze({ source: 'meshdoc document api' })

/** a borrowed doc closed between its load and its use this many times in a row: give up */
const ATTEMPTS = 3

/** The API's store on `node`; what it may do with a doc is what `policy` gives the node's own PeerId (default: everything). */
export function nodeDocStore (node: MeshNode, policy?: Policy): DocApiStore {
  const limits = node.engine.limits
  return {
    maxUpdateBytes: limits.maxUpdateBytes,
    access: (docId) => {
      if (policy === undefined) return Access.WRITE
      try {
        return policy(node.peerId, docId)
      } catch {
        return Access.NONE // as the engine takes a throwing policy
      }
    },
    json: async (docId) => await withDoc(node, docId, true, (doc) => {
      if (isEmptyDoc(doc.doc)) return undefined
      // a copy: docToJSON gives each root its inferred type for good, which the live doc must keep open
      const copy = new Y.Doc()
      try {
        Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc.doc))
        return docToJSON(copy)
      } finally {
        copy.destroy()
      }
    }),
    update: async (docId, since) => {
      if (since !== undefined) checkStateVector(since, limits.maxStateVectorClients)
      return await withDoc(node, docId, true, (doc) => isEmptyDoc(doc.doc) ? undefined : Y.encodeStateAsUpdate(doc.doc, since))
    },
    write: async (docId, update) => {
      const done = await withDoc(node, docId, false, (doc) => apply(node, doc, update))
      if (done === undefined) throw new ClosedError(`document ${docId} cannot be loaded here`)
      await done.stored
      return done.result
    }
  }
}

/** Run `use` on the doc in the turn it is found open (retrying when it closed meanwhile); undefined when `ifStored` and it is not. */
async function withDoc<T> (node: MeshNode, docId: string, ifStored: boolean, use: (doc: EngineDoc) => T): Promise<T | undefined> {
  // an end-to-end encrypted doc is never read or written in clear, here either
  if (node.e2eHere?.isEncrypted(docId) === true) throw new DocRefusedError('encrypted', `document ${docId} is end-to-end encrypted here: its content is not readable on this node`)
  for (let attempt = 1; ; attempt++) {
    const repo = node.repo
    // a gateway serves docs by key (serveAllDocs): its repo loads a doc by key for us
    if (!(repo instanceof ServingRepo)) throw new ClosedError('the document API needs a node that serves docs by key (serveAllDocs)')
    const doc = await repo.borrow(docId, ifStored)
    if (doc === undefined) return undefined
    if (!doc.closed) return use(doc)
    if (attempt === ATTEMPTS) throw new ClosedError(`document ${docId} closed ${ATTEMPTS} times while it was loaded`)
  }
}

/** Validate and apply `update` to the open `doc` (synchronously), as inbound.ts does a peer's; `stored` resolves once it is committed. */
function apply (node: MeshNode, doc: EngineDoc, update: Uint8Array): { stored: Promise<void>, result: StoredWrite } {
  const limits = node.engine.limits
  let checked
  try {
    checked = validateUpdate(doc.doc, update, limits.maxNestingDepth, limits.maxItemsPerUpdate)
  } catch (err) {
    if (err instanceof ProtocolError) throw new DocRefusedError('too_many_items', `${err.message}: split it (a meshdoc sender never puts more in one update)`)
    throw new DocRefusedError('malformed_update', err instanceof InvalidUpdateError ? err.message : 'the update does not decode as Yjs V1')
  }
  // new structs under a clientID that a connected peer holds are a forgery, from us as from any peer
  const forged = doc.authors?.admit(node.peerId, checked.authors, doc.sessions)
  if (forged !== undefined) throw new DocRefusedError('authorship', `the update adds structs under clientID ${forged}, which a connected peer writes under`)
  doc.persistence?.expectUpdate(DOC_API_ORIGIN, checked.bytes)
  try {
    Y.applyUpdate(doc.doc, checked.bytes, DOC_API_ORIGIN)
  } catch (err) {
    // validated, yet failed to integrate: store what it did integrate, and say so
    doc.persistence?.applyFailed()
    throw new DocRefusedError('malformed_update', `the update failed to apply: ${(err as Error).message}`)
  } finally {
    doc.persistence?.expectUpdate(undefined)
  }
  const pending = pendingBytes(doc.doc)
  if (pending > limits.maxPendingBytes) {
    // as the engine does for a peer's: Yjs would hold them in memory until what they wait for arrives
    doc.doc.store.pendingStructs = null
    doc.doc.store.pendingDs = null
    doc.persistence?.pendingDropped()
    throw new DocRefusedError('pending_overflow', `the update leaves ${pending} bytes waiting on changes the doc does not have, over the cap of ${limits.maxPendingBytes}; they were dropped: send what they build on first`)
  }
  return {
    stored: doc.persistence?.flush() ?? Promise.resolve(),
    result: { stateVector: Y.encodeStateVector(doc.doc), pendingBytes: pending }
  }
}

/** Throws DocRefusedError `bad_state_vector` unless `sv` is a V1 state vector of at most `maxClients` clients, and nothing after it. */
function checkStateVector (sv: Uint8Array, maxClients: number): void {
  try {
    const d = decoding.createDecoder(sv)
    const n = decoding.readVarUint(d)
    if (n > maxClients) throw new Error(`it names ${n} clients, over the cap of ${maxClients}`)
    for (let i = 0; i < 2 * n; i++) decoding.readVarUint(d)
    if (decoding.hasContent(d)) throw new Error('trailing bytes')
  } catch (err) {
    throw new DocRefusedError('bad_state_vector', `since is not a Yjs state vector: ${(err as Error).message}`)
  }
}
