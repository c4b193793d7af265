/**
 * What a member applies of an opened envelope, and authorship inside it.
 *
 * Authorship: the signature proves who sealed an update, but a Yjs update
 * names its own authors (clientIDs), and Yjs keeps the first struct it sees
 * under an id. So each writer writes under clientIDs derived from its key
 * and the doc, and an update whose structs are under any other clientID is
 * refused (forged_author), by every member alike, whatever the order
 * envelopes arrive in:
 *
 *   clientId(i) = the first 53 bits (big-endian) of SHA-256("meshdoc e2e client v1\n" ‖ docKey ‖ writer ‖ u32be(i)),  i = 0 .. 3
 *
 * A writer's doc writes under clientId(0) (`doc.clientID =
 * writerClientIds(...)[0]`). Yjs takes a random clientID when a remote
 * update brings structs under its own (this writer's edits coming back: a
 * reload, a fresh device), so remote updates are applied while the doc's
 * clientID is clientId(1), then set back to clientId(0), whose Yjs clock
 * goes on from what came back. 2 and 3 are spare. A writer that lost its
 * state catches up its own chain before it writes again: its seq and its
 * Yjs clock both go on from it (or it would fork its own chain:
 * equivocation).
 * Deletions name no author: any writer may delete (that is what write
 * access means).
 *
 * Snapshots: a member applies a snapshot's plaintext only when it takes it
 * as a checkpoint (it lacks what the snapshot covers, and the snapshot is
 * attested, envelope.ts); otherwise it holds every covered update already,
 * and the snapshot brings nothing an honest one could bring.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import type * as Y from 'yjs'
import { DEFAULT_LIMITS } from '../security/limits.js'
import { validateUpdate } from '../security/validate-update.js'
import { concatBytes, toHex, u32be } from './codec.js'
import { refuse } from './errors.js'
import { shortId } from './keys.js'
import { CONTEXT } from './limits.js'
import type { OpenedEnvelope } from './types.js'

const CLIENT_IDS_PER_WRITER = 4
const cache = new Map<string, readonly number[]>()

/** The Yjs clientIDs `writerKey` (raw Ed25519) may write under in the doc `docKey`. */
export function writerClientIds (writerKey: Uint8Array, docKey: Uint8Array): readonly number[] {
  const k = toHex(docKey) + toHex(writerKey)
  let ids = cache.get(k)
  if (ids === undefined) {
    ids = Array.from({ length: CLIENT_IDS_PER_WRITER }, (_, i) => {
      const h = sha256(concatBytes(CONTEXT.clientId, docKey, writerKey, u32be(i)))
      let n = h[0] & 0x1f
      for (let j = 1; j < 7; j++) n = n * 256 + h[j]
      return n
    })
    if (cache.size >= 16_384) cache.clear()
    cache.set(k, ids)
  }
  return ids
}

/** Whether every struct of an update (its `clients`, as validateUpdate found them) is under one of the writer's clientIDs. */
export function authoredBy (clients: Iterable<number>, writerKey: Uint8Array, docKey: Uint8Array): boolean {
  const mine = writerClientIds(writerKey, docKey)
  for (const client of clients) if (!mine.includes(client)) return false
  return true
}

/**
 * The bytes a member applies to `doc` for an opened envelope (an exact-size
 * copy, validated), or undefined for a snapshot that is not a checkpoint.
 * Throws InvalidUpdateError (from the strict V1 validator) or
 * E2eError('forged_author').
 */
export function admitPlaintext (doc: Y.Doc, env: OpenedEnvelope, maxNestingDepth = DEFAULT_LIMITS.maxNestingDepth, maxItems = DEFAULT_LIMITS.maxItemsPerUpdate): Uint8Array | undefined {
  const { header: h } = env
  if (h.kind === 'snapshot' && env.rebase.length === 0) return undefined
  const { bytes, clients } = validateUpdate(doc, env.plaintext, maxNestingDepth, h.kind === 'snapshot' ? Infinity : maxItems)
  if (h.kind === 'update' && !authoredBy(clients, h.writerKey, h.docKey)) refuse('forged_author', `${shortId(h.writer)} seq ${h.seq} writes under another writer's clientID`)
  return bytes
}
