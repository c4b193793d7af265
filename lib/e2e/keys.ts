/**
 * Identities and key derivations of the e2e format. Members and writers are
 * libp2p Ed25519 identities, named on the wire by their raw 32-byte public
 * key (a PeerId is derived from it). Signatures are made and checked with
 * the libp2p keys, as grants are; sealing an epoch secret to a member uses
 * the member's Ed25519 key converted to X25519 (RFC 7748 §4.1, the map
 * libsodium's crypto_sign_ed25519_pk_to_curve25519 uses), X25519 with an
 * ephemeral key, HKDF-SHA256 and XChaCha20-Poly1305 (all @noble, audited).
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, toHex, u32be } from './codec.js'
import { refuse } from './errors.js'
import { CONTEXT, EPOCH_SECRET_BYTES, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './limits.js'
import { e2ePrimitives } from './primitives.js'

/**
 * A writer, member or attester is named in this module by its *id*: the
 * hex of its raw Ed25519 key. Cheap to make from untrusted bytes (a PeerId
 * costs a base58 encoding, some 50 µs, which a hostile message naming 4,096
 * random keys would multiply); a PeerId is derived only where one is shown.
 */
export const idOf = (raw: Uint8Array): string => toHex(raw)

/** The raw key of an id. */
export function keyOfId (id: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new TypeError(`not a writer id: ${id.slice(0, 80)}`)
  const out = new Uint8Array(PUBLIC_KEY_BYTES)
  for (let i = 0; i < PUBLIC_KEY_BYTES; i++) out[i] = parseInt(id.slice(2 * i, 2 * i + 2), 16)
  return out
}

/** for messages: a short id */
export const shortId = (id: string): string => id.slice(0, 12)

const MAX_CACHED = 16_384
const peerIds = new Map<string, string>()

function cached<T> (cache: Map<string, T>, key: string, make: () => T): T {
  let v = cache.get(key)
  if (v === undefined) {
    v = make()
    if (cache.size >= MAX_CACHED) cache.clear()
    cache.set(key, v)
  }
  return v
}

/** The PeerId (base58btc) of a raw Ed25519 public key: for display and for callers that name peers by PeerId. */
export function peerIdOf (raw: Uint8Array): string {
  return cached(peerIds, toHex(raw), () => peerIdFromPublicKey(publicKeyFromRaw(raw.slice())).toString())
}

/** The raw Ed25519 public key of a PeerId; a TypeError for any other kind (a caller's mistake, not input). */
export function rawKeyOf (peerId: string): Uint8Array {
  const key = peerIdFromString(peerId).publicKey
  if (key?.type !== 'Ed25519') throw new TypeError(`${peerId} is not an Ed25519 PeerId`)
  return key.raw
}

/** The raw public key of one's own private key; a TypeError unless it is Ed25519. */
export function ownRawKey (key: PrivateKey): Uint8Array {
  if (key.type !== 'Ed25519') throw new TypeError(`e2e keys are Ed25519, not ${key.type}`)
  return key.publicKey.raw
}

export async function sign (key: PrivateKey, context: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  return await key.sign(concatBytes(context, message))
}

/** Whether `signature` is `raw`'s over context ‖ message; false (never a throw) for a key that is not a valid point. */
export async function verify (raw: Uint8Array, context: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (signature.length !== SIGNATURE_BYTES || raw.length !== PUBLIC_KEY_BYTES) return false
  try {
    return await e2ePrimitives().verify(raw, concatBytes(context, message), signature)
  } catch {
    return false
  }
}

export const sha256Of = (bytes: Uint8Array): Uint8Array => e2ePrimitives().sha256(bytes)

