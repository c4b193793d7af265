/**
 * End-to-end encrypted docs through a blind node (lib/e2e): members who are
 * never online together converge through only the version-vector catch-up
 * of a node that cannot read them; snapshots are attested by another
 * member before the blind node compacts anything; concurrent snapshots
 * each drop only what they cover; a lying snapshot is never attested; a
 * member who joins later catches up from the compacted blind node.
 *
 * Seeded: MESHDOC_SEED=n replays one run; a failure names its seed.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as Y from 'yjs'
import { admitPlaintext, writerClientIds } from '../lib/e2e/admit.js'
import { verifyAttestation } from '../lib/e2e/attestation.js'
import { createEpoch, EpochChain, openEpochKeys } from '../lib/e2e/epoch.js'
import { checkEnvelopeBlind, decryptEnvelope, openEnvelope, sealEnvelope } from '../lib/e2e/envelope.js'
import { E2eError, type E2eRefusal } from '../lib/e2e/errors.js'
import { idOf as writerId } from '../lib/e2e/keys.js'
import { EnvelopeLog } from '../lib/e2e/log.js'
import { compactable } from '../lib/e2e/compaction.js'
import { attestSnapshot, sealSnapshot } from '../lib/e2e/snapshot.js'
import type { Envelope, EpochKey, OpenedEnvelope } from '../lib/e2e/types.js'
import { missingFrom, vvDecode, vvEncode, type CatchUp } from '../lib/e2e/version-vector.js'
import { randomTransaction } from './helpers/random-edits.js'
import { seededRandom } from './helpers/mesh-nodes.js'

const DOC = new Uint8Array(16).fill(3)
const REMOTE = Symbol('remote')
const peerOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
/** a writer's id in lib/e2e: the hex of its key */
const idOf = (k: PrivateKey): string => writerId(k.publicKey.raw)

const contentOf = (doc: Y.Doc): unknown => ({ body: doc.getText('body').toString(), meta: doc.getMap('meta').toJSON(), list: doc.getArray('list').toJSON() })

/** A node of the test: blind (no key, no doc) or a member with its doc. */
class Node {
  readonly chain = new EpochChain(DOC)
  readonly log = new EnvelopeLog(DOC)
  readonly records: Uint8Array[] = []
  keys = new Map<number, EpochKey>()
  doc: Y.Doc | undefined
  /** local updates not sealed yet */
  readonly pending: Uint8Array[] = []
  /** attestations this member made, to hand to the blind node */
  readonly outbox: Uint8Array[] = []
  /** snapshots of others received, to attest */
  readonly toAttest: OpenedEnvelope[] = []
  refused = new Map<string, number>()
  /** envelopes sealed again after a rotation voided them; checkpoints taken in catch-up */
  resealed = 0
  checkpoints = 0
  sealed = 0

