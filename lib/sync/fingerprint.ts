/**
 * Short summaries of a document's state, cached on its EngineDoc and cleared by
 * the engine on every transaction:
 * - the delete-set digest carried by SYNC1 (equal delete sets, equal digests);
 * - the fingerprint (state vector + digest) that session resumption compares;
 * - the delete ranges both are made from, which a SYNC2 answer also needs.
 * All cost O(delete set), so they are never computed per keystroke.
 */
import * as Y from 'yjs'
import { sha256 } from './sha256.js'
import { DS_DIGEST_BYTES } from '../protocol/constants.js'
import { deleteRangesOf, encodeDeleteRanges, type DeleteRanges } from '../yjs/update-batch.js'
import type { EngineDoc } from './engine-doc.js'
import { fingerprintOf } from './peer-memory.js'

export function deleteSetDigest (doc: Y.Doc): Uint8Array {
  return digestOfRanges(deleteRangesOf(doc))
}

/** the digest of an empty delete set, sha256([0x00]): a new, empty doc hashes nothing */
export const EMPTY_DS_DIGEST: Uint8Array = Uint8Array.from([0x6e, 0x34, 0x0b, 0x9c, 0xff, 0xb3, 0x7a, 0x98]).subarray(0, DS_DIGEST_BYTES)

function digestOfRanges (ranges: DeleteRanges): Uint8Array {
  let empty = true
  for (const r of ranges.values()) if (r.length > 0) { empty = false; break }
  if (empty) return EMPTY_DS_DIGEST
  return sha256(encodeDeleteRanges(ranges)).subarray(0, DS_DIGEST_BYTES)
}

export function docFingerprint (doc: EngineDoc): string {
  if (doc.fingerprint === undefined) {
    doc.dsDigest = digestOfRanges(docDeleteRanges(doc))
    doc.fingerprint = fingerprintOf(Y.encodeStateVector(doc.doc), doc.dsDigest)
  }
  return doc.fingerprint
}

/** The doc's whole delete set as ranges, cached with the fingerprint (a SYNC2 answer needs both). */
export function docDeleteRanges (doc: EngineDoc): DeleteRanges {
  // cleared with the fingerprint on every transaction (SyncEngine.onTransaction)
  if (doc.deleteRanges === undefined) doc.deleteRanges = deleteRangesOf(doc.doc)
  return doc.deleteRanges
}

export function docDsDigest (doc: EngineDoc): Uint8Array {
  docFingerprint(doc)
  return doc.dsDigest!
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
