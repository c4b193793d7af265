/**
 * Noise's X25519 in Node without re-importing our own private keys.
 *
 * @chainsafe/libp2p-noise's Node crypto hands every Diffie-Hellman raw key
 * bytes, so each of a handshake's three DHs parses the private key from
 * PKCS#8 DER into a fresh `KeyObject` first (`createPrivateKey`, about a
 * tenth of a millisecond with its slot lookups). A gateway answering a
 * fleet's handshakes spent more on that than on the DHs themselves
 * (issue 18, F1 profile of the connect window). `x25519KeyObjects` generates
 * each ephemeral and static key pair as libp2p-noise does, keeps the private
 * `KeyObject` (weakly, by the key bytes it returns), and uses it for every DH
 * with that key; a private key it did not make goes the stock way. Same
 * node:crypto primitives, same results (`test/noise-keys.spec.ts`).
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'

/** DER prefixes of an X25519 public key (SPKI) and private key (PKCS#8), as libp2p-noise uses them */
const SPKI_PREFIX = Buffer.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])
const PKCS8_PREFIX_LENGTH = 16

const own = new WeakMap<Uint8Array, KeyObject>()

/** DHs done with a kept KeyObject, and those that went the stock way (tests check the fast path is taken) */
export const x25519Counts = { kept: 0, stock: 0 }

type Key = Parameters<ICryptoInterface['generateX25519SharedKey']>[1]
const bytes = (b: Key): Uint8Array => b instanceof Uint8Array ? b : b.subarray()

export const x25519KeyObjects: ICryptoInterface = {
  ...defaultCrypto,
  generateX25519KeyPair () {
    const { publicKey, privateKey } = generateKeyPairSync('x25519')
    const pair = {
      publicKey: publicKey.export({ type: 'spki', format: 'der' }).subarray(SPKI_PREFIX.length),
      privateKey: privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(PKCS8_PREFIX_LENGTH)
    }
    own.set(pair.privateKey, privateKey)
    return pair
  },
  generateX25519SharedKey (privateKey, publicKey) {
    const key = privateKey instanceof Uint8Array ? own.get(privateKey) : undefined
    if (key === undefined) {
      x25519Counts.stock++
      return defaultCrypto.generateX25519SharedKey(privateKey, publicKey)
    }
    x25519Counts.kept++
    const pub = bytes(publicKey)
    return diffieHellman({
      privateKey: key,
      publicKey: createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub], SPKI_PREFIX.length + pub.byteLength), type: 'spki', format: 'der' })
    })
  }
}
