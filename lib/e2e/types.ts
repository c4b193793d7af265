/**
 * End-to-end encrypted documents, format v1: the cryptographic core
 * (issue 16). Types only; each part's byte layout and rules are in the
 * header of its file, written to become docs/PROTOCOL.md text:
 *
 *   epoch.ts           epoch records: members, sealed keys, rotation, history
 *   envelope.ts        envelopes: one sealed, signed update or snapshot; the checks, in order
 *   admit.ts           what a member applies; authorship by derived Yjs clientIDs
 *   snapshot.ts        snapshots: built from a log, checked (a) by form and (b) by content
 *   attestation.ts     a member's signed word that a snapshot is exactly what it covers
 *   compaction.ts      what a node may drop, on attested snapshots only
 *   version-vector.ts  catch-up between any two nodes: VVs and `missingFrom`
 *   log.ts             the envelopes a node holds for one doc (in memory; a store keeps its shape)
 *   doc-equal.ts       comparing two Y.Docs struct by struct
 *   keys.ts, codec.ts, limits.ts, errors.ts   derivations, strict reading, caps, the error type
 *
 * Terms. A doc's *members* are named in its current epoch record, each
 * `read` or `write`; they hold the epoch key. *Blind nodes* (gateways,
 * relays, devices without the key) store and forward envelopes they cannot
 * read, and check everything but the plaintext. An *issuer* signs epoch
 * records; who may issue is the caller's decision (`authority`: the owner,
 * or a holder of a delegate grant), so grants stay out of this module.
 *
 * Notation. uint: a lib0 var-uint in its shortest form, at most 2^53 − 1
 * (a longer form is refused: every message has one encoding). rawN: N
 * bytes. bytes: a uint length, then that many bytes. Keys are raw 32-byte
 * Ed25519 public keys (libp2p identities; the PeerId is derived from one);
 * lists of keys are in strictly ascending byte order. In memory, writers
 * and members are named by the hex of their key (their *id*): a PeerId
 * costs a base58 encoding, which hostile input naming thousands of keys
 * would multiply, so one is derived only where shown. u32be: 4 bytes, big
 * endian. Every signature is Ed25519 over an ASCII context ending in "\n",
 * then the signed bytes; every HKDF is HKDF-SHA256 with an empty salt.
 * Ciphers: XChaCha20-Poly1305 (24-byte random nonces), X25519, SHA-256, all
 * from @noble (audited); signatures with the libp2p keys.
 *
 * Guarantees, and what holds them:
 *  - Only members read: content is sealed under the epoch's key, which is
 *    sealed to each member's key; a removed member is sealed into no later
 *    record, so it reads nothing written in a later epoch.
 *  - Nobody forges or alters an edit: each envelope is signed by its writer
 *    (a write member of its epoch), and chained per writer (seq, prev), so a
 *    blind node also sees replays (duplicate), holes (gap) and forks
 *    (equivocation). A writer writes only under its own Yjs clientIDs
 *    (admit.ts), so no member's edit can pass for another's.
 *  - A removed member adds nothing after a rotation: the record that closes
 *    its last epoch names the seq it had reached (stale_epoch).
 *  - A blind node drops nothing it cannot get back: only what a snapshot
 *    covers, once a member other than its author has checked that the
 *    snapshot is exactly what it covers, and keeping that snapshot.
 *  - Whatever the bytes, every parser refuses with an E2eError and a
 *    reason, within caps checked before allocation (limits.ts).
 *
 * What a blind node learns: the doc key (a keyed hash of the id), the
 * members' and writers' PeerIds and access, epoch numbers and when they
 * change, per writer the number, sizes and timing of its updates and
 * snapshots, and which member attested which snapshot. Not the content, nor
 * its structure (the Yjs update is inside the ciphertext).
 *
 * What a removed member keeps: every epoch key it held (it reads what was
 * written up to its removal, as it could before), and it still learns what
 * a blind node learns, if it can reach one.
 */

/**
 * What a member may do in an epoch: `read` opens the doc; `write` also seals
 * updates and snapshots and attests others'; `manage` also issues the next
 * epoch record (adds and removes members, rotates the key).
 */
export type MemberAccess = 'read' | 'write' | 'manage'

