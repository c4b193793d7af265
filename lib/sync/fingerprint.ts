/**
 * Short summaries of a document's state, cached on its DocSync and cleared by
 * the engine on every transaction:
 * - the delete-set digest carried by SYNC1 (equal delete sets, equal digests);
 * - the fingerprint (state vector + digest) that session resumption compares.
 * Both cost O(delete set), so they are never computed per keystroke.
 */
import * as Y from 'yjs'
import { sha256 } from '@noble/hashes/sha2.js'
import { DS_DIGEST_BYTES } from '../protocol/constants.js'
import { deleteRangesOf, encodeDeleteRanges } from '../yjs/update-batch.js'
import type { DocSync } from './doc-sync.js'
import { fingerprintOf } from './peer-memory.js'

export function deleteSetDigest (doc: Y.Doc): Uint8Array {
  return sha256(encodeDeleteRanges(deleteRangesOf(doc))).subarray(0, DS_DIGEST_BYTES)
}

export function docFingerprint (doc: DocSync): string {
  if (doc.fingerprint === undefined) {
    doc.dsDigest = deleteSetDigest(doc.doc)
    doc.fingerprint = fingerprintOf(Y.encodeStateVector(doc.doc), doc.dsDigest)
  }
  return doc.fingerprint
}

export function docDsDigest (doc: DocSync): Uint8Array {
  docFingerprint(doc)
  return doc.dsDigest!
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
