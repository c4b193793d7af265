/**
 * Bad input against a blind gateway holding an encrypted doc, on the real
 * wire (issue 16): a stock libp2p peer speaking E2E frames (WirePeer) sends
 * a tampered envelope, one signed by a non-member, a replay, one written by
 * a removed member in the epoch a rotation closed, plaintext frames for the
 * doc, 10,000 garbage envelopes and malformed E2E frames. Each is refused
 * with its reason and counted, nothing is stored or forwarded, and the
 * members still converge through the gateway afterwards.
 *
 * Seeded: MESHDOC_SEED=n replays the garbage; a failure names its seed.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import * as Y from 'yjs'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'
import { createEpoch, defaultAuthority, EpochChain } from '../lib/e2e/epoch.js'
import { E2eReplica } from '../lib/e2e/replica.js'
import { sealEnvelope } from '../lib/e2e/envelope.js'
import { EnvelopeLog } from '../lib/e2e/log.js'
import { decodeE2e, E2eKind, encodeE2e, type E2eMessage } from '../lib/e2e/wire.js'
import { vvDecode, vvEncode } from '../lib/e2e/version-vector.js'
import { equalBytes } from '../lib/e2e/codec.js'
import { docKeyFor } from '../lib/protocol/doc-key.js'
import { Features, MessageType } from '../lib/protocol/constants.js'
import { MemoryStorageAdapter } from '../lib/storage/memory-adapter.js'
import { WirePeer, sleep } from './helpers/hostile-wire.js'
import { connect, NodePool, seededRandom, testSeed, waitFor } from './helpers/mesh-nodes.js'

const DOC = 'vault/ledger'
const MARKER = 'refused-marker-4417'

describe('encrypted docs: bad input at a blind gateway (real wire)', function () {
  this.timeout(120_000)
  const pool = new NodePool()
  const raw: Libp2p[] = []
  after(async () => {
    await Promise.allSettled(raw.map(async n => { await n.stop() }))
    await pool.stopAll()
  })

  /** A stock libp2p node with `key`, speaking E2E frames to `gw` on one sync stream; `got` collects what it hears. */
  async function wirePeer (key: PrivateKey, gw: { multiaddrs: string[] }): Promise<{ peer: WirePeer, got: E2eMessage[], e2e: (m: E2eMessage) => boolean }> {
    const node = await createDefaultLibp2p({ privateKey: key })
    await node.start()
    raw.push(node)
    const peer = await WirePeer.open(node, multiaddr(gw.multiaddrs[0]), { features: Features.E2E })
    const got: E2eMessage[] = []
    peer.listen(f => { if (f.type === MessageType.E2E && 'body' in f) got.push(decodeE2e(f.body.slice())) })
    return { peer, got, e2e: (m) => peer.send({ type: MessageType.E2E, body: encodeE2e(m) }) }
  }

  it('each bad input is refused with its reason and counted; nothing is stored; the members still converge', async () => {
    const seed = testSeed()
    const rand = seededRandom(seed)
    const [ka, kb, kr] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const pid = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
    const gw = await pool.create({ serveAllDocs: true })
    const a = await pool.create({ privateKey: ka })
    await connect(a, gw)
    const ha = await a.open(DOC, { encrypted: { members: [{ peerId: pid(kb), access: 'write' }, { peerId: pid(kr), access: 'write' }] } })
    ha.doc.getText('t').insert(0, 'first')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    const docKey = docKeyFor(DOC)

    // the attacker: a stock libp2p node, no member, speaking E2E frames
    const node = await createDefaultLibp2p()
    await node.start()
    raw.push(node)
    const victim = multiaddr(gw.multiaddrs[0])
    let peer = await WirePeer.open(node, victim, { features: Features.E2E })
    const got: E2eMessage[] = []
    const listen = (p: WirePeer): void => { p.listen(f => { if (f.type === MessageType.E2E && 'body' in f) got.push(decodeE2e(f.body.slice())) }) }
    listen(peer)
    const e2e = (p: WirePeer, m: E2eMessage): boolean => p.send({ type: MessageType.E2E, body: encodeE2e(m) })
    e2e(peer, { kind: E2eKind.OPEN, docKey, records: 0, vv: vvEncode(new Map()) })
    await waitFor(() => got.some(m => m.kind === E2eKind.ENVELOPES), { what: 'the catch-up from the gateway' })
    const records = got.flatMap(m => m.kind === E2eKind.RECORDS ? m.records : [])
    const envelopes = got.flatMap(m => m.kind === E2eKind.ENVELOPES ? m.envelopes : [])
    assert.equal(records.length, 1)
    assert.ok(envelopes.length >= 1)
    const rejected = (): Record<string, number> => gw.stats.rejected
    const before = { ...rejected() }
    const refusedBy = async (reason: string, n = 1): Promise<void> => {
      await waitFor(() => (rejected()[`e2e_${reason}`] ?? 0) - (before[`e2e_${reason}`] ?? 0) >= n, { what: `${n} refusal(s) e2e_${reason}`, detail: () => JSON.stringify(rejected()) })
    }

    // 1. a tampered ciphertext: its signature no longer holds
    const tampered = envelopes[0].slice()
    tampered[tampered.length - 80] ^= 0x01
    e2e(peer, { kind: E2eKind.ENVELOPES, docKey, seq: 1, envelopes: [tampered] })
    await refusedBy('bad_signature')

    // 2. an envelope sealed and signed by a non-member (under a key it made up)
    const fakeLog = new EnvelopeLog(docKey)
    const forged = await sealEnvelope(Y.encodeStateAsUpdate(new Y.Doc()), {
      key: await generateKeyPair('Ed25519'),
      log: fakeLog,
      epochKey: { docKey, epoch: 0, key: crypto.getRandomValues(new Uint8Array(32)), secret: crypto.getRandomValues(new Uint8Array(32)) }
    })
    e2e(peer, { kind: E2eKind.ENVELOPES, docKey, seq: 2, envelopes: [forged.bytes] })
    await refusedBy('not_member')

    // 3. a replay of an envelope the gateway holds: ignored and counted, nothing stored twice
    const ignoredBefore = gw.stats.ignored.e2e_duplicate ?? 0
    e2e(peer, { kind: E2eKind.ENVELOPES, docKey, seq: 3, envelopes: [envelopes[0]] })
    await waitFor(() => (gw.stats.ignored.e2e_duplicate ?? 0) > ignoredBefore, { what: 'the replay counted' })

    // 4. plaintext for the encrypted doc: a SYNC1 is DENIED `encrypted`, an UPDATE refused and counted
    const plain = new Y.Doc()
    plain.getText('t').insert(0, MARKER)
    peer.sync1(docKey)
    peer.send({ type: MessageType.UPDATE, docKey, seq: 1, update: Y.encodeStateAsUpdate(plain) })
    await waitFor(() => (peer.denied.get('encrypted') ?? 0) >= 1, { what: 'DENIED encrypted' })
    await waitFor(() => (rejected().encrypted_doc ?? 0) > (before.encrypted_doc ?? 0), { what: 'the plaintext UPDATE counted' })

    // 5. 10,000 garbage envelopes in well-formed frames: mutations of a real one, truncations, random bytes
    const GARBAGE = 10_000
    const garbage: Uint8Array[] = []
    for (let i = 0; i < GARBAGE; i++) {
      const kind = i % 3
      const base = envelopes[Math.floor(rand() * envelopes.length)]
      if (kind === 0) {
        const g = base.slice()
        for (let j = 0; j < 1 + Math.floor(rand() * 4); j++) g[Math.floor(rand() * g.length)] ^= 1 + Math.floor(rand() * 255)
        garbage.push(g)
      } else if (kind === 1) {
        garbage.push(base.slice(0, Math.floor(rand() * base.length)))
      } else {
        garbage.push(crypto.getRandomValues(new Uint8Array(1 + Math.floor(rand() * 300))))
      }
    }
    const refusedTotal = (): number => Object.entries(rejected()).filter(([k]) => k.startsWith('e2e_')).reduce((n, [, v]) => n + v, 0)
    const refusedBefore = refusedTotal()
    const dupBefore = gw.stats.ignored.e2e_duplicate ?? 0
    for (let i = 0; i < GARBAGE; i += 500) {
      e2e(peer, { kind: E2eKind.ENVELOPES, docKey, seq: 10 + i, envelopes: garbage.slice(i, i + 500) })
      await peer.drained()
    }
    // a mutation that left the envelope intact (a flip undone) is a replay; anything else a refusal
    await waitFor(() => refusedTotal() - refusedBefore + (gw.stats.ignored.e2e_duplicate ?? 0) - dupBefore >= GARBAGE, {
      timeout: 60_000, what: `${GARBAGE} garbage envelopes refused (seed ${seed})`, detail: () => `${refusedTotal() - refusedBefore} refused: ${JSON.stringify(rejected())}`
    })
    assert.equal(peer.done, false, 'refused envelopes in a well-formed frame cost the peer nothing else')

    // 6. a removed member writing in the epoch the rotation closed: stale_epoch
    const removed = new E2eReplica({ docKey, storage: new MemoryStorageAdapter(), key: kr })
    await removed.takeRecords(0, records)
    await removed.takeEnvelopes(envelopes)
    await ha.removeMember(pid(kr))
    assert.equal(ha.epoch, 1)
    removed.doc!.getText('t').insert(0, MARKER)
    const late = await removed.sealPending()
    assert.equal(late.sealed.length, 1)
    await waitFor(() => got.some(m => m.kind === E2eKind.RECORDS && m.from === 1), { what: 'the rotation forwarded to the attacker\'s session' })
    e2e(peer, { kind: E2eKind.ENVELOPES, docKey, seq: 20_000, envelopes: [late.sealed[0].bytes] })
    await refusedBy('stale_epoch')

    // 7. malformed E2E frames close the sender (protocol_error); the gateway goes on
    const protocolErrors = rejected().protocol_error ?? 0
    const reopen = async (features: number): Promise<WirePeer> => {
      // one sync stream per peer: the last one ends before the next
      peer.stream.abort(new Error('next'))
      await waitFor(() => !gw.peers.includes(node.peerId.toString()), { what: 'the last stream gone' })
      return await WirePeer.open(node, victim, { features })
    }
    for (let i = 0; i < 20; i++) {
      peer = await reopen(Features.E2E)
      peer.send({ type: MessageType.E2E, body: crypto.getRandomValues(new Uint8Array(1 + Math.floor(rand() * 64))) })
      await waitFor(() => peer.done, { what: `malformed E2E frame ${i} answered (seed ${seed})` })
    }
    assert.ok((rejected().protocol_error ?? 0) >= protocolErrors + 20, JSON.stringify(rejected()))
    // and one to a node that never announced E2E: refused the same way
    peer = await reopen(0)
    e2e(peer, { kind: E2eKind.OPEN, docKey, records: 0, vv: vvEncode(new Map()) })
    await waitFor(() => peer.done, { what: 'an E2E frame without the feature answered' })

    // nothing refused reached a member; B joins and gets exactly A's doc, then both edit on
    const b = await pool.create({ privateKey: kb })
    await connect(b, gw)
    const hb = await b.open(DOC, { encrypted: true })
    await hb.whenReady({ timeout: 10_000 })
    await waitFor(() => hb.doc.getText('t').toString() === 'first', { what: 'B holds A\'s text', detail: () => hb.doc.getText('t').toString() })
    hb.doc.getText('t').insert(5, ' and second')
    await waitFor(() => ha.doc.getText('t').toString() === 'first and second', { what: 'A holds B\'s edit' })
    assert.ok(!ha.doc.getText('t').toString().includes(MARKER))
    await sleep(50)
  })

  it('a write member forging another\'s clientID: the blind gateway forwards it, the other member refuses it (forged_author) and still takes that writer\'s later edits', async () => {
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const pid = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
    const gw = await pool.create({ serveAllDocs: true })
    const a = await pool.create({ privateKey: ka })
    await connect(a, gw)
    const ha = await a.open(DOC, { encrypted: { members: [{ peerId: pid(kb), access: 'write' }] } })
    ha.doc.getText('t').insert(0, 'mine')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    const docKey = docKeyFor(DOC)

    // B, a write member, seals by hand an update under A's clientID, then an honest one of its own
    const { got, e2e } = await wirePeer(kb, gw)
    e2e({ kind: E2eKind.OPEN, docKey, records: 0, vv: vvEncode(new Map()) })
    await waitFor(() => got.some(m => m.kind === E2eKind.ENVELOPES), { what: 'the catch-up' })
    const b = new E2eReplica({ docKey, storage: new MemoryStorageAdapter(), key: kb })
    await b.takeRecords(0, got.flatMap(m => m.kind === E2eKind.RECORDS ? m.records : []))
    await b.takeEnvelopes(got.flatMap(m => m.kind === E2eKind.ENVELOPES ? m.envelopes : []))
    const forger = new Y.Doc()
    forger.clientID = ha.doc.clientID
    Y.applyUpdate(forger, Y.encodeStateAsUpdate(ha.doc))
    forger.getText('t').insert(0, MARKER)
    b.doc!.transact(() => { Y.applyUpdate(b.doc!, Y.encodeStateAsUpdate(forger, Y.encodeStateVector(ha.doc))) })
    const forged = await b.sealPending()
    b.doc!.getText('t').insert(b.doc!.getText('t').length, ' and B')
    const honest = await b.sealPending()
    e2e({ kind: E2eKind.ENVELOPES, docKey, seq: 1, envelopes: [...forged.sealed, ...honest.sealed].map(e => e.bytes) })

    await waitFor(() => (a.stats.rejected.e2e_forged_author ?? 0) >= 1, { what: 'A refuses the forgery', detail: () => JSON.stringify(a.stats.rejected) })
    await waitFor(() => ha.doc.getText('t').toString() === 'mine and B', { what: 'B\'s honest edit after its forgery', detail: () => ha.doc.getText('t').toString() })
    assert.ok(!ha.doc.getText('t').toString().includes(MARKER))
  })

  it('an epoch record by a member who does not manage the doc is refused at the blind gateway (not_authorized), told, counted, and reaches no member', async () => {
    const [ka, kw] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const pid = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
    const gw = await pool.create({ serveAllDocs: true })
    const a = await pool.create({ privateKey: ka })
    await connect(a, gw)
    const ha = await a.open(DOC, { encrypted: { members: [{ peerId: pid(kw), access: 'write' }] } })
    ha.doc.getText('t').insert(0, 'mine')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    const docKey = docKeyFor(DOC)

    // W, a writer, issues by hand an epoch 1 that makes it the only member (and a manager), and sends it
    const { peer, got, e2e } = await wirePeer(kw, gw)
    e2e({ kind: E2eKind.OPEN, docKey, records: 0, vv: vvEncode(new Map()) })
    await waitFor(() => got.some(m => m.kind === E2eKind.RECORDS), { what: 'the records' })
    const chain = new EpochChain(docKey)
    for (const r of got.flatMap(m => m.kind === E2eKind.RECORDS ? m.records : [])) await chain.add(r, { authority: defaultAuthority(chain) })
    const coup = await createEpoch({ key: kw, docKey, previous: chain.latest!, members: [{ peerId: pid(kw), access: 'manage' }] })
    e2e({ kind: E2eKind.RECORDS, docKey, from: 1, records: [coup.bytes] })
    await waitFor(() => (gw.stats.rejected.e2e_not_authorized ?? 0) >= 1, { what: 'the record refused', detail: () => JSON.stringify(gw.stats.rejected) })
    await waitFor(() => got.some(m => m.kind === E2eKind.REFUSED && m.reason === 'not_authorized'), { what: 'REFUSED not_authorized told' })
    assert.equal(peer.done, false, 'a refused record costs the peer its record only')
    await sleep(200)
    assert.equal(ha.epoch, 0)
    assert.equal(a.stats.rejected.e2e_not_authorized ?? 0, 0, 'nothing reached the member')
    // the doc goes on in epoch 0
    ha.doc.getText('t').insert(4, ' still')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
  })

  it('write quotas hold for frames in flight together: 30 docs\' first records at once with maxDocs 1 create one; an ENVELOPES frame past the bytes is refused whole, STORED says so, and is not charged', async () => {
    const gw = await pool.create({ serveAllDocs: true, quota: { maxDocs: 1, maxBytes: 32 * 1024 } })
    const kw = await generateKeyPair('Ed25519')
    const { peer, got, e2e } = await wirePeer(kw, gw)
    const N = 30
    const ids = Array.from({ length: N }, (_, i) => `burst/${i}`)
    const keys = ids.map(id => docKeyFor(id))
    for (const docKey of keys) e2e({ kind: E2eKind.OPEN, docKey, records: 1, vv: vvEncode(new Map()) })
    await waitFor(() => got.filter(m => m.kind === E2eKind.OPEN).length >= N, { what: 'the OPENs answered' })
    const me = peerIdFromPrivateKey(kw).toString()
    const recs = await Promise.all(keys.map(async docKey => await createEpoch({ key: kw, docKey, members: [{ peerId: me, access: 'manage' }] })))
    // every frame is in flight before the first is stored: the quota is reserved as each is checked, not charged after
    for (const [i, docKey] of keys.entries()) e2e({ kind: E2eKind.RECORDS, docKey, from: 0, records: [recs[i].bytes] })
    const taken = (): number => ids.filter(id => gw.isEncrypted(id)).length
    await waitFor(() => taken() + (gw.stats.rejected.e2e_quota_exceeded ?? 0) >= N, { what: 'every record answered', detail: () => JSON.stringify(gw.stats.rejected) })
    assert.equal(taken(), 1, `maxDocs 1, and ${taken()} docs created`)
    assert.equal(gw.stats.rejected.e2e_quota_exceeded, N - 1)

    // 40 KB into the doc taken, past the 32 KB: REFUSED quota_exceeded, and STORED for the frame without it
    const i = ids.findIndex(id => gw.isEncrypted(id))
    const docKey = keys[i]
    const update = (text: string): Uint8Array => { const d = new Y.Doc(); d.getText('t').insert(0, text); return Y.encodeStateAsUpdate(d) }
    const big = await sealEnvelope(update('x'.repeat(40 * 1024)), { key: kw, epochKey: recs[i].key, log: new EnvelopeLog(docKey) })
    e2e({ kind: E2eKind.ENVELOPES, docKey, seq: 7, envelopes: [big.bytes] })
    const storedFor = (seq: number): E2eMessage | undefined => got.find(m => m.kind === E2eKind.STORED && m.seq === seq && equalBytes(m.docKey, docKey))
    await waitFor(() => storedFor(7) !== undefined, { what: 'STORED for the refused frame' })
    assert.ok(got.some(m => m.kind === E2eKind.REFUSED && m.reason === 'quota_exceeded' && m.count === 1 && equalBytes(m.docKey, docKey)))
    const vvOf = (m: E2eMessage | undefined): Map<string, number> => m?.kind === E2eKind.STORED ? vvDecode(m.vv) : new Map()
    assert.equal(vvOf(storedFor(7)).size, 0, 'STORED names nothing of the refused envelope')
    // the refused bytes were not charged: a small envelope is taken
    const small = await sealEnvelope(update('small'), { key: kw, epochKey: recs[i].key, log: new EnvelopeLog(docKey) })
    e2e({ kind: E2eKind.ENVELOPES, docKey, seq: 8, envelopes: [small.bytes] })
    await waitFor(() => storedFor(8) !== undefined, { what: 'STORED for the small frame' })
    assert.deepEqual([...vvOf(storedFor(8)).values()], [1])
    assert.equal(peer.done, false, 'a peer past its quota stays')
  })

  it('the policy still holds for encrypted docs: no access, no OPEN (unavailable); read access, nothing stored (read_only)', async () => {
    const [ka, kb, kc] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const pid = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
    const access: Record<string, 'read' | 'none'> = { [pid(kb)]: 'read', [pid(kc)]: 'none' }
    const gw = await pool.create({ serveAllDocs: true, policy: (peerId) => access[peerId] ?? 'write' })
    const a = await pool.create({ privateKey: ka })
    await connect(a, gw)
    const ha = await a.open(DOC, { encrypted: { members: [{ peerId: pid(kb), access: 'write' }, { peerId: pid(kc), access: 'write' }] } })
    ha.doc.getText('t').insert(0, 'from A')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    // B: a write member of the doc, but the gateway's policy gives it read access only
    const b = await pool.create({ privateKey: kb })
    await connect(b, gw)
    const hb = await b.open(DOC, { encrypted: true })
    await hb.whenReady({ timeout: 10_000 })
    await waitFor(() => hb.doc.getText('t').toString() === 'from A', { what: 'B reads A\'s text' })
    hb.doc.getText('t').insert(0, MARKER)
    await waitFor(() => (gw.stats.rejected.e2e_read_only ?? 0) >= 1, { what: 'B\'s envelopes refused', detail: () => JSON.stringify(gw.stats.rejected) })
    await assert.rejects(hb.whenStored({ peer: gw.peerId, timeout: 1000 }))
    // C: no access at all, not even to the records
    const c = await pool.create({ privateKey: kc })
    await connect(c, gw)
    const hc = await c.open(DOC, { encrypted: true })
    await waitFor(() => (gw.stats.rejected.e2e_unavailable ?? 0) >= 1, { what: 'C\'s OPEN refused' })
    await assert.rejects(hc.whenReady({ timeout: 500 }))
    await sleep(200)
    assert.ok(!ha.doc.getText('t').toString().includes(MARKER))
  })
})
