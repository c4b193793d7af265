/**
 * Short summaries of a document's state, cached on its EngineDoc and cleared
 * on every transaction (`Fingerprints.invalidate`):
 * - the delete-set digest carried by SYNC1 (equal delete sets, equal digests);
 * - the fingerprint (state vector + digest) that session resumption compares;
 * - the delete ranges both are made from, which a SYNC2 answer also needs.
 * All cost O(delete set), so they are never computed per keystroke.
 *
 * SHA-256 comes from the platform preset (Node's is native and has no cold
 * start); `@noble/hashes` runs everywhere and is the default. Both give the
 * same bytes, so peers on different platforms agree.
 */
import * as Y from 'yjs'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { concat } from 'uint8arrays/concat'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { DS_DIGEST_BYTES } from '../protocol/constants.js'
import { deleteRangesOf, encodeDeleteRanges, type DeleteRanges } from '../yjs/update-batch.js'
import type { EngineDoc } from './engine-doc.js'

/** A SHA-256 implementation: returns the 32-byte digest. */
export type Sha256 = (data: Uint8Array) => Uint8Array

/** the digest of an empty delete set, sha256([0x00]): a new, empty doc hashes nothing */
export const EMPTY_DS_DIGEST: Uint8Array = Uint8Array.from([0x6e, 0x34, 0x0b, 0x9c, 0xff, 0xb3, 0x7a, 0x98])

export class Fingerprints {
  constructor (private readonly sha256: Sha256 = nobleSha256) {}

  /** The doc changed: drop what was cached. */
  invalidate (doc: EngineDoc): void {
    doc.fingerprint = undefined
    doc.dsDigest = undefined
    doc.deleteRanges = undefined
  }

  /** A short, stable summary of the doc's state: its state vector and delete-set digest. */
  fingerprint (doc: EngineDoc): string {
    if (doc.fingerprint === undefined) {
      const summary = concat([Y.encodeStateVector(doc.doc), this.dsDigest(doc)])
      doc.fingerprint = uint8ArrayToString(this.sha256(summary).subarray(0, 16), 'base16')
    }
    return doc.fingerprint
  }

  /** The digest of the doc's delete set, as SYNC1 carries it. */
  dsDigest (doc: EngineDoc): Uint8Array {
    doc.dsDigest ??= digestOfDeleteRanges(this.deleteRanges(doc), this.sha256)
    return doc.dsDigest
  }

  /** The doc's whole delete set as ranges (a SYNC2 answer needs them too). */
  deleteRanges (doc: EngineDoc): DeleteRanges {
    doc.deleteRanges ??= deleteRangesOf(doc.doc)
    return doc.deleteRanges
  }
}

/** The delete-set digest of these ranges (`deleteRangesOf(doc)` for a doc's, uncached: tests, tools). */
export function digestOfDeleteRanges (ranges: DeleteRanges, sha256: Sha256 = nobleSha256): Uint8Array {
  for (const r of ranges.values()) if (r.length > 0) return sha256(encodeDeleteRanges(ranges)).subarray(0, DS_DIGEST_BYTES)
  return EMPTY_DS_DIGEST
}

/**
 * The clocks of the clients this doc holds, encoded as a state vector: what
 * we keep of a peer's state vector is never bigger than our own, whatever it sent.
 */
export function ourStateVector (doc: EngineDoc, clocks: Map<number, number>): Uint8Array {
  const ours = doc.doc.store.clients
  const kept = new Map<number, number>()
  for (const [client, clock] of clocks) if (ours.has(client)) kept.set(client, clock)
  return Y.encodeStateVector(kept)
}
