/**
 * Garbage into every lib/e2e parser: random bytes, truncations, bit flips,
 * insertions, deletions and splices of valid envelopes (updates and
 * snapshots), epoch records, attestations and version vectors. Nothing may
 * throw anything but E2eError, and nothing signed may be accepted unless it
 * is byte for byte the valid original; a version vector that decodes must
 * be the canonical encoding of what it decoded to.
 *
 *   MESHDOC_SEED=n            replay one seed (a failure names its seed and input)
 *   MESHDOC_E2E_FUZZ=n        inputs per run (default 12,000)
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { signAttestation, verifyAttestation } from '../lib/e2e/attestation.js'
import { createEpoch, EpochChain, openEpochKeys, verifyEpochRecord } from '../lib/e2e/epoch.js'
import { checkEnvelopeBlind, openEnvelope, sealEnvelope } from '../lib/e2e/envelope.js'
import { E2eError } from '../lib/e2e/errors.js'
import { idOf as writerId } from '../lib/e2e/keys.js'
import { EnvelopeLog } from '../lib/e2e/log.js'
import type { EpochRecord } from '../lib/e2e/types.js'
import { vvDecode, vvEncode } from '../lib/e2e/version-vector.js'
import { seededRandom } from './helpers/mesh-nodes.js'

const DOC = new Uint8Array(16).fill(9)
const peerOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
/** a writer's id in lib/e2e: the hex of its key */
const idOf = (k: PrivateKey): string => writerId(k.publicKey.raw)

type Kind = 'update' | 'snapshot' | 'record' | 'attestation' | 'vv'

