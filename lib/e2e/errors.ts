/**
 * The one error type of lib/e2e. Everything that reads untrusted bytes
 * (envelopes, epoch records, attestations, version vectors) throws this and
 * nothing else, whatever the input; `reason` is a stable code for counters,
 * logs and the wire. Tests match on `reason`, never on message text.
 */
import { MeshdocError } from '../errors.js'

export type E2eRefusal =
  /** not this format: a field out of range, a wrong length, bytes left over, not canonical */
  | 'malformed'
  /** over a cap of E2E_LIMITS, checked before anything is allocated for it */
  | 'too_large'
  /** for another document than the one it is checked for */
  | 'wrong_doc'
  | 'bad_signature'
  /** the writer (or attester, or the key holder) is not a member with the access needed */
  | 'not_member'
  /** the issuer of an epoch record has no authority over the doc (the caller's `authority` said no) */
  | 'not_authorized'
  /** an envelope or epoch record of an epoch this node holds no record of */
  | 'unknown_epoch'
  /** held already (same writer and seq, same hash; or below what a snapshot already covers here) */
  | 'duplicate'
  /** something before it is missing: the writer's previous seq, or the previous epoch record */
  | 'gap'
  /** its writer signed two different envelopes for one seq (or two different predecessors) */
  | 'equivocation'
  /** written in an epoch that a rotation closed before this seq: a removed member writing late */
  | 'stale_epoch'
  /** a record for an epoch this node holds a different record of (concurrent rotations) */
  | 'epoch_conflict'
  /** an epoch record whose prev digest is not the digest of the previous record held */
  | 'bad_chain'
  /** the AEAD refused: ciphertext, nonce or header altered, or another key */
  | 'bad_ciphertext'
  /** the sealed epoch key does not open, or does not match the record's key commitment */
  | 'bad_key'
  /** no epoch key for the envelope's epoch (a removed member reading a later epoch) */
  | 'no_key'
  /** a snapshot names, for a writer, a hash other than the one held for that seq */
  | 'bad_cover'
  /** a snapshot names a seq not held here yet: check again after catch-up */
  | 'cover_gap'
  /** a member asked to attest a snapshot that lacks something it covers */
  | 'not_covered'
  /** a member cannot check the snapshot: covered envelopes it no longer holds (or cannot decrypt) */
  | 'cannot_check'
  /** an update that writes under a Yjs clientID that is not its writer's */
  | 'forged_author'
  /** a store or log is full (its cap of writers, entries or attestations) */
  | 'full'

export class E2eError extends MeshdocError {
  override name = 'E2eError'
  constructor (readonly reason: E2eRefusal, message: string) {
    super(message)
  }
}

export function refuse (reason: E2eRefusal, message: string): never {
  throw new E2eError(reason, message)
}
