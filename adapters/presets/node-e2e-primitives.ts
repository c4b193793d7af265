/**
 * The e2e primitives from node:crypto (OpenSSL), installed by the Node
 * entry: the same results as the portable ones (lib/e2e/primitives.ts;
 * test/e2e-primitives.spec.ts checks them against each other), faster.
 *
 * XChaCha20-Poly1305 is built as its draft (draft-irtf-cfrg-xchacha §2.3)
 * and libsodium build it: HChaCha20(key, nonce[0..16]) is the subkey
 * (@noble/ciphers' `hchacha`), and the IETF ChaCha20-Poly1305 of RFC 8439
 * (OpenSSL) runs under it with the nonce 0x00000000 ‖ nonce[16..24].
 * Ed25519 public keys are imported once each (a KeyObject), not per check,
 * and checks run on libuv's thread pool.
 */
import { hchacha } from '@noble/ciphers/chacha.js'
import { createCipheriv, createDecipheriv, createHash, createPublicKey, verify, type KeyObject } from 'node:crypto'
import type { E2ePrimitives } from '../../lib/e2e/primitives.js'

const TAG_BYTES = 16
/** "expand 32-byte k" as words in host order, as @noble's `hchacha` takes them (it swaps them itself on big-endian hosts) */
const SIGMA = hostWords(new TextEncoder().encode('expand 32-byte k'))
/** SubjectPublicKeyInfo of an Ed25519 key (RFC 8410), before its 32 raw bytes */
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
const MAX_CACHED_KEYS = 16_384
const keyObjects = new Map<string, KeyObject | null>()

/** `bytes` as words in host order, as @noble reads keys and nonces (a copy: a view would need 4-byte alignment) */
function hostWords (bytes: Uint8Array): Uint32Array {
  return new Uint32Array(bytes.slice().buffer)
}

/** The RFC 8439 key and nonce XChaCha20-Poly1305 runs under. */
function ietf (key: Uint8Array, nonce: Uint8Array): { key: Uint8Array, nonce: Uint8Array } {
  if (key.length !== 32) throw new RangeError('an XChaCha20-Poly1305 key is 32 bytes')
  if (nonce.length !== 24) throw new RangeError('an XChaCha20-Poly1305 nonce is 24 bytes')
  const sub = new Uint32Array(8)
  hchacha(SIGMA, hostWords(key), hostWords(nonce.subarray(0, 16)), sub)
  // its output is words in host order too: their bytes are the subkey
  const subkey = new Uint8Array(sub.buffer)
  const n = new Uint8Array(12)
  n.set(nonce.subarray(16, 24), 4)
  return { key: subkey, nonce: n }
}

function keyObject (raw: Uint8Array): KeyObject | null {
  const hex = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex')
  let key = keyObjects.get(hex)
  if (key === undefined) {
    try {
      const der = new Uint8Array(ED25519_SPKI_PREFIX.length + raw.length)
      der.set(ED25519_SPKI_PREFIX)
      der.set(raw, ED25519_SPKI_PREFIX.length)
      key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' })
    } catch {
      key = null
    }
    if (keyObjects.size >= MAX_CACHED_KEYS) keyObjects.clear()
    keyObjects.set(hex, key)
  }
  return key
}

export const nodeE2ePrimitives: E2ePrimitives = {
  sha256: (bytes) => {
    const d = createHash('sha256').update(bytes).digest()
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
  },
  // on libuv's thread pool: a batch of checks (a frame of envelopes) runs beside the event loop, on every core
  async verify (raw, message, signature) {
    if (raw.length !== 32 || signature.length !== 64) return false
    const key = keyObject(raw)
    if (key === null) return false
    return await new Promise<boolean>(resolve => {
      try {
        verify(null, message, key, signature, (err, ok) => { resolve(err === null && ok) })
      } catch {
        resolve(false)
      }
    })
  },
  seal (key, nonce, aad, plaintext) {
    const k = ietf(key, nonce)
    const c = createCipheriv('chacha20-poly1305', k.key, k.nonce, { authTagLength: TAG_BYTES })
    c.setAAD(aad, { plaintextLength: plaintext.length })
    const head = c.update(plaintext)
    const tail = c.final()
    const out = new Uint8Array(head.length + tail.length + TAG_BYTES)
    out.set(head)
    out.set(tail, head.length)
    out.set(c.getAuthTag(), head.length + tail.length)
    return out
  },
  open (key, nonce, aad, ciphertext) {
    if (ciphertext.length < TAG_BYTES) throw new Error('a ciphertext shorter than its tag')
    const k = ietf(key, nonce)
    const d = createDecipheriv('chacha20-poly1305', k.key, k.nonce, { authTagLength: TAG_BYTES })
    d.setAAD(aad, { plaintextLength: ciphertext.length - TAG_BYTES })
    d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES))
    const head = d.update(ciphertext.subarray(0, ciphertext.length - TAG_BYTES))
    const tail = d.final()
    if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.byteLength)
    const out = new Uint8Array(head.length + tail.length)
    out.set(head)
    out.set(tail, head.length)
    return out
  }
}