/** HKDF-SHA256 with an empty salt (RFC 5869: 32 zero bytes) */
const derive = (ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array => hkdf(sha256, ikm, undefined, info, length)

/** The XChaCha20-Poly1305 key of an epoch's envelopes: HKDF(secret, "meshdoc e2e content v1\n" ‖ docKey ‖ u32be(epoch)). */
export function contentKey (secret: Uint8Array, docKey: Uint8Array, epoch: number): Uint8Array {
  return derive(secret, concatBytes(CONTEXT.content, docKey, u32be(epoch)), 32)
}

/** The key commitment in an epoch record: HKDF(secret, "meshdoc e2e commit v1\n" ‖ docKey ‖ u32be(epoch)). */
export function keyCommitment (secret: Uint8Array, docKey: Uint8Array, epoch: number): Uint8Array {
  return derive(secret, concatBytes(CONTEXT.commit, docKey, u32be(epoch)), 32)
}

/** AEAD of the previous epoch's secret in a record, keyed by this epoch's: HKDF(secret, "meshdoc e2e history v1\n" ‖ docKey ‖ u32be(epoch), 56) split 32 + 24. */
function historyCipher (secret: Uint8Array, docKey: Uint8Array, epoch: number): ReturnType<typeof xchacha20poly1305> {
  const okm = derive(secret, concatBytes(CONTEXT.history, docKey, u32be(epoch)), 56)
  return xchacha20poly1305(okm.subarray(0, 32), okm.subarray(32, 56))
}

/** The previous epoch's secret sealed under epoch `epoch`'s (48 bytes): members of an epoch can read every epoch before it. */
export function sealHistory (secret: Uint8Array, previousSecret: Uint8Array, docKey: Uint8Array, epoch: number): Uint8Array {
  return historyCipher(secret, docKey, epoch).encrypt(previousSecret)
}

/** The previous epoch's secret from a record's `history`; E2eError `bad_key` if it does not open. */
export function openHistory (sealed: Uint8Array, secret: Uint8Array, docKey: Uint8Array, epoch: number): Uint8Array {
  try {
    return historyCipher(secret, docKey, epoch).decrypt(sealed)
  } catch {
    refuse('bad_key', `the history of epoch ${epoch} does not open`)
  }
}

export interface SealContext { docKey: Uint8Array, epoch: number, ephemeralPublic: Uint8Array, member: Uint8Array }

/** AEAD key and nonce of one member's sealed secret: HKDF(X25519 shared, "meshdoc e2e seal v1\n" ‖ docKey ‖ u32be(epoch) ‖ ephemeral ‖ member), 56 bytes. */
function sealCipher (shared: Uint8Array, c: SealContext): ReturnType<typeof xchacha20poly1305> {
  const okm = derive(shared, concatBytes(CONTEXT.seal, c.docKey, u32be(c.epoch), c.ephemeralPublic, c.member), 56)
  return xchacha20poly1305(okm.subarray(0, 32), okm.subarray(32, 56))
}

/** A fresh X25519 key pair, for one epoch record. */
export function ephemeralKeyPair (): { secretKey: Uint8Array, publicKey: Uint8Array } {
  return x25519.keygen()
}

/** `secret` sealed to member `c.member` (raw Ed25519 key): 48 bytes. A TypeError for a key that cannot take it. */
export function sealSecret (secret: Uint8Array, ephemeralSecret: Uint8Array, c: SealContext): Uint8Array {
  let shared: Uint8Array
  try {
    shared = x25519.getSharedSecret(ephemeralSecret, ed25519.utils.toMontgomery(c.member))
  } catch (err) {
    throw new TypeError(`member ${toHex(c.member)} has no usable X25519 key: ${(err as Error).message}`)
  }
  return sealCipher(shared, c).encrypt(secret)
}

/** The secret sealed to `me` in `sealed`; E2eError `bad_key` if it does not open. */
export function openSealed (sealed: Uint8Array, me: PrivateKey, c: SealContext): Uint8Array {
  try {
    const mine = ed25519.utils.toMontgomerySecret(me.raw.subarray(0, 32))
    const shared = x25519.getSharedSecret(mine, c.ephemeralPublic)
    const secret = sealCipher(shared, c).decrypt(sealed)
    if (secret.length !== EPOCH_SECRET_BYTES) throw new Error('a secret of the wrong size')
    return secret
  } catch (err) {
    refuse('bad_key', `the epoch key sealed to ${shortId(idOf(c.member))} does not open: ${(err as Error).message}`)
  }
}
