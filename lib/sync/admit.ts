/**
 * May a peer's update or awareness update be applied? Pure checks that return
 * a verdict; the engine turns a refusal into BYE + counter, or into DENIED +
 * counter for one that leaves the peer connected. Nothing here touches the
 * live document.
 */
import { InvalidUpdateError, ProtocolError } from '../errors.js'
import { ByeReason, DeniedReason } from '../protocol/constants.js'
import { encodeAwarenessEntries, parseAwarenessUpdate, type AwarenessEntry } from '../security/awareness-guard.js'
import type { Limits } from '../security/limits.js'
import { validateUpdate, type ValidatedUpdate } from '../security/validate-update.js'
import type { DocSession } from './doc-session.js'
import type { EngineDoc } from './engine-doc.js'

/** Close the peer: BYE `code` with `reason` (counted under the BYE reason's name). */
export interface Refusal {
  code: number
  reason: string
  deny?: undefined
}

/** Refuse the frame with DENIED `deny` and leave the peer connected, counted under `counter`. */
export interface Denial {
  deny: number
  counter: string
}

/** The update's exact-size bytes, ready to apply, and who authors what is new in it — or why it must not be. */
export function admitUpdate (doc: EngineDoc, peer: string, update: Uint8Array, limits: Limits): ValidatedUpdate | Refusal | Denial {
  if (update.length > limits.maxUpdateBytes) return { code: ByeReason.LIMIT_EXCEEDED, reason: `update of ${update.length} bytes` }
  let checked: ReturnType<typeof validateUpdate>
  try {
    checked = validateUpdate(doc.doc, update, limits.maxNestingDepth, limits.maxItemsPerUpdate)
  } catch (err) {
    if (err instanceof ProtocolError) return { code: err.code, reason: err.message }
    return { code: ByeReason.MALFORMED_UPDATE, reason: err instanceof InvalidUpdateError ? err.message : 'update does not decode' }
  }
  // a refused forgery leaves the sender connected: it may be the honest owner refused
  const forged = doc.authors?.admit(peer, checked.authors, doc.sessions)
  return forged !== undefined ? { deny: DeniedReason.AUTHORSHIP, counter: 'forged_author' } : checked
}

/** Awareness clocks above this are refused: y-protocols adds 1 to them, and past 2^53 that stops counting. */
export const MAX_AWARENESS_CLOCK = 2 ** 40

/**
 * Why entries of an awareness update were left out. The first three also
 * happen in honest meshes (a state reaches a node by two paths, or comes back
 * to its own node) and are counted as `ignored`; the last two as `rejected`.
 */
export type AwarenessDrop = 'awareness_own_client' | 'awareness_not_owner' | 'awareness_unknown_removal' | 'awareness_clock' | 'awareness_over_cap'
export const BENIGN_AWARENESS_DROPS: ReadonlySet<AwarenessDrop> = new Set(['awareness_own_client', 'awareness_not_owner', 'awareness_unknown_removal'])

export interface AdmittedAwareness {
  /** the entries the sender may send, as an awareness update (undefined: none) */
  update: Uint8Array | undefined
  /** entries left out, by reason */
  dropped: Partial<Record<AwarenessDrop, number>>
  /** present clients another peer speaks for that this one also announced (it may take them over later) */
  seen: number[]
  /** clients this one no longer announces */
  unseen: number[]
}

/**
 * The part of a peer's awareness update that it may send, or why the whole
 * update is refused (malformed, too many entries for one doc, a state too
 * big). A peer speaks only for the clients it introduced on this doc: never
 * for this node's own client, never for a client another peer introduced, and
 * a removal of a client nobody introduced carries nothing (y-protocols would
 * keep its clock forever). It may introduce at most `maxAwarenessClientsPerPeer`
 * clients, and the doc holds at most `maxAwarenessClientsPerDoc`: entries past
 * either are left out, and the peer stays connected, so a gateway relaying a
 * crowd is never taken for a flood.
 */
export function admitAwareness (doc: EngineDoc, s: DocSession, update: Uint8Array, limits: Limits): AdmittedAwareness | Refusal {
  let entries: AwarenessEntry[]
  try {
    entries = parseAwarenessUpdate(update, limits.maxAwarenessClientsPerDoc, limits.maxAwarenessStateBytes)
  } catch (err) {
    return { code: err instanceof ProtocolError ? err.code : ByeReason.PROTOCOL_ERROR, reason: (err as Error).message }
  }
  const dropped: AdmittedAwareness['dropped'] = {}
  const seen: number[] = []
  const unseen: number[] = []
  const drop = (why: AwarenessDrop): void => { dropped[why] = (dropped[why] ?? 0) + 1 }
  const owners = new Map<number, DocSession>()
  for (const other of doc.sessions.values()) {
    if (other !== s) for (const c of other.awarenessClients) owners.set(c, other)
  }
  const states = doc.awareness.getStates()
  let owned = s.awarenessClients.size
  let present = states.size
  const kept: AwarenessEntry[] = []
  for (const e of entries) {
    if (e.clientID === doc.awareness.clientID) { drop('awareness_own_client'); continue }
    if (owners.has(e.clientID)) {
      drop('awareness_not_owner')
      if (e.removal) unseen.push(e.clientID)
      else if (states.has(e.clientID)) seen.push(e.clientID)
      continue
    }
    if (e.clock > MAX_AWARENESS_CLOCK) { drop('awareness_clock'); continue }
    const mine = s.awarenessClients.has(e.clientID)
    if (e.removal) {
      if (!mine && !states.has(e.clientID)) { drop('awareness_unknown_removal'); continue }
    } else if (!mine) {
      if (owned >= limits.maxAwarenessClientsPerPeer || (!states.has(e.clientID) && present >= limits.maxAwarenessClientsPerDoc)) { drop('awareness_over_cap'); continue }
      owned++
      if (!states.has(e.clientID)) present++
    }
    kept.push(e)
  }
  const unchanged = kept.length === entries.length
  return { update: kept.length === 0 ? undefined : unchanged ? update : encodeAwarenessEntries(kept), dropped, seen, unseen }
}