describe('e2e: garbage never gets in', function () {
  this.timeout(60_000)
  const seed = Number(process.env.MESHDOC_SEED ?? 16)
  const runs = Number(process.env.MESHDOC_E2E_FUZZ ?? 12_000)

  it(`${runs} inputs: only E2eError, and nothing signed accepted but the original (seed=${seed})`, async function () {
    const [owner, alice, bob] = await Promise.all([1, 2, 3].map(async () => await generateKeyPair('Ed25519')))
    const authority = (issuer: string): boolean => issuer === peerOf(owner)
    const e0 = await createEpoch({ key: owner, docKey: DOC, members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(bob), access: 'write' }] })
    const e1 = await createEpoch({ key: owner, docKey: DOC, previous: e0.record, previousKey: e0.key, members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(bob), access: 'read' }], closed: [[idOf(alice), 2], [idOf(bob), 1]] })
    const chain = new EpochChain(DOC)
    await chain.add(e0.bytes, { authority })
    const keys = openEpochKeys(chain, alice)
    // the gateway holds alice 1..2 and bob 1; the fuzzed envelopes are bob 2 (an update) and alice 3 (a snapshot)
    const aLog = new EnvelopeLog(DOC)
    const bLog = new EnvelopeLog(DOC)
    const gw = new EnvelopeLog(DOC)
    const edit = (s: string): Uint8Array => { const d = new Y.Doc(); d.getText('t').insert(0, s); return Y.encodeStateAsUpdate(d) }
    for (const [k, log, text] of [[alice, aLog, 'a1'], [alice, aLog, 'a2'], [bob, bLog, 'b1']] as const) {
      const env = await sealEnvelope(edit(text), { key: k, epochKey: keys.get(0)!, log })
      log.add(env)
      gw.add(env)
      if (log === bLog) aLog.add(env)
    }
    const update = (await sealEnvelope(edit('b2'), { key: bob, epochKey: keys.get(0)!, log: bLog })).bytes
    const snapshot = await sealEnvelope(edit('whole doc'), { key: alice, epochKey: keys.get(0)!, log: aLog, kind: 'snapshot' })
    const attestation = await signAttestation(bob, snapshot)
    const vv = vvEncode(gw.vv())
    const valid: Record<Kind, Uint8Array> = { update, snapshot: snapshot.bytes, record: e1.bytes, attestation, vv }
    const ctx = { epochs: chain, log: gw, keys: (e: number) => keys.get(e) }

    /** Whether `bytes` is accepted as `kind`; throws whatever the parser throws other than E2eError. */
    async function accepts (kind: Kind, bytes: Uint8Array, open: boolean): Promise<boolean> {
      try {
        switch (kind) {
          case 'update':
          case 'snapshot':
            if (open) await openEnvelope(bytes, ctx)
            else await checkEnvelopeBlind(bytes, ctx)
            return true
          case 'record':
            await verifyEpochRecord(bytes, { authority, docKey: DOC, previous: e0.record as EpochRecord })
            return true
          case 'attestation':
            await verifyAttestation(bytes, { epochs: chain })
            return true
          case 'vv': {
            const decoded = vvDecode(bytes)
            assert.deepEqual(vvEncode(decoded), bytes, 'a version vector that decodes is canonical')
            return true
          }
        }
      } catch (err) {
        if (err instanceof E2eError) return false
        throw err
      }
    }

    for (const kind of Object.keys(valid) as Kind[]) assert.ok(await accepts(kind, valid[kind], true), `the valid ${kind} is accepted`)

    const rand = seededRandom(seed)
    const int = (n: number): number => Math.floor(rand() * n)
    const kinds = Object.keys(valid) as Kind[]
    function mutate (src: Uint8Array): Uint8Array {
      const r = rand()
      if (r < 0.15) return crypto.getRandomValues(new Uint8Array(int(rand() < 0.9 ? 200 : 5000)))
      if (r < 0.35) return src.slice(0, int(src.length))
      if (r < 0.7) {
        const out = src.slice()
        for (let i = 0, n = 1 + int(3); i < n; i++) out[int(out.length)] ^= 1 << int(8)
        return out
      }
      if (r < 0.8) {
        const at = int(src.length + 1)
        return new Uint8Array([...src.subarray(0, at), int(256), ...src.subarray(at)])
      }
      if (r < 0.9) {
        const at = int(src.length)
        return new Uint8Array([...src.subarray(0, at), ...src.subarray(at + 1 + int(4))])
      }
      const other = valid[kinds[int(kinds.length)]]
      const cut = int(src.length)
      return new Uint8Array([...src.subarray(0, cut), ...other.subarray(int(other.length))])
    }

    /** the valid inputs the parser of `kind` accepts: both envelopes go through the same checker */
    const validFor = (kind: Kind): Uint8Array[] => kind === 'update' || kind === 'snapshot' ? [update, snapshot.bytes] : [valid[kind]]
    const isValid = (kind: Kind, input: Uint8Array): boolean => validFor(kind).some(v => Buffer.from(input).equals(Buffer.from(v)))
    const accepted = new Map<Kind, number>(kinds.map(k => [k, 0]))
    for (let i = 0; i < runs; i++) {
      const kind = kinds[i % kinds.length]
      const input = mutate(valid[kind])
      const same = isValid(kind, input)
      try {
        // every input into the parser of its kind, and one in eight into another's too
        const ok = await accepts(kind, input, i % 3 === 0)
        if (kind !== 'vv') assert.equal(ok, same, ok ? 'a mutant signed input was accepted' : 'the original was refused')
        if (ok) accepted.set(kind, accepted.get(kind)! + 1)
        if (i % 8 === 0) {
          const other = kinds[(i + 1 + int(kinds.length - 1)) % kinds.length]
          const okOther = await accepts(other, input, false)
          if (other !== 'vv') assert.equal(okOther, isValid(other, input), `a ${kind} mutant accepted as a ${other}`)
        }
      } catch (err) {
        (err as Error).message = `seed=${seed} input #${i} (${kind}, ${Buffer.from(input).toString('hex').slice(0, 400)}): ${(err as Error).message}`
        throw err
      }
    }
    // nothing reached the gateway's log
    assert.equal(gw.size, 3)
    assert.deepEqual(vvEncode(gw.vv()), vv)

    // the largest inputs the caps allow, with a bad signature, cost little: nothing per key named before the signature
    const randomKeys = (n: number): Uint8Array[] => Array.from({ length: n }, () => crypto.getRandomValues(new Uint8Array(32)))
      .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    const h = encoding.createEncoder()
    for (const v of [1, 2]) encoding.writeVarUint(h, v) // version, kind snapshot
    encoding.writeUint8Array(h, DOC)
    encoding.writeVarUint(h, 0) // epoch
    encoding.writeUint8Array(h, bob.publicKey.raw) // a write member
    encoding.writeVarUint(h, 1) // seq
    encoding.writeUint8Array(h, new Uint8Array(32)) // prev
    encoding.writeVarUint(h, 4096)
    for (const k of randomKeys(4096)) {
      encoding.writeUint8Array(h, k)
      encoding.writeVarUint(h, 1_000_000)
      encoding.writeUint8Array(h, new Uint8Array(32))
    }
    const e = encoding.createEncoder()
    encoding.writeVarUint8Array(e, encoding.toUint8Array(h))
    encoding.writeUint8Array(e, new Uint8Array(24))
    encoding.writeVarUint8Array(e, new Uint8Array(16))
    encoding.writeUint8Array(e, new Uint8Array(64))
    const big = encoding.toUint8Array(e)
    assert.ok(big.length > 270_000)
    const t0 = performance.now()
    for (let i = 0; i < 5; i++) assert.equal(await accepts('snapshot', big, false), false)
    const perSnapshot = (performance.now() - t0) / 5
    const r = encoding.createEncoder()
    encoding.writeVarUint(r, 1)
    encoding.writeVarUint(r, 4096)
    for (const k of randomKeys(4096)) {
      encoding.writeUint8Array(r, k)
      encoding.writeVarUint(r, 1)
    }
    const t1 = performance.now()
    assert.equal(vvDecode(encoding.toUint8Array(r)).size, 4096)
    const perVV = performance.now() - t1
    // a PeerId per key would cost some 200 ms here (4,096 base58 encodings)
    assert.ok(perSnapshot < 60 && perVV < 60, `a 4,096-writer snapshot took ${perSnapshot.toFixed(1)} ms, a VV ${perVV.toFixed(1)} ms`)
  })
})
