/**
 * The e2e primitives from node:crypto (adapters/presets/node-e2e-primitives.ts,
 * what the Node entry installs) against the portable ones (@noble and the
 * libp2p keys, lib/e2e/primitives.ts): the same bytes sealed, each opens what
 * the other sealed, both refuse every tampered part, and Ed25519 verify gives
 * the same answer for good, tampered and invalid signatures and keys.
 * Seeded: MESHDOC_SEED=n replays one.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { nodeE2ePrimitives as node } from '../adapters/presets/node-e2e-primitives.js'
import { portablePrimitives as portable } from '../lib/e2e/primitives.js'
import { seededRandom } from './helpers/mesh-nodes.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('e2e primitives: node:crypto against @noble', function () {
  this.timeout(30_000)
  const seed = Number(process.env.MESHDOC_SEED ?? 7)
  const rand = seededRandom(seed)
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256))
  const opens = (p: typeof node, k: Uint8Array, n: Uint8Array, a: Uint8Array, c: Uint8Array): boolean => {
    try {
      p.open(k, n, a, c)
      return true
    } catch {
      return false
    }
  }

  it(`XChaCha20-Poly1305: the same ciphertexts, each opens the other's, both refuse tampering (seed=${seed})`, () => {
    const sizes = [0, 1, 15, 16, 63, 64, 65, 127, 1000, 4096, 70_001]
    for (let i = 0; i < 120; i++) {
      const ctx = `seed=${seed} case ${i}`
      const key = bytes(32)
      const nonce = bytes(24)
      const aad = bytes(i % 5 === 0 ? 0 : Math.floor(rand() * 300))
      const plaintext = bytes(i < sizes.length ? sizes[i] : Math.floor(rand() * 2000))
      const a = node.seal(key, nonce, aad, plaintext)
      const b = portable.seal(key, nonce, aad, plaintext)
      assert.equal(hex(a), hex(b), ctx)
      assert.equal(a.length, plaintext.length + 16, ctx)
      assert.equal(hex(node.open(key, nonce, aad, b)), hex(plaintext), ctx)
      assert.equal(hex(portable.open(key, nonce, aad, a)), hex(plaintext), ctx)
      // a flipped bit anywhere (ciphertext, tag, aad, nonce, key) opens for neither
      const flip = (x: Uint8Array): Uint8Array => {
        const y = x.slice()
        y[Math.floor(rand() * y.length)] ^= 1 << Math.floor(rand() * 8)
        return y
      }
      const tampered: Array<[Uint8Array, Uint8Array, Uint8Array, Uint8Array, string]> = [
        [key, nonce, aad, flip(a), 'ciphertext'],
        [flip(key), nonce, aad, a, 'key'],
        [key, flip(nonce), aad, a, 'nonce'],
        [key, nonce, aad, a.subarray(0, a.length - 1), 'cut']
      ]
      if (aad.length > 0) tampered.push([key, nonce, flip(aad), a, 'aad'])
      for (const [k, n, ad, c, what] of tampered) {
        assert.equal(opens(node, k, n, ad, c), false, `${ctx}: node opens a tampered ${what}`)
        assert.equal(opens(portable, k, n, ad, c), false, `${ctx}: noble opens a tampered ${what}`)
      }
    }
    assert.throws(() => node.open(bytes(32), bytes(24), new Uint8Array(0), bytes(15)))
    assert.throws(() => node.seal(bytes(31), bytes(24), new Uint8Array(0), bytes(1)), RangeError)
    assert.throws(() => node.seal(bytes(32), bytes(12), new Uint8Array(0), bytes(1)), RangeError)
  })

  it('SHA-256: the same digests', () => {
    for (const n of [0, 1, 55, 56, 64, 1000, 100_000]) {
      const b = bytes(n)
      assert.equal(hex(node.sha256(b)), hex(portable.sha256(b)), `${n} bytes`)
    }
    assert.equal(hex(node.sha256(new TextEncoder().encode('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  it(`Ed25519 verify: the same answers for good, tampered and invalid input (seed=${seed})`, async () => {
    const check = async (raw: Uint8Array, msg: Uint8Array, sig: Uint8Array, expected: boolean | undefined, what: string): Promise<void> => {
      const a = await node.verify(raw, msg, sig)
      const b = await portable.verify(raw, msg, sig)
      assert.equal(a, b, `seed=${seed} ${what}: node ${String(a)}, portable ${String(b)}`)
      if (expected !== undefined) assert.equal(a, expected, `seed=${seed} ${what}`)
    }
    for (let i = 0; i < 20; i++) {
      const key = await generateKeyPair('Ed25519')
      const raw = key.publicKey.raw
      const msg = bytes(i === 0 ? 0 : 1 + Math.floor(rand() * 200))
      const sig = await key.sign(msg)
      await check(raw, msg, sig, true, `good ${i}`)
      await check(raw, msg, sig, true, `good ${i}, the key cached`)
      const badSig = sig.slice(); badSig[Math.floor(rand() * 64)] ^= 1
      await check(raw, msg, badSig, false, `signature ${i} tampered`)
      if (msg.length > 0) {
        const badMsg = msg.slice(); badMsg[0] ^= 0x80
        await check(raw, badMsg, sig, false, `message ${i} tampered`)
      }
      const other = (await generateKeyPair('Ed25519')).publicKey.raw
      await check(other, msg, sig, false, `another key ${i}`)
      // S + L: the same point, a non-canonical scalar (RFC 8032 §5.1.7 refuses it)
      const l = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]
      const big = sig.slice()
      let carry = 0
      for (let j = 0; j < 32; j++) {
        const v = big[32 + j] + l[j] + carry
        big[32 + j] = v & 0xff
        carry = v >> 8
      }
      await check(raw, msg, big, false, `non-canonical S ${i}`)
    }
    const msg = bytes(32)
    const sig = bytes(64)
    // not a point, wrong sizes, small-order keys
    await check(new Uint8Array(32).fill(0xff), msg, sig, false, 'a key that is not a point')
    await check(bytes(31), msg, sig, false, 'a short key')
    await check((await generateKeyPair('Ed25519')).publicKey.raw, msg, bytes(63), false, 'a short signature')
    const identity = new Uint8Array(32); identity[0] = 1
    await check(identity, msg, sig, false, 'the identity point, a random signature')
  })
})
