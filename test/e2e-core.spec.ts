/**
 * End-to-end encryption, the cryptographic core (lib/e2e): epoch records
 * (members, sealed keys, rotation), envelopes (sealed by a member, checked
 * by a node without the key, opened by a member) and every bad input of
 * issue 16 refused with its reason and nothing added.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { InvalidUpdateError } from '../lib/errors.js'
import { validateUpdate } from '../lib/security/validate-update.js'
import { createEpoch, decodeEpochRecord, defaultAuthority, EpochChain, openEpochKey, openEpochKeys, verifyEpochRecord, writes } from '../lib/e2e/epoch.js'
import { checkEnvelopeBlind, decodeEnvelope, decryptEnvelope, openEnvelope, sealEnvelope } from '../lib/e2e/envelope.js'
import { E2eError, type E2eRefusal } from '../lib/e2e/errors.js'
import { idOf as writerId } from '../lib/e2e/keys.js'
import { EnvelopeLog } from '../lib/e2e/log.js'
import { admitPlaintext, writerClientIds } from '../lib/e2e/admit.js'
import type { EpochKey, EpochRecord } from '../lib/e2e/types.js'

const peerOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
/** a writer's id in lib/e2e: the hex of its key */
const idOf = (k: PrivateKey): string => writerId(k.publicKey.raw)
const DOC = new Uint8Array(16).fill(7)
const OTHER_DOC = new Uint8Array(16).fill(8)

async function refusedWith (p: Promise<unknown> | (() => unknown), reason: E2eRefusal): Promise<void> {
  const run = typeof p === 'function' ? (async () => p())() : p
  await assert.rejects(run, (err: unknown) => {
    assert.ok(err instanceof E2eError, `not an E2eError: ${String(err)}`)
    assert.equal(err.reason, reason, err.message)
    return true
  })
}

function flip (bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice()
  out[at] ^= 1
  return out
}

