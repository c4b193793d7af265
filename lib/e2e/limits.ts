/**
 * Caps and domain-separation strings of the e2e format (v1). Every cap is
 * checked before anything is allocated for what it bounds.
 */

export const E2E_VERSION = 1

export const E2E_LIMITS = {
  /** members of one epoch record */
  maxMembers: 1024,
  /** writers of a doc named in one VV, snapshot cover or epoch `closed` list */
  maxWriters: 4096,
  /** plaintext of one envelope (an update, or a snapshot: the whole doc); the engine's maxUpdateBytes */
  maxPlaintextBytes: 8 * 1024 * 1024,
  /** an envelope header: a snapshot's names every writer (4,096 × 69 bytes at most) */
  maxHeaderBytes: 300 * 1024,
  /** an epoch record: 1,024 members of 81 bytes and 4,096 closed writers of at most 40 */
  maxEpochRecordBytes: 256 * 1024,
  /** an encoded version vector */
  maxVersionVectorBytes: 192 * 1024,
  /** an attestation (it has a fixed size) */
  maxAttestationBytes: 256,
  /** the highest epoch number */
  maxEpoch: 0xffffffff,
  /** attestations kept per snapshot by a log; more add nothing */
  maxAttestationsPerSnapshot: 4,
  /** attestations a log keeps in all */
  maxAttestations: 16_384
} as const

/** the whole envelope: header, nonce, ciphertext (plaintext + 16), signature, length prefixes */
export const MAX_ENVELOPE_BYTES = E2E_LIMITS.maxPlaintextBytes + E2E_LIMITS.maxHeaderBytes + 128

export const DOC_KEY_BYTES = 16
export const PUBLIC_KEY_BYTES = 32
export const HASH_BYTES = 32
export const NONCE_BYTES = 24
export const TAG_BYTES = 16
export const SIGNATURE_BYTES = 64
export const EPOCH_SECRET_BYTES = 32
/** an epoch secret sealed to one member: 32 bytes and the Poly1305 tag */
export const SEALED_KEY_BYTES = EPOCH_SECRET_BYTES + TAG_BYTES

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Ed25519 signatures cover one of these first, so a signature of one kind is never valid as another. */
export const CONTEXT = {
  epochSignature: ascii('meshdoc e2e epoch v1\n'),
  envelopeSignature: ascii('meshdoc e2e envelope v1\n'),
  attestationSignature: ascii('meshdoc e2e attestation v1\n'),
  /** HKDF info prefixes */
  seal: ascii('meshdoc e2e seal v1\n'),
  content: ascii('meshdoc e2e content v1\n'),
  commit: ascii('meshdoc e2e commit v1\n'),
  history: ascii('meshdoc e2e history v1\n'),
  /** SHA-256 prefix of the Yjs clientIDs a writer may write under */
  clientId: ascii('meshdoc e2e client v1\n')
} as const

export const ZERO_HASH: Uint8Array = new Uint8Array(HASH_BYTES)
