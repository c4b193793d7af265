/**
 * May a peer's update or awareness update be applied? Pure checks that return
 * a verdict; the engine turns a refusal into BYE + counter. Nothing here
 * touches the live document.
 */
import { InvalidUpdateError, ProtocolError } from '../errors.js'
import { ByeReason } from '../protocol/constants.js'
import { checkAwarenessUpdate } from '../security/awareness-guard.js'
import type { Limits } from '../security/limits.js'
import { validateUpdate } from '../security/validate-update.js'
import type { DocSession } from './doc-session.js'
import type { EngineDoc } from './engine-doc.js'

export interface Refusal {
  code: number
  reason: string
  /** an extra counter to bump besides the BYE reason's */
  counter?: string
}

/** The update's exact-size bytes, ready to apply — or why it must not be. */
export function admitUpdate (doc: EngineDoc, peer: string, update: Uint8Array, limits: Limits): { bytes: Uint8Array } | Refusal {
  if (update.length > limits.maxUpdateBytes) return { code: ByeReason.LIMIT_EXCEEDED, reason: `update of ${update.length} bytes` }
  let checked: ReturnType<typeof validateUpdate>
  try {
    checked = validateUpdate(doc.doc, update, limits.maxNestingDepth)
  } catch (err) {
    return { code: ByeReason.MALFORMED_UPDATE, reason: err instanceof InvalidUpdateError ? err.message : 'update does not decode' }
  }
  const forged = doc.authors?.admit(peer, checked.authors)
  if (forged !== undefined) {
    return { code: ByeReason.FORBIDDEN, reason: `structs for clientID ${forged}, which belongs to another peer`, counter: 'forged_author' }
  }
  return { bytes: checked.bytes }
}

/** An awareness update within the caps for this session — or why not. */
export function admitAwareness (s: DocSession, update: Uint8Array, limits: Limits): Refusal | undefined {
  let clients: number[]
  try {
    clients = checkAwarenessUpdate(update, limits.maxAwarenessClientsPerPeer, limits.maxAwarenessStateBytes)
  } catch (err) {
    return { code: err instanceof ProtocolError ? err.code : ByeReason.PROTOCOL_ERROR, reason: (err as Error).message }
  }
  const introduced = clients.filter(c => !s.awarenessClients.has(c)).length
  if (s.awarenessClients.size + introduced > limits.maxAwarenessClientsPerPeer) {
    return { code: ByeReason.LIMIT_EXCEEDED, reason: 'too many awareness clients' }
  }
  return undefined
}

/** Bytes Yjs holds as pending (gapped) structs and deletions for this doc. */
export function pendingBytes (doc: EngineDoc): number {
  const store = doc.doc.store
  return (store.pendingStructs?.update.length ?? 0) + (store.pendingDs?.length ?? 0)
}
