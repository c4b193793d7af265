/**
 * The primitives the e2e format runs once per envelope: Ed25519 verify,
 * SHA-256 and XChaCha20-Poly1305. By default they come from @noble (audited,
 * any platform) and the libp2p keys; the Node entry installs node:crypto's
 * (adapters/presets/node-e2e-primitives.ts: OpenSSL, with the XChaCha
 * subkey from @noble's HChaCha20), which give the same bytes
 * (test/e2e-primitives.spec.ts) several times faster. A cold join checks
 * and opens one envelope per burst its writers typed, so these set its pace.
 * Process-wide, like the engine's SHA-256: every node of a process uses the
 * same ones.
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PublicKey } from '@libp2p/interface'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { toHex } from './codec.js'

export interface E2ePrimitives {
  sha256: (bytes: Uint8Array) => Uint8Array
  /** Whether `signature` is the Ed25519 signature of `message` by the raw public key `raw`; false (never a throw) for a key that is not a valid point. */
  verify: (raw: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean | Promise<boolean>
  /** XChaCha20-Poly1305 (24-byte nonce): ciphertext ‖ 16-byte tag */
  seal: (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array) => Uint8Array
  /** the plaintext; throws if the ciphertext does not open (a wrong key, nonce, aad or tag) */
  open: (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array) => Uint8Array
}

const MAX_CACHED_KEYS = 16_384
const publicKeys = new Map<string, PublicKey>()

/** @noble and the libp2p keys: the defaults, on every platform. */
export const portablePrimitives: E2ePrimitives = {
  sha256: (bytes) => sha256(bytes),
  async verify (raw, message, signature) {
    try {
      const hex = toHex(raw)
      let key = publicKeys.get(hex)
      if (key === undefined) {
        key = publicKeyFromRaw(raw.slice())
        if (publicKeys.size >= MAX_CACHED_KEYS) publicKeys.clear()
        publicKeys.set(hex, key)
      }
      return await key.verify(message, signature)
    } catch {
      return false
    }
  },
  seal: (key, nonce, aad, plaintext) => xchacha20poly1305(key, nonce, aad).encrypt(plaintext),
  open: (key, nonce, aad, ciphertext) => xchacha20poly1305(key, nonce, aad).decrypt(ciphertext)
}

let current = portablePrimitives

/** The primitives in use. */
export const e2ePrimitives = (): E2ePrimitives => current

/** Use `p` from now on, in this whole process (they must give the same results as the portable ones). */
export function useE2ePrimitives (p: E2ePrimitives): void {
  current = p
}