export interface EpochMember {
  /** hex of its raw key: how this module names writers and members (keys.ts `idOf`) */
  id: string
  /** its PeerId (derived on first use) */
  peerId: string
  /** raw Ed25519 public key */
  key: Uint8Array
  access: MemberAccess
  /** the epoch secret sealed to this member (48 bytes) */
  sealed: Uint8Array
}

/** A decoded epoch record; `verifyEpochRecord` / `EpochChain.add` return only checked ones. */
export interface EpochRecord {
  docKey: Uint8Array
  epoch: number
  /** digest of the previous epoch's record; zero for epoch 0 */
  prev: Uint8Array
  /** the issuer's id, its PeerId (derived on first use), and its raw key */
  issuerId: string
  issuer: string
  issuerKey: Uint8Array
  /** X25519 public key the members' secrets are sealed with */
  ephemeral: Uint8Array
  /** commits the record to one epoch secret: every member opens the same key */
  commit: Uint8Array
  /** the previous epoch's secret sealed under this one's (48 bytes); empty for epoch 0 */
  history: Uint8Array
  /** per writer id, the seq it had reached when the previous epoch closed; absent: 0 */
  closed: ReadonlyMap<string, number>
  /** in the order of their keys */
  members: readonly EpochMember[]
  /** by id */
  memberOf: ReadonlyMap<string, EpochMember>
  /** SHA-256 of the signed body: the next record's `prev` */
  digest: Uint8Array
  /** the record as signed and sent */
  bytes: Uint8Array
}

/** What a member holds to seal and open envelopes of one epoch. Never stored: reopen it from the record. */
export interface EpochKey {
  docKey: Uint8Array
  epoch: number
  /** the XChaCha20-Poly1305 key of the epoch's envelopes, derived from the epoch secret */
  key: Uint8Array
  /** the epoch secret: the next record seals it in its history */
  secret: Uint8Array
}

export type EnvelopeKind = 'update' | 'snapshot'

/** One writer's place in a snapshot's cover, or in a checkpoint: seq and the hash of that envelope. */
export interface WriterMark {
  /** the writer's id (hex of its key) */
  writer: string
  /** raw Ed25519 key */
  key: Uint8Array
  seq: number
  hash: Uint8Array
}

export interface EnvelopeHeader {
  kind: EnvelopeKind
  docKey: Uint8Array
  epoch: number
  /** the writer's id (hex of its key; its PeerId: keys.ts `peerIdOf(writerKey)`) and raw key */
  writer: string
  writerKey: Uint8Array
  /** per writer per doc, from 1, contiguous across epochs */
  seq: number
  /** hash of the writer's envelope seq − 1; zero for seq 1 */
  prev: Uint8Array
  /** snapshots only: what it covers, per writer, in key order (the author at seq − 1 included); empty for updates */
  cover: readonly WriterMark[]
}

/** A parsed envelope. Views into `bytes`, an exact-size copy of what was received. */
export interface Envelope {
  header: EnvelopeHeader
  /** the encoded header: the AEAD's associated data */
  headerBytes: Uint8Array
  nonce: Uint8Array
  ciphertext: Uint8Array
  signature: Uint8Array
  /** SHA-256 of everything before the signature; what the signature, the next envelope's `prev` and covers name */
  hash: Uint8Array
  bytes: Uint8Array
}

/** An envelope that passed every check a node without the key can make, ready for `EnvelopeLog.add`. */
export interface CheckedEnvelope extends Envelope {
  /**
   * writers this (attested snapshot) envelope moves forward in the log, past
   * what the log holds of them: their envelopes up to there are covered by it
   */
  rebase: readonly WriterMark[]
  /** the log holds this very envelope already (it is accepted only for `rebase`) */
  held: boolean
}

export interface OpenedEnvelope extends CheckedEnvelope {
  /** a V1 update (a whole doc for a snapshot): still to pass lib/security/validate-update.ts */
  plaintext: Uint8Array
}

/** per writer id, the highest contiguous seq held */
export type VersionVector = ReadonlyMap<string, number>

/** A verified attestation: `attester` checked that snapshot `snapshot` contains everything it covers. */
export interface Attestation {
  docKey: Uint8Array
  /** the snapshot envelope's hash */
  snapshot: Uint8Array
  /** the attester's id and raw key */
  attester: string
  attesterKey: Uint8Array
  bytes: Uint8Array
}