describe('e2e: epochs and envelopes', function () {
  this.timeout(30_000)
  let owner: PrivateKey, alice: PrivateKey, bob: PrivateKey, carol: PrivateKey, mallory: PrivateKey
  let authority: (issuer: string) => boolean
  let epoch0: { bytes: Uint8Array, record: EpochRecord, key: EpochKey }

  before(async () => {
    [owner, alice, bob, carol, mallory] = await Promise.all([1, 2, 3, 4, 5].map(async () => await generateKeyPair('Ed25519')))
    authority = issuer => issuer === peerOf(owner)
    epoch0 = await createEpoch({
      key: owner,
      docKey: DOC,
      members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(bob), access: 'write' }, { peerId: peerOf(carol), access: 'read' }]
    })
  })

  async function chainOf (...records: Uint8Array[]): Promise<EpochChain> {
    const chain = new EpochChain(DOC)
    for (const r of records) await chain.add(r, { authority })
    return chain
  }

  describe('epoch records', () => {
    it('every member opens the same epoch key; the issuer, a non-member, opens none', async () => {
      const record = await verifyEpochRecord(epoch0.bytes, { authority, docKey: DOC })
      assert.equal(record.epoch, 0)
      assert.deepEqual(record.members.map(m => m.access).sort(), ['read', 'write', 'write'])
      for (const k of [alice, bob, carol]) assert.deepEqual(openEpochKey(record, k).key, epoch0.key.key)
      await refusedWith(() => openEpochKey(record, owner), 'not_member')
      await refusedWith(() => openEpochKey(record, mallory), 'not_member')
    })

    it('refuses a bad signature, an issuer without authority, another doc, a gap and a broken chain', async () => {
      await refusedWith(verifyEpochRecord(flip(epoch0.bytes, epoch0.bytes.length - 1), { authority }), 'bad_signature')
      await refusedWith(verifyEpochRecord(epoch0.bytes, { authority: () => false }), 'not_authorized')
      await refusedWith(verifyEpochRecord(epoch0.bytes, { authority: () => { throw new Error('boom') } }), 'not_authorized')
      await refusedWith(verifyEpochRecord(epoch0.bytes, { authority, docKey: OTHER_DOC }), 'wrong_doc')
      const mine = await createEpoch({ key: mallory, docKey: DOC, members: [{ peerId: peerOf(mallory), access: 'write' }] })
      await refusedWith(verifyEpochRecord(mine.bytes, { authority }), 'not_authorized')

      const e1 = await createEpoch({ key: owner, docKey: DOC, previous: epoch0.record, members: [{ peerId: peerOf(alice), access: 'write' }] })
      await refusedWith(verifyEpochRecord(e1.bytes, { authority }), 'gap')
      const other0 = await createEpoch({ key: owner, docKey: DOC, members: [{ peerId: peerOf(alice), access: 'write' }] })
      await refusedWith(verifyEpochRecord(e1.bytes, { authority, previous: other0.record }), 'bad_chain')
      const e2 = await createEpoch({ key: owner, docKey: DOC, previous: e1.record, members: [{ peerId: peerOf(alice), access: 'write' }] })
      const chain = await chainOf(epoch0.bytes)
      await refusedWith(chain.add(e2.bytes, { authority }), 'gap')
      await chain.add(e1.bytes, { authority })
      await refusedWith(chain.add(e1.bytes, { authority }), 'duplicate')
      // two issuers rotating at once: the second valid record of an epoch is a conflict, kept out
      const rival = await createEpoch({ key: owner, docKey: DOC, previous: epoch0.record, members: [{ peerId: peerOf(bob), access: 'write' }] })
      await refusedWith(chain.add(rival.bytes, { authority }), 'epoch_conflict')
      await refusedWith(chain.add(flip(rival.bytes, rival.bytes.length - 1), { authority }), 'bad_signature')
      assert.equal(chain.latest?.epoch, 1)
    })

    it('refuses a record over the size cap, and bytes after it, before anything else', async () => {
      await refusedWith(() => decodeEpochRecord(new Uint8Array(300 * 1024)), 'too_large')
      await refusedWith(() => decodeEpochRecord(new Uint8Array([...epoch0.bytes, 0])), 'malformed')
      await refusedWith(() => decodeEpochRecord(epoch0.bytes.subarray(0, 40)), 'malformed')
    })

    it('a record whose sealed key is not the committed one is refused to the member it was sealed to', async () => {
      // another record's sealed key spliced in: the issuer signs it, but the member sees it is not the epoch's key
      const other = await createEpoch({ key: owner, docKey: DOC, members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(bob), access: 'write' }, { peerId: peerOf(carol), access: 'read' }] })
      const spliced: EpochRecord = { ...epoch0.record, members: other.record.members, memberOf: other.record.memberOf }
      await refusedWith(() => openEpochKey(spliced, alice), 'bad_key')
    })

    it('rotation: a removed member cannot open the new key; the others can, and read the history', async () => {
      const e1 = await createEpoch({
        key: owner,
        docKey: DOC,
        previous: epoch0.record,
        previousKey: openEpochKey(epoch0.record, alice),
        members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(carol), access: 'read' }, { peerId: peerOf(mallory), access: 'read' }]
      })
      const chain = await chainOf(epoch0.bytes, e1.bytes)
      await refusedWith(() => openEpochKey(chain.get(1)!, bob), 'not_member')
      const bobs = openEpochKeys(chain, bob)
      assert.deepEqual([...bobs.keys()], [0], 'bob keeps what he had: epoch 0 only')
      const alices = openEpochKeys(chain, alice)
      assert.deepEqual(alices.get(1)?.key, e1.key.key)
      assert.deepEqual(alices.get(0)?.key, epoch0.key.key)
      // mallory, added at epoch 1, reads epoch 0 through the history
      assert.deepEqual(openEpochKeys(chain, mallory).get(0)?.key, epoch0.key.key)
      assert.notDeepEqual(e1.key.key, epoch0.key.key)
    })

    it('the default authority: the managers of the epoch before (the creator is one); one removed or demoted issues nothing after', async () => {
      const chain = new EpochChain(DOC)
      const auth = { authority: defaultAuthority(chain) }
      // the owner creates it and manages it; so does alice; bob writes, carol reads (an access code past 3 does not decode)
      const members = [{ peerId: peerOf(owner), access: 'manage' as const }, { peerId: peerOf(alice), access: 'manage' as const }, { peerId: peerOf(bob), access: 'write' as const }, { peerId: peerOf(carol), access: 'read' as const }]
      const e0 = await createEpoch({ key: owner, docKey: DOC, members })
      await chain.add(e0.bytes, auth)
      assert.deepEqual(chain.get(0)!.members.map(m => m.access).sort(), ['manage', 'manage', 'read', 'write'])
      assert.ok(writes('manage') && writes('write') && !writes('read') && !writes(undefined))
      await assert.rejects(createEpoch({ key: owner, docKey: DOC, members: [{ peerId: peerOf(alice), access: 'admin' as never }] }), TypeError)
      // a writer and a reader may not change the members; nor may a stranger
      for (const k of [bob, carol, mallory]) {
        const bid = await createEpoch({ key: k, docKey: DOC, previous: e0.record, members: [{ peerId: peerOf(k), access: 'manage' }] })
        await refusedWith(chain.add(bid.bytes, auth), 'not_authorized')
      }
      // alice, a manager, adds mallory without the owner; she keeps managing
      const e1 = await createEpoch({ key: alice, docKey: DOC, previous: e0.record, previousKey: openEpochKey(e0.record, alice), members: [...members, { peerId: peerOf(mallory), access: 'read' }] })
      await chain.add(e1.bytes, auth)
      assert.deepEqual(openEpochKeys(chain, mallory).get(0)?.key, e0.key.key, 'the new member reads the history')
      // the owner, a member of epoch 1, takes alice's manage away (she still writes) and leaves; she can no longer rotate
      const e2 = await createEpoch({ key: owner, docKey: DOC, previous: e1.record, members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(bob), access: 'manage' }] })
      await chain.add(e2.bytes, auth)
      const late = await createEpoch({ key: alice, docKey: DOC, previous: e2.record, members: [{ peerId: peerOf(alice), access: 'manage' }] })
      await refusedWith(chain.add(late.bytes, auth), 'not_authorized')
      // bob, made a manager in epoch 2, may; the owner, a member of no epoch since, may not (it was rotated out: it stays out)
      const e3 = await createEpoch({ key: bob, docKey: DOC, previous: e2.record, members: [{ peerId: peerOf(bob), access: 'manage' }] })
      await chain.add(e3.bytes, auth)
      const back = await createEpoch({ key: owner, docKey: DOC, previous: e3.record, members: [{ peerId: peerOf(owner), access: 'manage' }, { peerId: peerOf(bob), access: 'write' }] })
      await refusedWith(chain.add(back.bytes, auth), 'not_authorized')
      assert.equal(chain.latest?.epoch, 3)
      // the creator demoted (still a writer) issues nothing either
      const c3 = new EpochChain(DOC)
      await c3.add(e0.bytes, { authority: defaultAuthority(c3) })
      const demote = await createEpoch({ key: alice, docKey: DOC, previous: e0.record, members: [{ peerId: peerOf(owner), access: 'write' }, { peerId: peerOf(alice), access: 'manage' }] })
      await c3.add(demote.bytes, { authority: defaultAuthority(c3) })
      const undo = await createEpoch({ key: owner, docKey: DOC, previous: demote.record, members: [{ peerId: peerOf(owner), access: 'manage' }] })
      await refusedWith(c3.add(undo.bytes, { authority: defaultAuthority(c3) }), 'not_authorized')
      // the access byte is covered by the signature: a reader turned manager in transit is refused
      const e1r = e1.bytes.slice()
      const aliceKey = e1.record.memberOf.get(idOf(alice))!.key
      const at = Buffer.from(e1r).lastIndexOf(Buffer.from(aliceKey)) + aliceKey.length // after the issuer field: the member list
      assert.equal(e1r[at], 3, 'alice\'s access byte: manage')
      e1r[at] = 1
      const c2 = new EpochChain(DOC)
      await c2.add(e0.bytes, { authority: defaultAuthority(c2) })
      await refusedWith(c2.add(e1r, { authority: defaultAuthority(c2) }), 'bad_signature')
    })
  })

  describe('envelopes', () => {
    interface Member { key: PrivateKey, chain: EpochChain, log: EnvelopeLog, keys: Map<number, EpochKey> }
    async function member (key: PrivateKey, ...records: Uint8Array[]): Promise<Member> {
      const chain = await chainOf(...records)
      return { key, chain, log: new EnvelopeLog(DOC), keys: openEpochKeys(chain, key) }
    }
    const keysOf = (m: Member) => (e: number) => m.keys.get(e)
    async function write (m: Member, update: Uint8Array, epoch = m.chain.latest!.epoch) {
      const env = await sealEnvelope(update, { key: m.key, epochKey: m.keys.get(epoch)!, log: m.log })
      m.log.add(env)
      return env
    }
    function edit (text: string): Uint8Array {
      const doc = new Y.Doc()
      doc.getText('t').insert(0, text)
      return Y.encodeStateAsUpdate(doc)
    }

    it('round trip: sealed by a writer, checked blind, opened by a member (a reader too)', async () => {
      const a = await member(alice, epoch0.bytes)
      const u = edit('hello')
      const env = await write(a, u)
      assert.equal(env.header.seq, 1)
      const gateway = { epochs: await chainOf(epoch0.bytes), log: new EnvelopeLog(DOC) }
      const blind = await checkEnvelopeBlind(env.bytes, gateway)
      gateway.log.add(blind)
      assert.equal(gateway.log.tip(idOf(alice)).seq, 1)
      const c = await member(carol, epoch0.bytes)
      const opened = await openEnvelope(env.bytes, { epochs: c.chain, log: c.log, keys: keysOf(c) })
      assert.deepEqual(opened.plaintext, u)
      // the ciphertext says nothing of the plaintext
      assert.ok(!Buffer.from(env.bytes).includes(Buffer.from('hello')))
      const second = await write(a, edit('again'))
      assert.equal(second.header.seq, 2)
      assert.deepEqual(second.header.prev, env.hash)
    })

    it('refuses each bad input of the issue with its reason, and adds nothing', async () => {
      const a = await member(alice, epoch0.bytes)
      const gw = { epochs: await chainOf(epoch0.bytes), log: new EnvelopeLog(DOC) }
      const c = await member(carol, epoch0.bytes)
      const open = async (bytes: Uint8Array) => await openEnvelope(bytes, { epochs: c.chain, log: c.log, keys: keysOf(c) })
      const e1 = await write(a, edit('one'))

      // tampered ciphertext: a blind node sees a bad signature; a member too (the signature covers it)
      const ctAt = e1.bytes.length - 64 - 5
      await refusedWith(checkEnvelopeBlind(flip(e1.bytes, ctAt), gw), 'bad_signature')
      await refusedWith(open(flip(e1.bytes, ctAt)), 'bad_signature')

      // a valid ciphertext, re-signed by a non-member (mallory puts her key in the header): not a member
      const stolen: EpochKey = openEpochKey(epoch0.record, alice) // a stolen key: still not a writer
      const forged = await sealEnvelope(edit('forged'), { key: mallory, epochKey: stolen, log: new EnvelopeLog(DOC) })
      await refusedWith(checkEnvelopeBlind(forged.bytes, gw), 'not_member')
      await refusedWith(open(forged.bytes), 'not_member')
      // a reader (carol holds the key) cannot write either
      const byReader = await sealEnvelope(edit('reader'), { key: carol, epochKey: c.keys.get(0)!, log: new EnvelopeLog(DOC) })
      await refusedWith(checkEnvelopeBlind(byReader.bytes, gw), 'not_member')

      // a plaintext update sent for an encrypted doc
      await refusedWith(checkEnvelopeBlind(edit('plain'), gw), 'malformed')
      await refusedWith(open(edit('plain')), 'malformed')

      // accepted, then replayed
      gw.log.add(await checkEnvelopeBlind(e1.bytes, gw))
      c.log.add(await open(e1.bytes))
      await refusedWith(checkEnvelopeBlind(e1.bytes, gw), 'duplicate')
      await refusedWith(open(e1.bytes), 'duplicate')

      // a gap, then the envelope that fills it
      const e2 = await write(a, edit('two'))
      const e3 = await write(a, edit('three'))
      await refusedWith(checkEnvelopeBlind(e3.bytes, gw), 'gap')
      gw.log.add(await checkEnvelopeBlind(e2.bytes, gw))
      gw.log.add(await checkEnvelopeBlind(e3.bytes, gw))

      // equivocation: alice signs a second seq 3 (a forked log of hers)
      const fork = new EnvelopeLog(DOC)
      fork.add({ ...e1, rebase: [], held: false })
      fork.add({ ...e2, rebase: [], held: false })
      const other3 = await sealEnvelope(edit('other three'), { key: alice, epochKey: a.keys.get(0)!, log: fork })
      await refusedWith(checkEnvelopeBlind(other3.bytes, gw), 'equivocation')

      // another doc, an unknown epoch
      const elsewhere = await sealEnvelope(edit('x'), { key: alice, epochKey: { ...a.keys.get(0)!, docKey: OTHER_DOC }, log: new EnvelopeLog(OTHER_DOC) })
      await refusedWith(checkEnvelopeBlind(elsewhere.bytes, gw), 'wrong_doc')
      const future = await sealEnvelope(edit('x'), { key: bob, epochKey: { ...a.keys.get(0)!, epoch: 5 }, log: new EnvelopeLog(DOC) })
      await refusedWith(checkEnvelopeBlind(future.bytes, gw), 'unknown_epoch')

      // a member's ciphertext under the wrong key: blind nodes cannot tell, members refuse it
      const wrongKey = await sealEnvelope(edit('x'), { key: bob, epochKey: { ...a.keys.get(0)!, key: new Uint8Array(32) }, log: new EnvelopeLog(DOC) })
      await checkEnvelopeBlind(wrongKey.bytes, gw)
      await refusedWith(open(wrongKey.bytes), 'bad_ciphertext')

      assert.equal(gw.log.tip(idOf(alice)).seq, 3)
      assert.equal(gw.log.tip(idOf(bob)).seq, 0)
      assert.equal(gw.log.size, 3)
      assert.equal(c.log.size, 1)
    })

    it('a member\'s garbage plaintext opens, and is then refused by the strict V1 validator', async () => {
      const a = await member(alice, epoch0.bytes)
      const c = await member(carol, epoch0.bytes)
      const garbage = new Uint8Array([1, 1, 200, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 7])
      const env = await write(a, garbage)
      const opened = await openEnvelope(env.bytes, { epochs: c.chain, log: c.log, keys: keysOf(c) })
      const doc = new Y.Doc()
      assert.throws(() => validateUpdate(doc, opened.plaintext, 64), InvalidUpdateError)
      assert.equal(doc.store.clients.size, 0)
    })

    it('a writer writes only under its own clientIDs (deleting anyone\'s content is still allowed); a snapshot is applied only as a checkpoint', async () => {
      const a = await member(alice, epoch0.bytes)
      const b = await member(bob, epoch0.bytes)
      const c = await member(carol, epoch0.bytes)
      const open = async (env: { bytes: Uint8Array }) => await openEnvelope(env.bytes, { epochs: c.chain, log: c.log, keys: keysOf(c) })
      const docOf = (k: PrivateKey): Y.Doc => {
        const d = new Y.Doc()
        d.clientID = writerClientIds(k.publicKey.raw, DOC)[0]
        return d
      }
      const carolDoc = new Y.Doc()
      // alice writes under her id: admitted
      const aliceDoc = docOf(alice)
      aliceDoc.getText('t').insert(0, 'alice wrote this')
      const e1 = await open(await write(a, Y.encodeStateAsUpdate(aliceDoc)))
      const bytes = admitPlaintext(carolDoc, e1)
      assert.ok(bytes !== undefined)
      Y.applyUpdate(carolDoc, bytes)
      c.log.add(e1)
      // bob writes under alice's id (he signs it: it is his envelope, not her edit): refused by every member
      const forgedDoc = new Y.Doc()
      Y.applyUpdate(forgedDoc, Y.encodeStateAsUpdate(aliceDoc))
      forgedDoc.clientID = aliceDoc.clientID
      const sv = Y.encodeStateVector(forgedDoc)
      forgedDoc.getText('t').insert(0, 'alice did not write this: ')
      const e2 = await open(await write(b, Y.encodeStateAsUpdate(forgedDoc, sv)))
      await refusedWith(() => admitPlaintext(carolDoc, e2), 'forged_author')
      c.log.add(e2) // kept in the log (its writer's chain goes on), never applied
      // bob deletes alice's words, under his own id: a deletion names no author, it is admitted
      const bobDoc = docOf(bob)
      Y.applyUpdate(bobDoc, Y.encodeStateAsUpdate(aliceDoc))
      const before = Y.encodeStateVector(bobDoc)
      bobDoc.getText('t').delete(0, 6)
      const e3 = await open(await write(b, Y.encodeStateAsUpdate(bobDoc, before)))
      const del = admitPlaintext(carolDoc, e3)
      assert.ok(del !== undefined)
      Y.applyUpdate(carolDoc, del)
      assert.equal(carolDoc.getText('t').toString(), 'wrote this')
      // a snapshot that is not a checkpoint brings nothing to apply: everything it covers is held
      const snap = new Y.Doc()
      snap.getText('t').insert(0, 'whatever it says')
      const s = await open(await sealEnvelope(Y.encodeStateAsUpdate(snap), { key: alice, epochKey: a.keys.get(0)!, log: a.log, kind: 'snapshot' }))
      assert.equal(s.rebase.length, 0)
      assert.equal(admitPlaintext(carolDoc, s), undefined)
    })

    it('after rotation, a removed member can add nothing to the old epoch, nor write in the new one', async () => {
      const a = await member(alice, epoch0.bytes)
      const b = await member(bob, epoch0.bytes)
      const gw = { epochs: await chainOf(epoch0.bytes), log: new EnvelopeLog(DOC) }
      for (const env of [await write(a, edit('a1')), await write(b, edit('b1')), await write(b, edit('b2'))]) gw.log.add(await checkEnvelopeBlind(env.bytes, gw))
      // bob is removed: the issuer closes epoch 0 where it has seen bob
      const e1 = await createEpoch({ key: owner, docKey: DOC, previous: epoch0.record, previousKey: a.keys.get(0), members: [{ peerId: peerOf(alice), access: 'write' }], closed: gw.log.vv() })
      await gw.epochs.add(e1.bytes, { authority })
      const late = await write(b, edit('b3 after removal'), 0)
      await refusedWith(checkEnvelopeBlind(late.bytes, gw), 'stale_epoch')
      // forging the epoch number does not help: bob is no member of epoch 1
      const inNew = await sealEnvelope(edit('b3'), { key: bob, epochKey: { ...b.keys.get(0)!, epoch: 1 }, log: b.log })
      await refusedWith(checkEnvelopeBlind(inNew.bytes, gw), 'not_member')
      // what bob wrote before the rotation is still good (a node catching up takes it)
      const fresh = { epochs: await chainOf(epoch0.bytes, e1.bytes), log: new EnvelopeLog(DOC) }
      for (const env of gw.log.after(idOf(bob), 0)) fresh.log.add(await checkEnvelopeBlind(env.bytes, fresh))
      assert.equal(fresh.log.tip(idOf(bob)).seq, 2)
      // alice goes on in epoch 1
      await a.chain.add(e1.bytes, { authority })
      a.keys = openEpochKeys(a.chain, alice)
      gw.log.add(await checkEnvelopeBlind((await write(a, edit('a2'))).bytes, gw))
      assert.equal(gw.log.tip(idOf(alice)).seq, 2)
    })

    it('an honest writer\'s envelopes past a rotation it missed are dropped and sealed again in the new epoch', async () => {
      const a = await member(alice, epoch0.bytes)
      const b = await member(bob, epoch0.bytes)
      const gw = { epochs: await chainOf(epoch0.bytes), log: new EnvelopeLog(DOC) }
      gw.log.add(await checkEnvelopeBlind((await write(b, edit('b1'))).bytes, gw))
      // bob writes offline while alice rotates (adding carol), closing epoch 0 at bob's seq 1
      const offline = await write(b, edit('b2 offline'))
      gw.log.add(await checkEnvelopeBlind(offline.bytes, gw)) // reaches the gateway before the record
      const e1 = await createEpoch({ key: owner, docKey: DOC, previous: epoch0.record, previousKey: a.keys.get(0), members: [{ peerId: peerOf(alice), access: 'write' }, { peerId: peerOf(bob), access: 'write' }], closed: [[idOf(bob), 1]] })
      for (const n of [gw.epochs, b.chain]) await n.add(e1.bytes, { authority })
      assert.deepEqual(gw.log.dropStale(gw.epochs).map(e => e.header.seq), [2])
      const mine = b.log.dropStale(b.chain)
      b.keys = openEpochKeys(b.chain, bob)
      for (const old of mine) {
        const again = await write(b, decryptEnvelope(old, keysOf(b)))
        assert.equal(again.header.epoch, 1)
        assert.equal(again.header.seq, 2)
        gw.log.add(await checkEnvelopeBlind(again.bytes, gw))
      }
      await refusedWith(checkEnvelopeBlind(offline.bytes, gw), 'stale_epoch')
      assert.equal(gw.log.tip(idOf(bob)).seq, 2)
    })

    it('refuses oversize and truncated envelopes, and bytes after one', async () => {
      const a = await member(alice, epoch0.bytes)
      const env = await write(a, edit('x'))
      await refusedWith(() => decodeEnvelope(new Uint8Array(9 * 1024 * 1024)), 'too_large')
      await refusedWith(() => decodeEnvelope(new Uint8Array([...env.bytes, 0])), 'malformed')
      for (const n of [0, 1, 10, 100, env.bytes.length - 1]) await refusedWith(() => decodeEnvelope(env.bytes.subarray(0, n)), 'malformed')
      // a header length prefix announcing more than the cap
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, 10 * 1024 * 1024)
      await refusedWith(() => decodeEnvelope(encoding.toUint8Array(e)), 'malformed')
    })
  })
})