  constructor (readonly name: string, readonly key?: PrivateKey, readonly authority: (issuer: string) => boolean = () => true) {
    if (key !== undefined) {
      this.doc = new Y.Doc()
      this.doc.clientID = writerClientIds(key.publicKey.raw, DOC)[0]
      this.doc.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== REMOTE) this.pending.push(u) })
    }
  }

  get member (): boolean { return this.key !== undefined }

  /** Take epoch records (in order); a member reopens its keys, and every node drops what a rotation voided. */
  async takeRecords (records: Uint8Array[]): Promise<Envelope[]> {
    for (const r of records.slice(this.records.length)) {
      await this.chain.add(r, { authority: this.authority })
      this.records.push(r)
    }
    if (this.key !== undefined && this.chain.latest?.memberOf.has(idOf(this.key)) === true) this.keys = openEpochKeys(this.chain, this.key)
    return this.log.dropStale(this.chain)
  }

  /** Seal every local update not sealed yet, in the latest epoch. */
  async flush (): Promise<void> {
    while (this.pending.length > 0) await this.seal(this.pending.shift()!, 'update')
  }

  async seal (plaintext: Uint8Array, kind: 'update' | 'snapshot'): Promise<Envelope> {
    const env = await sealEnvelope(plaintext, { key: this.key!, epochKey: this.keys.get(this.chain.latest!.epoch)!, log: this.log, kind })
    this.log.add(env)
    this.sealed++
    return env
  }

  /** A snapshot of the log (not of the live doc): what every other member can rebuild and check. */
  async snapshot (): Promise<Envelope> {
    await this.flush()
    const env = await sealSnapshot(this.keys.get(this.chain.latest!.epoch)!, { key: this.key!, log: this.log, keys: e => this.keys.get(e) })
    this.log.add(env)
    this.sealed++
    return env
  }

  /** Take a catch-up answer: attestations, then checkpoints and envelopes, each checked (and for a member opened, validated and applied). */
  async take (c: CatchUp): Promise<void> {
    this.checkpoints += c.checkpoints.length
    for (const a of c.attestations) {
      try {
        this.log.addAttestation(await verifyAttestation(a, { epochs: this.chain }))
      } catch (err) { this.count(err) }
    }
    for (const env of [...c.checkpoints, ...c.envelopes]) {
      try {
        if (this.member) {
          const opened = await openEnvelope(env.bytes, { epochs: this.chain, log: this.log, keys: e => this.keys.get(e) })
          const bytes = admitPlaintext(this.doc!, opened)
          // Yjs takes a random clientID when a remote update brings structs under its own (this writer's own
          // edits coming back, to a fresh device): remote updates go in under a spare id of the writer's, and
          // it writes on under its first, whose clock goes on from what came back
          const [own, spare] = writerClientIds(this.key!.publicKey.raw, DOC)
          this.doc!.clientID = spare
          if (bytes !== undefined) Y.applyUpdate(this.doc!, bytes, REMOTE)
          this.doc!.clientID = own
          this.log.add(opened)
          if (opened.header.kind === 'snapshot' && opened.header.writer !== idOf(this.key!)) this.toAttest.push(opened)
        } else {
          this.log.add(await checkEnvelopeBlind(env.bytes, { epochs: this.chain, log: this.log }))
        }
      } catch (err) { this.count(err) }
    }
  }

  /** Attest every snapshot received that checks out; the refusals are counted. */
  async attest (): Promise<void> {
    for (const s of this.toAttest.splice(0)) {
      try {
        const a = await attestSnapshot(s, { key: this.key!, log: this.log, keys: e => this.keys.get(e) })
        this.outbox.push(a)
        this.log.addAttestation(await verifyAttestation(a, { epochs: this.chain }))
      } catch (err) { this.count(err) }
    }
  }

  count (err: unknown): void {
    if (!(err instanceof E2eError)) throw err
    this.refused.set(err.reason, (this.refused.get(err.reason) ?? 0) + 1)
  }

  compact (): Envelope[] {
    const c = compactable(this.log, this.chain)
    this.log.compact(c.plan)
    return c.drop
  }
}

/** A member connects to the blind node: records both ways, its news up, the node's news down, through encoded VVs only. */
async function session (m: Node, gw: Node): Promise<void> {
  const records = m.records.length >= gw.records.length ? m.records : gw.records
  await gw.takeRecords(records)
  for (const stale of await m.takeRecords(records)) {
    // its own updates sealed in an epoch a rotation closed before them: sealed again in the new one
    // (a snapshot needs no such care: the updates it covered hold what it held)
    if (stale.header.writer !== idOf(m.key!) || stale.header.kind !== 'update') continue
    await m.seal(decryptEnvelope(stale, e => m.keys.get(e)), 'update')
    m.resealed++
  }
  await m.flush()
  await gw.take(missingFrom(vvDecode(vvEncode(gw.log.vv())), m.log))
  for (const a of m.outbox.splice(0)) gw.log.addAttestation(await verifyAttestation(a, { epochs: gw.chain }))
  await m.take(missingFrom(vvDecode(vvEncode(m.log.vv())), gw.log))
  await m.attest()
  for (const a of m.outbox.splice(0)) gw.log.addAttestation(await verifyAttestation(a, { epochs: gw.chain }))
  gw.compact()
  // members keep their logs bounded the same way (their docs hold the content)
  m.compact()
}

