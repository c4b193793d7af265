/**
 * Micro-benchmark of the e2e envelope (lib/e2e): seal, blind check and open
 * of one envelope, for 100-byte and 10 KB updates, beside their parts:
 * Ed25519 sign and verify (libp2p keys), SHA-256, and raw
 * XChaCha20-Poly1305 (the floor: what the AEAD alone costs). Also checks
 * whether node:crypto's IETF ChaCha20-Poly1305 with an HChaCha20 subkey
 * (XChaCha20-Poly1305 built from noble's exported `hchacha` and Node's
 * native AEAD) is worth it: it is checked byte for byte against noble's
 * XChaCha20-Poly1305 first.
 *
 *   node --import tsx bench/e2e-envelope.ts [--ms 400]
 *
 * One process, one core; ops/s are medians of 5 timed runs of `--ms` each.
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { randomBytes } from '@noble/ciphers/utils.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { createEpoch, EpochChain } from '../lib/e2e/epoch.js'
import { checkEnvelopeBlind, openEnvelope, sealEnvelope } from '../lib/e2e/envelope.js'
import { EnvelopeLog } from '../lib/e2e/log.js'

const { values } = parseArgs({ options: { ms: { type: 'string', default: '400' } } })
const MS = Number(values.ms)

async function rate (fn: () => unknown): Promise<number> {
  for (let i = 0; i < 50; i++) await fn() // warm up
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    let n = 0
    const start = performance.now()
    let now = start
    while (now - start < MS) {
      await fn()
      n++
      if ((n & 15) === 0) now = performance.now()
    }
    runs.push(n / ((performance.now() - start) / 1000))
  }
  return runs.sort((a, b) => a - b)[2]
}

/** XChaCha20-Poly1305 from noble's HChaCha20 and node:crypto's IETF ChaCha20-Poly1305 (RFC 8439 + draft-irtf-cfrg-xchacha §2.3). */
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574])
function nodeXChaCha (key: Uint8Array, nonce: Uint8Array): { subkey: Buffer, iv: Buffer } {
  const k = new Uint32Array(key.slice().buffer)
  const i = new Uint32Array(nonce.slice(0, 16).buffer)
  const out = new Uint32Array(8)
  hchacha(SIGMA, k, i, out)
  const iv = Buffer.alloc(12)
  iv.set(nonce.subarray(16, 24), 4)
  return { subkey: Buffer.from(out.buffer), iv }
}
function nodeSeal (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const { subkey, iv } = nodeXChaCha(key, nonce)
  const c = createCipheriv('chacha20-poly1305', subkey, iv, { authTagLength: 16 })
  c.setAAD(aad, { plaintextLength: plaintext.length })
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()])
}
function nodeOpen (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer {
  const { subkey, iv } = nodeXChaCha(key, nonce)
  const d = createDecipheriv('chacha20-poly1305', subkey, iv, { authTagLength: 16 })
  d.setAAD(aad, { plaintextLength: sealed.length - 16 })
  d.setAuthTag(sealed.subarray(sealed.length - 16))
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()])
}

const docKey = new Uint8Array(16).fill(1)
const writer = await generateKeyPair('Ed25519')
const { bytes: record, key: epochKey } = await createEpoch({ key: writer, docKey, members: [{ peerId: peerIdFromPrivateKey(writer).toString(), access: 'write' }] })
const epochs = new EpochChain(docKey)
await epochs.add(record, { authority: () => true })
const rows: Array<[string, string, string]> = []
const fmt = (n: number): string => n >= 1e5 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0)
const mbs = (ops: number, size: number): string => `${(ops * size / 1e6).toFixed(1)} MB/s`

const message = randomBytes(32)
const signature = await writer.sign(message)
rows.push(['Ed25519 sign (libp2p, 32-byte message)', fmt(await rate(async () => await writer.sign(message))), ''])
rows.push(['Ed25519 verify (libp2p, 32-byte message)', fmt(await rate(async () => await writer.publicKey.verify(message, signature))), ''])

for (const size of [100, 10 * 1024]) {
  const plaintext = randomBytes(size)
  const key = epochKey.key
  const nonce = randomBytes(24)
  const aad = randomBytes(120)
  const sealed = xchacha20poly1305(key, nonce, aad).encrypt(plaintext)
  const viaNode = nodeSeal(key, nonce, aad, plaintext)
  if (!Buffer.from(sealed).equals(viaNode) || !nodeOpen(key, nonce, aad, viaNode).equals(plaintext)) throw new Error('node:crypto XChaCha20-Poly1305 differs from noble')
  const label = size === 100 ? '100 B' : '10 KB'
  const raw = await rate(() => xchacha20poly1305(key, nonce, aad).decrypt(xchacha20poly1305(key, nonce, aad).encrypt(plaintext)))
  rows.push([`raw XChaCha20-Poly1305 seal+open, noble (${label})`, fmt(raw), mbs(raw, size)])
  const native = await rate(() => nodeOpen(key, nonce, aad, nodeSeal(key, nonce, aad, plaintext)))
  rows.push([`raw XChaCha20-Poly1305 seal+open, hchacha + node:crypto (${label})`, fmt(native), mbs(native, size)])
  const hn = await rate(() => sha256(plaintext))
  rows.push([`SHA-256, noble (${label})`, fmt(hn), mbs(hn, size)])
  const hs = await rate(() => createHash('sha256').update(plaintext).digest())
  rows.push([`SHA-256, node:crypto (${label})`, fmt(hs), mbs(hs, size)])

  const log = new EnvelopeLog(docKey)
  const seal = await rate(async () => await sealEnvelope(plaintext, { key: writer, epochKey, log }))
  rows.push([`sealEnvelope (${label})`, fmt(seal), mbs(seal, size)])
  const env = await sealEnvelope(plaintext, { key: writer, epochKey, log })
  const ctx = { epochs, log, keys: () => epochKey }
  const blind = await rate(async () => await checkEnvelopeBlind(env.bytes, ctx))
  rows.push([`checkEnvelopeBlind (${label})`, fmt(blind), mbs(blind, size)])
  const open = await rate(async () => await openEnvelope(env.bytes, ctx))
  rows.push([`openEnvelope (${label})`, fmt(open), mbs(open, size)])
  const both = 1 / (1 / seal + 1 / open)
  rows.push([`seal + open, one envelope (${label})`, fmt(both), `${(raw / both).toFixed(1)}x the raw AEAD's time`])
}

const w = Math.max(...rows.map(r => r[0].length))
console.log(`${'operation'.padEnd(w)}  ${'ops/s'.padStart(8)}  note`)
for (const [name, ops, note] of rows) console.log(`${name.padEnd(w)}  ${ops.padStart(8)}  ${note}`)
console.log(`node ${process.version}, ${MS} ms x 5 runs each, median`)