describe('e2e: members converge through a blind node', function () {
  this.timeout(60_000)
  let owner: PrivateKey, alice: PrivateKey, bob: PrivateKey, carol: PrivateKey
  let authority: (issuer: string) => boolean
  let epoch0: Uint8Array

  before(async () => {
    [owner, alice, bob, carol] = await Promise.all([1, 2, 3, 4].map(async () => await generateKeyPair('Ed25519')))
    authority = issuer => issuer === peerOf(owner) || issuer === peerOf(alice)
    epoch0 = (await createEpoch({ key: owner, docKey: DOC, members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(bob), access: 'write' }] })).bytes
  })

  async function nodes (): Promise<{ a: Node, b: Node, gw: Node }> {
    const a = new Node('alice', alice, authority)
    const b = new Node('bob', bob, authority)
    const gw = new Node('gateway', undefined, authority)
    for (const n of [a, b, gw]) await n.takeRecords([epoch0])
    return { a, b, gw }
  }

  const seed = Number(process.env.MESHDOC_SEED ?? 20_161)
  it(`a few hundred random edits, offline in turns, a rotation midway, snapshots and compaction; a late member catches up (seed=${seed})`, async function () {
    try {
      const rand = seededRandom(seed)
      const { a, b, gw } = await nodes()
      let edits = 0
      let sealed = 0
      for (let round = 0; round < 40; round++) {
        const m = round % 2 === 0 ? a : b
        const n = 1 + Math.floor(rand() * 12)
        for (let i = 0; i < n; i++) {
          randomTransaction(m.doc!, rand, m.name)
          edits++
        }
        await m.flush() // each edit sealed as it is made, offline
        if (rand() < 0.25) {
          await m.snapshot()
          sealed++
        }
        if (round === 20) {
          // alice rotates (she may: a delegate), adding carol; bob is offline and wrote in epoch 0 meanwhile
          await a.flush()
          const rec = await createEpoch({
            key: alice,
            docKey: DOC,
            previous: a.chain.latest,
            previousKey: a.keys.get(0),
            members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(bob), access: 'write' }, { peerId: peerOf(carol), access: 'write' }],
            closed: a.log.vv()
          })
          await a.takeRecords([...a.records, rec.bytes])
        }
        await session(m, gw)
      }
      // a last snapshot, which bob attests: the gateway keeps it and little else
      await session(b, gw)
      await session(a, gw)
      await a.snapshot()
      await session(a, gw)
      await session(b, gw)
      await session(a, gw)
      assert.ok(edits >= 200, `${edits} edits`)
      assert.ok(b.resealed > 0, 'bob wrote offline across the rotation, and sealed that again in epoch 1')
      assert.deepEqual(contentOf(b.doc!), contentOf(a.doc!))
      assert.deepEqual(Y.encodeStateVector(b.doc!), Y.encodeStateVector(a.doc!))
      assert.equal(gw.refused.size, 0, `the gateway refused ${JSON.stringify([...gw.refused])}`)
      // every honest snapshot is attested: the members refused nothing (one that arrives again in a later catch-up is a duplicate)
      if (process.env.MESHDOC_E2E_VERBOSE !== undefined) console.log(`      seed=${seed}: ${edits} edits, ${a.sealed + b.sealed} envelopes sealed, gateway holds ${gw.log.size} (${gw.log.bytes} bytes), ${b.resealed} resealed`)
      for (const m of [a, b]) assert.deepEqual([...m.refused.keys()].filter(r => r !== 'duplicate'), [], `${m.name} refused ${JSON.stringify([...m.refused])}`)
      assert.ok(sealed > 0 && gw.log.snapshots().next().done === false, 'snapshots were made')
      assert.ok(gw.log.size <= 2, `the gateway compacted: it holds ${gw.log.size} of the ${a.sealed + b.sealed} envelopes sealed`)
      // no plaintext on the blind node
      const marker = Buffer.from('alice:')
      for (const w of gw.log.writers()) for (const env of gw.log.after(w, 0)) assert.ok(!Buffer.from(env.bytes).includes(marker))

      // carol, added by the rotation, never met anyone: the compacted gateway alone brings her the whole doc
      const c = new Node('carol', carol, authority)
      await session(c, gw)
      assert.ok(c.checkpoints > 0)
      assert.deepEqual(contentOf(c.doc!), contentOf(a.doc!))
      // the only thing she may refuse: to attest a snapshot whose covered envelopes she got only inside a checkpoint it does not cover
      assert.deepEqual([...c.refused.keys()].filter(r => r !== 'cannot_check'), [], `carol refused ${JSON.stringify([...c.refused])}`)
      // and a second blind node catches up from the first, checkpoints included, to the same version vector
      const gw2 = new Node('gateway2', undefined, authority)
      await gw2.takeRecords(gw.records)
      await gw2.take(missingFrom(gw2.log.vv(), gw.log))
      assert.deepEqual([...gw2.log.vv()].sort(), [...gw.log.vv()].sort())
      assert.equal(gw2.refused.size, 0, `gateway2 refused ${JSON.stringify([...gw2.refused])}`)
    } catch (err) {
      (err as Error).message = `seed=${seed}: ${(err as Error).message}`
      throw err
    }
  })

  describe('snapshots and compaction', () => {
    async function writeSome (m: Node, n: number, rand: () => number): Promise<void> {
      for (let i = 0; i < n; i++) randomTransaction(m.doc!, rand, m.name)
      await m.flush()
    }
    const refusedWith = async (p: Promise<unknown>, reason: E2eRefusal): Promise<void> => {
      await assert.rejects(p, (err: unknown) => err instanceof E2eError && err.reason === reason)
    }
    const seqs = (log: EnvelopeLog, w: PrivateKey): number[] => log.after(idOf(w), 0).map(e => e.header.seq)

    /** alice and bob in step up to 3 each, then 2 more each and a snapshot each, both on the gateway */
    async function concurrentSnapshots (seed: number): Promise<{ a: Node, b: Node, gw: Node, sa: Envelope, sb: Envelope }> {
      const rand = seededRandom(seed)
      const { a, b, gw } = await nodes()
      await writeSome(a, 3, rand) // alice 1..3
      await writeSome(b, 3, rand) // bob 1..3
      await session(a, gw)
      await session(b, gw) // bob holds alice 1..3
      await session(a, gw) // alice holds bob 1..3
      await writeSome(a, 2, rand) // alice 4, 5
      await writeSome(b, 2, rand) // bob 4, 5
      const sa = await a.snapshot() // alice 6: covers alice 5, bob 3
      const sb = await b.snapshot() // bob 6: covers alice 3, bob 5
      for (const m of [a, b]) await gw.take(missingFrom(gw.log.vv(), m.log))
      assert.equal(gw.log.size, 12)
      assert.deepEqual(compactable(gw.log, gw.chain).drop, [], 'nothing goes before an attestation')
      return { a, b, gw, sa, sb }
    }
    /** `by` takes what the gateway has, attests the snapshots it got, and hands the attestations over */
    async function attestVia (by: Node, gw: Node): Promise<void> {
      await by.take(missingFrom(by.log.vv(), gw.log))
      await by.attest()
      for (const x of by.outbox.splice(0)) gw.log.addAttestation(await verifyAttestation(x, { epochs: gw.chain }))
    }
    const names = (envs: Envelope[]): string[] => envs.map(e => `${e.header.writer === idOf(alice) ? 'a' : 'b'}${e.header.seq}`).sort()

    it('concurrent snapshots each drop only what they cover, whichever is attested first', async () => {
      {
        const { a, b, gw } = await concurrentSnapshots(7)
        // bob attests alice's snapshot: alice ≤ 5 and bob ≤ 3 go; bob 4, 5 (which only bob's covers) stay
        await attestVia(b, gw)
        const first = compactable(gw.log, gw.chain)
        assert.deepEqual(names(first.drop), ['a1', 'a2', 'a3', 'a4', 'a5', 'b1', 'b2', 'b3'])
        gw.log.compact(first.plan)
        assert.deepEqual(seqs(gw.log, alice), [6])
        assert.deepEqual(seqs(gw.log, bob), [4, 5, 6])
        // alice attests bob's: bob 4, 5 go too; both snapshots stay (neither covers the other)
        await attestVia(a, gw)
        assert.deepEqual(names(gw.compact()), ['b4', 'b5'])
        assert.deepEqual(seqs(gw.log, alice), [6])
        assert.deepEqual(seqs(gw.log, bob), [6])
      }
      {
        // the other order: bob's snapshot (which covers alice only to 3) first never drops alice 4, 5
        const { a, b, gw } = await concurrentSnapshots(8)
        await attestVia(a, gw)
        assert.deepEqual(names(gw.compact()), ['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'b4', 'b5'])
        assert.deepEqual(seqs(gw.log, alice), [4, 5, 6])
        await attestVia(b, gw)
        assert.deepEqual(names(gw.compact()), ['a4', 'a5'])
        // a fresh member catches up from what is left: two snapshots, each the checkpoint of one writer
        const late = new Node('bob', bob, authority)
        await late.takeRecords([epoch0])
        await late.take(missingFrom(late.log.vv(), gw.log))
        assert.equal(late.refused.size, 0, JSON.stringify([...late.refused]))
        assert.deepEqual(contentOf(late.doc!), contentOf(b.doc!))
      }
    })

    it('a later snapshot that covers the earlier ones drops them all', async () => {
      const { a, b, gw } = await concurrentSnapshots(9)
      await attestVia(b, gw)
      await attestVia(a, gw)
      gw.compact()
      const rand = seededRandom(10)
      await writeSome(a, 2, rand) // alice 7, 8; she holds bob's snapshot (6)
      const s3 = await a.snapshot() // alice 9: covers alice 8, bob 6
      await gw.take(missingFrom(gw.log.vv(), a.log))
      await attestVia(b, gw)
      assert.deepEqual(names(gw.compact()), ['a6', 'a7', 'a8', 'b6'])
      const held = [...gw.log.snapshots()].map(s => Buffer.from(s.hash).toString('hex'))
      assert.deepEqual(held, [Buffer.from(s3.hash).toString('hex')])
      assert.equal(gw.log.size, 1)
    })

    it('a snapshot that claims more than it contains is never attested, so nothing is dropped', async () => {
      const rand = seededRandom(5)
      const { a, b, gw } = await nodes()
      await writeSome(a, 3, rand)
      await writeSome(b, 3, rand)
      await session(a, gw)
      await session(b, gw)
      await session(a, gw) // alice holds bob 1..3
      // alice lies: a snapshot of a doc without bob's edits, covering bob 1..3
      const liar = new Y.Doc()
      for (const env of a.log.after(idOf(alice), 0)) Y.applyUpdate(liar, decryptEnvelope(env, e => a.keys.get(e)))
      const lie = await a.seal(Y.encodeStateAsUpdate(liar), 'snapshot')
      assert.ok(lie.header.cover.some(m => m.writer === idOf(bob) && m.seq === 3))
      await gw.take(missingFrom(gw.log.vv(), a.log))
      assert.equal(gw.refused.size, 0, 'its form is right: the blind check (a) passes')
      // bob, honest, refuses to attest it; alice's own attestation does not count
      await b.take(missingFrom(b.log.vv(), gw.log))
      const opened = b.toAttest.splice(0)[0]
      await refusedWith(attestSnapshot(opened, { key: bob, log: b.log, keys: e => b.keys.get(e) }), 'not_covered')
      const own = await attestSnapshot(opened, { key: alice, log: a.log, keys: e => a.keys.get(e) }).catch(err => err)
      assert.ok(own instanceof E2eError && own.reason === 'not_covered', 'even its author finds it lacking')
      // an attestation by a non-member is refused outright
      const mallory = await generateKeyPair('Ed25519')
      const { signAttestation } = await import('../lib/e2e/attestation.js')
      await refusedWith(verifyAttestation(await signAttestation(mallory, lie), { epochs: gw.chain }), 'not_member')
      // alice attests her own lie: it counts for nothing
      gw.log.addAttestation(await verifyAttestation(await signAttestation(alice, lie), { epochs: gw.chain }))
      assert.deepEqual(compactable(gw.log, gw.chain).drop, [])
      assert.equal(gw.log.size, 7)
    })

    it('a snapshot that keeps every id but changes what an item says, or adds what no envelope carried, is never attested', async () => {
      const { a, b, gw } = await nodes()
      b.doc!.getText('body').insert(0, 'pay alice 10')
      a.doc!.getMap('meta').set('title', 'notes')
      await session(b, gw)
      await session(a, gw) // alice holds bob's edit
      // the same ids as bob's edit (his clientID, clock 0..11), another text: ids, state vector and delete set all match
      const forged = new Y.Doc()
      forged.clientID = b.doc!.clientID
      forged.getText('body').insert(0, 'pay mallory!')
      Y.applyUpdate(forged, Y.encodeStateAsUpdate(a.doc!, Y.encodeStateVector(forged)))
      assert.deepEqual(Y.encodeStateVector(forged), Y.encodeStateVector(a.doc!))
      const changed = await a.seal(Y.encodeStateAsUpdate(forged), 'snapshot')
      // the honest doc plus an item no envelope carried
      const extra = new Y.Doc()
      Y.applyUpdate(extra, Y.encodeStateAsUpdate(a.doc!))
      extra.getMap('meta').set('owner', 'mallory')
      const added = await a.seal(Y.encodeStateAsUpdate(extra), 'snapshot')
      const honest = await a.snapshot()
      await gw.take(missingFrom(gw.log.vv(), a.log))
      await b.take(missingFrom(b.log.vv(), gw.log))
      const [s1, s2, s3] = b.toAttest.splice(0)
      assert.deepEqual([s1.hash, s2.hash, s3.hash], [changed.hash, added.hash, honest.hash])
      const attest = async (s: OpenedEnvelope): Promise<Uint8Array> => await attestSnapshot(s, { key: bob, log: b.log, keys: e => b.keys.get(e) })
      await refusedWith(attest(s1), 'not_covered')
      await refusedWith(attest(s2), 'not_covered')
      gw.log.addAttestation(await verifyAttestation(await attest(s3), { epochs: gw.chain }))
      // only the honest snapshot drops anything: what it covers (the two lies included)
      assert.deepEqual(names(gw.compact()), ['a1', 'a2', 'a3', 'b1'])
      assert.equal(b.doc!.getText('body').toString(), 'pay alice 10')
    })

    it('the blind check refuses a cover naming another envelope than the one held, and waits on a cover not held yet', async () => {
      const rand = seededRandom(9)
      const { b, gw } = await nodes()
      await writeSome(b, 2, rand)
      await session(b, gw) // gateway: bob 1..2
      // bob forks: another seq 2 of his reaches alice directly (an equivocating writer)
      const fork = new EnvelopeLog(DOC)
      fork.add({ ...b.log.get(idOf(bob), 1)!, rebase: [], held: false })
      const otherTwo = await sealEnvelope(Y.encodeStateAsUpdate(new Y.Doc()), { key: bob, epochKey: b.keys.get(0)!, log: fork })
      const a = new Node('alice', alice, authority)
      await a.takeRecords([epoch0])
      await a.take({ attestations: [], checkpoints: [], envelopes: [b.log.get(idOf(bob), 1)!, otherTwo] })
      const s = await a.snapshot() // alice 1, covering bob 2 as the fork's
      await refusedWith(checkEnvelopeBlind(s.bytes, { epochs: gw.chain, log: gw.log }), 'bad_cover')
      // a snapshot covering bob 3, which the gateway does not hold yet: cover_gap, until it does
      await writeSome(b, 1, rand) // bob 3
      const a2 = new Node('alice', alice, authority)
      await a2.takeRecords([epoch0])
      await a2.take(missingFrom(a2.log.vv(), b.log))
      const s2 = await a2.snapshot()
      await refusedWith(checkEnvelopeBlind(s2.bytes, { epochs: gw.chain, log: gw.log }), 'cover_gap')
      await session(b, gw)
      gw.log.add(await checkEnvelopeBlind(s2.bytes, { epochs: gw.chain, log: gw.log }))
      assert.equal(gw.log.tip(idOf(alice)).seq, 1)
    })
  })

  it('a second blind node and a late member catch up from a compacted node through checkpoints', async () => {
    const rand = seededRandom(3)
    const { a, b, gw } = await nodes()
    for (let r = 0; r < 6; r++) {
      const m = r % 2 === 0 ? a : b
      for (let i = 0; i < 5; i++) randomTransaction(m.doc!, rand, m.name)
      if (r >= 2) await m.snapshot()
      await session(m, gw)
    }
    await session(a, gw)
    await session(b, gw)
    assert.ok(gw.log.size < a.log.size, 'compacted')
    const gw2 = new Node('gateway2', undefined, authority)
    await gw2.takeRecords([epoch0])
    const answer = missingFrom(gw2.log.vv(), gw.log)
    assert.ok(answer.checkpoints.length > 0)
    await gw2.take(answer)
    assert.equal(gw2.refused.size, 0, JSON.stringify([...gw2.refused]))
    assert.deepEqual([...gw2.log.vv()].sort(), [...gw.log.vv()].sort())
    // a member taking everything from the second blind node converges
    const lateBob = new Node('bob', bob, authority)
    await lateBob.takeRecords([epoch0])
    await lateBob.take(missingFrom(lateBob.log.vv(), gw2.log))
    assert.equal(lateBob.refused.size, 0, JSON.stringify([...lateBob.refused]))
    assert.deepEqual(contentOf(lateBob.doc!), contentOf(a.doc!))
  })
})
