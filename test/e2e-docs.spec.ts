/**
 * Encrypted docs on real nodes (libp2p TCP + Noise on 127.0.0.1, fs storage
 * with fsync): members who are never online together converge through a
 * blind gateway that stores and forwards what it cannot read; the gateway
 * holds no plaintext on disk; its acknowledgement means "on its disk"; a
 * plaintext SYNC1 for the doc is refused; a removed member reads nothing
 * written after the rotation.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { decodeEnvelope } from '../lib/e2e/envelope.js'
import { REVOCATION_SETTLE_MS, REVOCATION_STAGGER_MS } from '../lib/e2e/service.js'
import { issueGrant, revokeGrant } from '../adapters/presets/node.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import type { NodeMeshNode as MeshNode } from '../adapters/presets/node.js'
import { filesContaining } from './helpers/files.js'
import { connect, NodePool, waitFor } from './helpers/mesh-nodes.js'
import { InstrumentedAdapter } from './helpers/storage-wrappers.js'

const MARKER = 'zebra-quartz-7731'

describe('encrypted docs through a blind gateway (real libp2p, fs storage)', function () {
  this.timeout(60_000)
  const pool = new NodePool()
  const dirs: string[] = []
  afterEach(async () => {
    await pool.stopAll()
    await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  const dir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'meshdoc-e2e-'))
    dirs.push(d)
    return d
  }
  const member = async (key: PrivateKey, data: string): Promise<MeshNode> =>
    await pool.create({ privateKey: key, storage: new FsStorageAdapter(data) })

  it('two members never online together converge through the gateway, which stores no plaintext', async () => {
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const gwDir = await dir()
    const gw = await pool.create({ storage: new FsStorageAdapter(gwDir), serveAllDocs: true })
    const aDir = await dir()
    const bDir = await dir()

    // A creates the doc with B as a member, writes, and goes away once the gateway stored it
    const a = await member(ka, aDir)
    await connect(a, gw)
    const ha = await a.open('notes/secret', { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    assert.equal(ha.access, 'manage', 'the creator manages its doc')
    assert.equal(ha.manages, true)
    ha.doc.getText('body').insert(0, `hello ${MARKER}`)
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    await a.stop()

    // B joins later, reads it from the gateway alone, and writes back
    const b = await member(kb, bDir)
    await connect(b, gw)
    const hb = await b.open('notes/secret', { encrypted: true })
    await hb.whenReady({ timeout: 10_000 })
    await waitFor(() => hb.doc.getText('body').toString().includes(MARKER), { what: 'A\'s text at B' })
    hb.doc.getText('body').insert(0, 'B was here. ')
    await hb.whenStored({ peer: gw.peerId, timeout: 10_000 })
    await b.stop()

    // A comes back (same key, same storage): its copy loads from its disk and catches up from the gateway
    const a2 = await member(ka, aDir)
    const ha2 = await a2.open('notes/secret', { encrypted: true })
    assert.equal(ha2.doc.getText('body').toString(), `hello ${MARKER}`, 'A\'s own copy, from its own disk')
    await connect(a2, gw)
    await waitFor(() => ha2.doc.getText('body').toString() === `B was here. hello ${MARKER}`, { what: 'B\'s edit at A', detail: () => ha2.doc.getText('body').toString() })

    // nothing in clear on the gateway's disk (nor on the members': they store envelopes only)
    for (const d of [gwDir, aDir, bDir]) assert.deepEqual(await filesContaining(d, MARKER), [], `plaintext found under ${d}`)
  })

  it('a member joining later gets the catch-up once, in several frames, each envelope checked and applied once', async () => {
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const gw = await pool.create({ storage: new FsStorageAdapter(await dir()), serveAllDocs: true })
    const a = await member(ka, await dir())
    await connect(a, gw)
    const ha = await a.open('notes/long', { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    // 40 envelopes of some 8 KB: a catch-up of over 300 KB, more than one frame
    const chunk = 'x'.repeat(8000)
    for (let i = 0; i < 40; i++) {
      ha.doc.getText('body').insert(0, `${i}:${chunk}\n`)
      await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    }
    const expected = ha.doc.getText('body').toString()
    // what the gateway holds, blind: one doc, A's 40 envelopes (and the epoch's), their bytes
    const held = gw.encryptedHeld()
    assert.equal(held.docs, 1)
    assert.ok(held.envelopes >= 40, `${held.envelopes} envelopes held`)
    assert.ok(held.bytes > 40 * 8000, `${held.bytes} bytes held`)
    assert.deepEqual(a.encryptedHeld().docs, 1)
    await a.stop()

    // B connects first, then opens: its OPEN (no records yet) is answered with the records and the catch-up; taking
    // the records does not ask for the same catch-up again
    const b = await member(kb, await dir())
    await connect(b, gw)
    const framesBefore = gw.stats.framesOut
    const hb = await b.open('notes/long', { encrypted: true })
    await waitFor(() => hb.doc.getText('body').toString() === expected, { what: 'A\'s text at B' })
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(b.stats.ignored.e2e_duplicate ?? 0, 0, 'envelopes B got twice')
    assert.deepEqual(Object.keys(b.stats.rejected).filter(k => k.startsWith('e2e_')), [], `refusals at B: ${JSON.stringify(b.stats.rejected)}`)
    assert.ok(gw.stats.framesOut - framesBefore >= 3, `the catch-up went in several frames (${gw.stats.framesOut - framesBefore} frames out)`)
  })

  it('a removed member, connected to a member directly too, gets but reads nothing written after the rotation; the others go on, history included for a later member', async () => {
    const [ka, kb, kc, kd] = await Promise.all([0, 1, 2, 3].map(async () => await generateKeyPair('Ed25519')))
    const pid = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
    const gw = await pool.create({ storage: new FsStorageAdapter(await dir()), serveAllDocs: true })
    const [a, b, c] = await Promise.all([ka, kb, kc].map(async k => await member(k, await dir())))
    for (const n of [a, b, c]) await connect(n, gw)
    // C also holds a direct connection to B: after its removal it still gets B's edits by two paths
    await connect(c, b)
    const ha = await a.open('team/plans', { encrypted: { members: [{ peerId: pid(kb), access: 'write' }, { peerId: pid(kc), access: 'read' }] } })
    const [hb, hc] = await Promise.all([b, c].map(async n => await n.open('team/plans', { encrypted: true })))
    await Promise.all([hb, hc].map(async h => { await h.whenReady({ timeout: 10_000 }) }))
    assert.equal(hc.access, 'read')
    ha.doc.getText('t').insert(0, 'before. ')
    await waitFor(() => hc.doc.getText('t').toString() === 'before. ', { what: 'C reads what came before' })
    // a reader's edits are never sealed: they stay local, and nobody else sees them
    hc.doc.getText('t').insert(0, 'C-local ')

    await ha.removeMember(pid(kc))
    assert.deepEqual(ha.members().map(m => m.peerId).sort(), [pid(ka), pid(kb)].sort())
    // a rotation voids what A knew the gateway stored; the gateway's OPEN after taking the record tells it again
    await ha.whenStored({ peer: gw.peerId, timeout: 5000 })
    await waitFor(() => hb.epoch === 1, { what: 'B in the new epoch' })
    const heldByC = c.encryptedHeld().envelopes
    hb.doc.getText('t').insert(hb.doc.getText('t').length, `after ${MARKER}`)
    await waitFor(() => ha.doc.getText('t').toString() === `before. after ${MARKER}`, { what: 'A reads B\'s edit in the new epoch' })
    await hb.whenStored({ peer: gw.peerId, timeout: 10_000 })
    // C still gets the envelopes (from B directly, and from the gateway, blind) but holds no key to them
    await waitFor(() => c.encryptedHeld().envelopes > heldByC, { what: 'B\'s new envelope at C', detail: () => JSON.stringify(c.encryptedHeld()) })
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(hc.access, undefined, 'C is a member of no current epoch')
    assert.ok(!hc.doc.getText('t').toString().includes(MARKER), 'C read something written after its removal')
    assert.ok(!ha.doc.getText('t').toString().includes('C-local'))

    // a member added later reads the history through the records' chain
    await ha.addMember(pid(kd), 'read')
    const d = await member(kd, await dir())
    await connect(d, gw)
    const hd = await d.open('team/plans', { encrypted: true })
    await hd.whenReady({ timeout: 10_000 })
    await waitFor(() => hd.doc.getText('t').toString() === `before. after ${MARKER}`, { what: 'D reads the whole history', detail: () => hd.doc.getText('t').toString() })
  })

  it('a manager adds a member while the creator is offline, through the blind gateway; a writer may not; the newcomer reads the whole history', async () => {
    const [ka, km, kw, kc, kx] = await Promise.all([0, 1, 2, 3, 4].map(async () => await generateKeyPair('Ed25519')))
    const pid = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
    const gw = await pool.create({ storage: new FsStorageAdapter(await dir()), serveAllDocs: true })
    const aDir = await dir()
    const a = await member(ka, aDir)
    await connect(a, gw)
    const ha = await a.open('team/delegated', { encrypted: { members: [{ peerId: pid(km), access: 'manage' }, { peerId: pid(kw), access: 'write' }] } })
    ha.doc.getText('t').insert(0, 'from A. ')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    await a.stop()

    // M, a manager, adds C with the creator offline
    const m = await member(km, await dir())
    await connect(m, gw)
    const hm = await m.open('team/delegated', { encrypted: true })
    await hm.whenReady({ timeout: 10_000 })
    assert.equal(hm.access, 'manage')
    assert.equal(hm.manages, true)
    await waitFor(() => hm.doc.getText('t').toString() === 'from A. ', { what: 'A\'s text at M' })
    hm.doc.getText('t').insert(hm.doc.getText('t').length, 'from M. ')
    await hm.addMember(pid(kc), 'read')
    assert.equal(hm.epoch, 1)
    await hm.whenStored({ peer: gw.peerId, timeout: 10_000 })

    // W, a writer, may not change the members: refused locally, nothing sent, the gateway refused nothing
    const w = await member(kw, await dir())
    await connect(w, gw)
    const hw = await w.open('team/delegated', { encrypted: true })
    await hw.whenReady({ timeout: 10_000 })
    await waitFor(() => hw.epoch === 1, { what: 'W takes M\'s record from the blind gateway' })
    assert.equal(hw.manages, false)
    await assert.rejects(hw.addMember(pid(kx), 'read'), (err: unknown) => (err as { reason?: string }).reason === 'not_authorized')
    assert.equal(hw.epoch, 1)
    assert.equal(gw.stats.rejected.e2e_not_authorized ?? 0, 0)
    await m.stop()

    // C joins with neither A nor M online, and reads everything, A's text included (the history through M's record)
    const c = await member(kc, await dir())
    await connect(c, gw)
    const hc = await c.open('team/delegated', { encrypted: true })
    await hc.whenReady({ timeout: 10_000 })
    assert.equal(hc.access, 'read')
    await waitFor(() => hc.doc.getText('t').toString() === 'from A. from M. ', { what: 'the whole history at C', detail: () => hc.doc.getText('t').toString() })

    // A comes back: it takes M's record and still manages (the creator always may): it removes M
    const a2 = await member(ka, aDir)
    await connect(a2, gw)
    const ha2 = await a2.open('team/delegated', { encrypted: true })
    await waitFor(() => ha2.epoch === 1, { what: 'A takes M\'s record' })
    assert.deepEqual(ha2.members().map(x => x.peerId).sort(), [pid(ka), pid(km), pid(kw), pid(kc)].sort())
    await ha2.removeMember(pid(km))
    await waitFor(() => hc.epoch === 2 && hw.epoch === 2, { what: 'the others in epoch 2' })
  })

  it('an owner\'s revocation of members rotates them out: the creator first, else a manager after its turn, or when it next opens the doc; never twice, none undone', async function () {
    this.timeout(90_000)
    const owner = await generateKeyPair('Ed25519')
    const [ka, kb, kx, ky, kz, kw] = await Promise.all([0, 1, 2, 3, 4, 5].map(async () => await generateKeyPair('Ed25519')))
    const pid = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
    const trust = { owners: [pid(owner)] }
    const grant = async (k: PrivateKey): Promise<string> => await issueGrant({ key: owner, audience: pid(k), access: 'write', docs: ['**'], expiresAt: Date.now() + 3_600_000 })
    // every node checks grants (the members too: so they take revocations), the gateway included
    const kg = await generateKeyPair('Ed25519')
    const gw = await pool.create({ privateKey: kg, storage: new FsStorageAdapter(await dir()), serveAllDocs: true, trust, grants: [await grant(kg)] })
    const aDir = await dir()
    const node = async (k: PrivateKey, data?: string): Promise<MeshNode> => await pool.create({ privateKey: k, storage: new FsStorageAdapter(data ?? await dir()), trust, grants: [await grant(k)] })
    const [a, b, x, y, z] = await Promise.all([ka, kb, kx, ky, kz].map(async k => await node(k, k === ka ? aDir : undefined)))
    for (const n of [a, b, x, y, z]) await connect(n, gw)
    const ha = await a.open('team/revoked', { encrypted: { members: [{ peerId: pid(kb), access: 'manage' }, { peerId: pid(kx), access: 'write' }, { peerId: pid(ky), access: 'read' }, { peerId: pid(kz), access: 'read' }, { peerId: pid(kw), access: 'read' }] } })
    const [hb, hx, hy, hz] = await Promise.all([b, x, y, z].map(async n => await n.open('team/revoked', { encrypted: true })))
    await Promise.all([hb, hx, hy, hz].map(async h => { await h.whenReady({ timeout: 10_000 }) }))
    ha.doc.getText('t').insert(0, 'before. ')
    await waitFor(() => hy.doc.getText('t').toString() === 'before. ', { what: 'Y reads' })
    const noConflicts = (...nodes: MeshNode[]): void => { for (const n of nodes) assert.equal(n.stats.rejected.e2e_epoch_conflict ?? 0, 0, JSON.stringify(n.stats.rejected)) }

    // X and W revoked at once, with the creator online: A rotates them out (after a second, for newer records to come
    // first), neither undoing the other; B, a manager too, waits its turn and then finds it done
    await Promise.all([kx, kw].map(async k => { await gw.addRevocation(await revokeGrant({ key: owner, peer: pid(k) })) }))
    const out = [pid(ka), pid(kb), pid(ky), pid(kz)].sort()
    await waitFor(() => JSON.stringify(ha.members().map(m => m.peerId).sort()) === JSON.stringify(out) && hb.epoch === ha.epoch, { what: 'X and W rotated out at A and B', detail: () => `A ${ha.epoch} B ${hb.epoch} ${ha.members().length} members` })
    const epoch = ha.epoch!
    assert.ok(epoch === 1 || epoch === 2, String(epoch))
    ha.doc.getText('t').insert(ha.doc.getText('t').length, `after ${MARKER}`)
    await waitFor(() => hb.doc.getText('t').toString() === `before. after ${MARKER}`, { what: 'B reads the new epoch' })
    await new Promise(resolve => setTimeout(resolve, REVOCATION_SETTLE_MS + REVOCATION_STAGGER_MS + 1000))
    assert.equal(hb.epoch, epoch, 'B did not rotate again')
    assert.deepEqual(hb.members().map(m => m.peerId).sort(), out, 'nobody revoked came back')
    noConflicts(a, b, gw)
    assert.equal(hx.access, undefined)
    assert.ok(!hx.doc.getText('t').toString().includes(MARKER), 'X read what came after its revocation')

    // Y revoked with the creator gone: B, the manager, rotates it out after its turn
    await a.stop()
    const t0 = Date.now()
    await gw.addRevocation(await revokeGrant({ key: owner, peer: pid(ky) }))
    await waitFor(() => hb.epoch === epoch + 1, { timeout: REVOCATION_STAGGER_MS * 3, what: 'B rotates Y out' })
    assert.ok(Date.now() - t0 >= REVOCATION_SETTLE_MS + REVOCATION_STAGGER_MS - 100, 'a manager other than the creator waits its turn')
    assert.deepEqual(hb.members().map(m => m.peerId).sort(), [pid(ka), pid(kb), pid(kz)].sort())
    await waitFor(() => hz.epoch === epoch + 1, { what: 'Z in the next epoch' })

    // Z revoked with no manager online: A, back with its disk at epoch 1, takes the revocation, then opens the doc:
    // it rotates Z out once the gateway gave it epoch 2 (not from its stale chain: no conflict)
    await b.stop()
    await gw.addRevocation(await revokeGrant({ key: owner, peer: pid(kz) }))
    const a2 = await node(ka, aDir)
    await connect(a2, gw)
    await waitFor(() => a2.grantsHere!.peerRevoked(pid(kz)), { what: 'the revocation at A' })
    const ha2 = await a2.open('team/revoked', { encrypted: true })
    await waitFor(() => ha2.epoch === epoch + 2, { timeout: REVOCATION_STAGGER_MS * 3, what: 'A rotates Z out on opening', detail: () => String(ha2.epoch) })
    assert.deepEqual(ha2.members().map(m => m.peerId).sort(), [pid(ka), pid(kb)].sort())
    await waitFor(() => hz.epoch === epoch + 2 && hz.access === undefined, { what: 'Z sees it is out' })
    noConflicts(a2, gw)
    // removing someone already out issues no epoch; a doc created naming a revoked PeerId leaves it out
    await ha2.removeMember(pid(kx))
    assert.equal(ha2.epoch, epoch + 2)
    const fresh = await a2.open('team/after', { encrypted: { members: [{ peerId: pid(ky), access: 'read' }, { peerId: pid(kb), access: 'write' }] } })
    assert.deepEqual(fresh.members().map(m => m.peerId).sort(), [pid(ka), pid(kb)].sort())
  })

  it('write quotas hold for encrypted docs: a peer past its bytes or docs is refused (quota_exceeded), stays connected, and the usage survives a restart', async () => {
    const ka = await generateKeyPair('Ed25519')
    const gwDir = await dir()
    const quota = { maxBytes: 64 * 1024, maxDocs: 1 }
    let gw = await pool.create({ storage: new FsStorageAdapter(gwDir), serveAllDocs: true, quota })
    const a = await member(ka, await dir())
    await connect(a, gw)
    // the first doc: created on the gateway, charged one doc and its bytes
    const h1 = await a.open('quota/one', { encrypted: { members: [] } })
    h1.doc.getText('t').insert(0, 'small')
    await h1.whenStored({ peer: gw.peerId, timeout: 10_000 })
    // a second doc would be its second: its record is refused, nothing of it is held on the gateway
    const h2 = await a.open('quota/two', { encrypted: { members: [] } })
    h2.doc.getText('t').insert(0, 'refused')
    await waitFor(() => (gw.stats.rejected.e2e_quota_exceeded ?? 0) >= 1, { what: 'the second doc refused', detail: () => JSON.stringify(gw.stats.rejected) })
    await assert.rejects(h2.whenStored({ peer: gw.peerId, timeout: 500 }))
    // past the bytes: 100 KB into the first doc is refused as a whole, and acknowledged as not stored
    const refusedBefore = gw.stats.rejected.e2e_quota_exceeded ?? 0
    h1.doc.getText('t').insert(5, 'x'.repeat(100 * 1024))
    await waitFor(() => (gw.stats.rejected.e2e_quota_exceeded ?? 0) > refusedBefore, { what: 'the large write refused' })
    await assert.rejects(h1.whenStored({ peer: gw.peerId, timeout: 500 }))
    assert.ok(a.peers.includes(gw.peerId), 'a peer past its quota stays connected')
    assert.ok(gw.encryptedHeld().bytes < quota.maxBytes, JSON.stringify(gw.encryptedHeld()))

    // a restart keeps the usage: the second doc (A offers it again on connecting) is still one too many
    await gw.stop()
    gw = await pool.create({ storage: new FsStorageAdapter(gwDir), serveAllDocs: true, quota })
    await connect(a, gw)
    await waitFor(() => (gw.stats.rejected.e2e_quota_exceeded ?? 0) >= 2, { what: 'both refused again after the restart', detail: () => JSON.stringify(gw.stats.rejected) })
    await new Promise(resolve => setTimeout(resolve, 300))
    await gw.stop()
    const stored = new FsStorageAdapter(gwDir)
    assert.equal((await stored.loadRange([`_e2e.${docKeyHex(docKeyFor('quota/two'))}`])).length, 0, 'the second doc was stored after the restart')
    assert.ok((await stored.loadRange([`_e2e.${docKeyHex(docKeyFor('quota/one'))}`])).length > 0)
    await stored.close()
  })

  it('after a rotation on a session that was in sync from the start, the gateway tells the member again what it stored', async () => {
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const gw = await pool.create({ storage: new FsStorageAdapter(await dir()), serveAllDocs: true })
    const aDir = await dir()
    const a = await member(ka, aDir)
    await connect(a, gw)
    const ha = await a.open('team/rota', { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    ha.doc.getText('t').insert(0, 'stored')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    await a.stop()
    // A comes back: it and the gateway hold the same envelopes when they connect
    const a2 = await member(ka, aDir)
    const ha2 = await a2.open('team/rota', { encrypted: true })
    await connect(a2, gw)
    await ha2.whenStored({ peer: gw.peerId, timeout: 10_000 })
    // the rotation voids what A knew the gateway stored; the gateway's OPEN after taking the record says it again
    await ha2.removeMember(peerIdFromPrivateKey(kb).toString())
    await ha2.whenStored({ peer: gw.peerId, timeout: 5000 })
  })

  it('a snapshot attested by another member lets the gateway drop what it covers; a member who comes later catches up from it', async () => {
    const [ka, kb, kc] = await Promise.all([0, 1, 2].map(async () => await generateKeyPair('Ed25519')))
    const pid = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
    const gwStore = new FsStorageAdapter(await dir())
    const gw = await pool.create({ storage: gwStore, serveAllDocs: true })
    const [a, b] = await Promise.all([ka, kb].map(async k => await member(k, await dir())))
    for (const n of [a, b]) await connect(n, gw)
    const ha = await a.open('log/compact', { encrypted: { members: [{ peerId: pid(kb), access: 'write' }] } })
    const hb = await b.open('log/compact', { encrypted: true })
    await hb.whenReady({ timeout: 10_000 })
    for (let i = 0; i < 40; i++) {
      ha.doc.getArray<number>('xs').push([i])
      await ha.flush()
    }
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    const bucket = `_e2e.${docKeyHex(docKeyFor('log/compact'))}`
    const envelopesOnGateway = async (): Promise<number> => (await gwStore.loadRange([bucket])).filter(c => c.key[1] === 'e').length
    const before = await envelopesOnGateway()
    assert.ok(before >= 40, `${before} envelopes on the gateway`)
    await waitFor(() => hb.doc.getArray('xs').length === 40, { what: 'B holds the 40 items' })

    assert.equal(await ha.snapshot(), true)
    // B attests it (the gateway forwards the attestation back), and the gateway compacts
    let after = before
    for (const until = Date.now() + 10_000; Date.now() < until && after > 2;) {
      await new Promise(resolve => setTimeout(resolve, 100))
      after = await envelopesOnGateway()
    }
    assert.ok(after <= 2, `the gateway still holds ${after} of ${before} envelopes after the attested snapshot`)

    // a member added later catches up from the checkpoint, and reads it all
    await ha.addMember(pid(kc), 'read')
    const c = await member(kc, await dir())
    await connect(c, gw)
    const hc = await c.open('log/compact', { encrypted: true })
    await hc.whenReady({ timeout: 10_000 })
    await waitFor(() => hc.doc.getArray('xs').length === 40, { what: 'C holds the 40 items', detail: () => String(hc.doc.getArray('xs').length) })
    assert.deepEqual(hc.doc.getArray('xs').toJSON(), Array.from({ length: 40 }, (_, i) => i))
  })

  it('a writer whose edits pause seals a snapshot of what it wrote, if worth it; once attested the gateway holds little more than it', async () => {
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const gwStore = new FsStorageAdapter(await dir())
    const gw = await pool.create({ storage: gwStore, serveAllDocs: true })
    const [a, b] = await Promise.all([ka, kb].map(async k => await member(k, await dir())))
    for (const n of [a, b]) await connect(n, gw)
    const ha = await a.open('log/idle', { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    const hb = await b.open('log/idle', { encrypted: true })
    await hb.whenReady({ timeout: 10_000 })
    const bucket = `_e2e.${docKeyHex(docKeyFor('log/idle'))}`
    const snapshotsOnGateway = async (): Promise<number> =>
      (await gwStore.loadRange([bucket])).filter(c => c.key[1] === 'e' && decodeEnvelope(c.data).header.kind === 'snapshot').length
    // a little (under 16 KiB since the last snapshot): a pause seals nothing
    ha.doc.getText('t').insert(0, 'a short note. ')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    await new Promise(resolve => setTimeout(resolve, 2600))
    assert.equal(await snapshotsOnGateway(), 0, 'a snapshot for a few bytes')
    // more, in several envelopes: after the pause, a snapshot; B attests it; the gateway drops what it covers
    for (let i = 0; i < 10; i++) {
      ha.doc.getText('t').insert(0, `${i}:${'y'.repeat(4000)}\n`)
      await ha.flush()
    }
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    await waitFor(() => hb.doc.getText('t').length === ha.doc.getText('t').length, { what: 'B holds A\'s text' })
    let held = gw.encryptedHeld()
    for (const until = Date.now() + 8000; Date.now() < until && held.envelopes > 2;) {
      await new Promise(resolve => setTimeout(resolve, 100))
      held = gw.encryptedHeld()
    }
    assert.ok(await snapshotsOnGateway() >= 1, 'no snapshot after the pause')
    assert.ok(held.envelopes <= 2, `the gateway still holds ${held.envelopes} envelopes (${held.bytes} bytes)`)
  })

  it('a member that stops right after receiving a snapshot still attests it before it stops', async () => {
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const gwStore = new FsStorageAdapter(await dir())
    const gw = await pool.create({ storage: gwStore, serveAllDocs: true })
    const [a, b] = await Promise.all([ka, kb].map(async k => await member(k, await dir())))
    for (const n of [a, b]) await connect(n, gw)
    const ha = await a.open('log/brief', { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    const hb = await b.open('log/brief', { encrypted: true })
    await hb.whenReady({ timeout: 10_000 })
    for (let i = 0; i < 20; i++) {
      ha.doc.getArray<number>('xs').push([i])
      await ha.flush()
    }
    await waitFor(() => hb.doc.getArray('xs').length === 20, { what: 'B holds the 20 items' })
    const heldByB = b.encryptedHeld().envelopes
    assert.equal(await ha.snapshot(), true)
    // B stops as soon as the snapshot is in its log, well before its upkeep's pause (250 ms) is over
    await waitFor(() => b.encryptedHeld().envelopes > heldByB, { what: 'the snapshot at B', timeout: 5000 })
    await b.stop()
    const bucket = `_e2e.${docKeyHex(docKeyFor('log/brief'))}`
    let attestations = 0
    for (const until = Date.now() + 5000; Date.now() < until && attestations === 0;) {
      await new Promise(resolve => setTimeout(resolve, 100))
      attestations = (await gwStore.loadRange([bucket])).filter(c => c.key[1] === 'a').length
    }
    assert.ok(attestations >= 1, 'B stopped without attesting the snapshot it held')
  })

  it('a gateway whose disk fails acknowledges nothing of it; once the disk is back it stores it, says so, and keeps it across a restart', async () => {
    const ka = await generateKeyPair('Ed25519')
    const gwDir = await dir()
    const disk = new InstrumentedAdapter(new FsStorageAdapter(gwDir))
    const gw = await pool.create({ storage: disk, serveAllDocs: true })
    const a = await member(ka, await dir())
    await connect(a, gw)
    const ha = await a.open('plant/disk', { encrypted: { members: [] } })
    ha.doc.getText('t').insert(0, 'one ')
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    disk.beforeSave = async () => { throw new Error('ENOSPC: the disk is full') }
    ha.doc.getText('t').insert(4, 'two ')
    await assert.rejects(ha.whenStored({ peer: gw.peerId, timeout: 1500 }), /did not store/)
    assert.ok((gw.stats.rejected.e2e_store_failed ?? 0) >= 1)
    disk.beforeSave = undefined
    // retried on its own (after 1 s), and the member is told
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    await a.stop()
    await gw.stop()
    const gw2 = await pool.create({ storage: new FsStorageAdapter(gwDir), serveAllDocs: true })
    const a2 = await member(ka, await dir())
    await connect(a2, gw2)
    const fresh = await a2.open('plant/disk', { encrypted: true })
    await waitFor(() => fresh.doc.getText('t').toString() === 'one two ', { what: 'both edits from the restarted gateway', detail: () => fresh.doc.getText('t').toString() })
  })

  it('a restarted gateway still refuses in clear a doc it holds encrypted, before any member connects', async () => {
    const gwDir = await dir()
    const gw = await pool.create({ storage: new FsStorageAdapter(gwDir), serveAllDocs: true })
    const a = await member(await generateKeyPair('Ed25519'), await dir())
    await connect(a, gw)
    const ha = await a.open('plant/restart', { encrypted: { members: [] } })
    ha.doc.getText('t').insert(0, MARKER)
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    await a.stop()
    await gw.stop()
    const gw2 = await pool.create({ storage: new FsStorageAdapter(gwDir), serveAllDocs: true })
    assert.equal(gw2.isEncrypted('plant/restart'), true)
    const c = await pool.create()
    await connect(c, gw2)
    const hc = await c.open('plant/restart')
    const denied: string[] = []
    hc.on('denied', (_peer: string, reason: string) => { denied.push(reason) })
    await waitFor(() => denied.includes('encrypted'), { what: 'DENIED encrypted from the restarted gateway' })
    hc.doc.getText('t').insert(0, 'in clear')
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.deepEqual(await filesContaining(gwDir, 'in clear'), [], 'a write in clear stored under the encrypted doc\'s key')
  })

  it('an OPEN for a doc the gateway holds in clear changes nothing for it, and records for it are refused (held_in_clear)', async () => {
    const gw = await pool.create({ storage: new FsStorageAdapter(await dir()), serveAllDocs: true })
    const w = await pool.create()
    await connect(w, gw)
    const hw = await w.open('public/board')
    hw.doc.getText('t').insert(0, 'in clear')
    await hw.whenSynced({ peer: gw.peerId, timeout: 10_000 })
    // a member of its own making names the same key, encrypted
    const intruder = await member(await generateKeyPair('Ed25519'), await dir())
    await connect(intruder, gw)
    const hi = await intruder.open('public/board', { encrypted: { members: [] } })
    hi.doc.getText('t').insert(0, 'hijack')
    await waitFor(() => (gw.stats.rejected.e2e_held_in_clear ?? 0) >= 1, { what: 'the records refused', detail: () => JSON.stringify(gw.stats.rejected) })
    assert.equal(gw.isEncrypted('public/board'), false)
    // the doc in clear goes on for everyone
    const r = await pool.create()
    await connect(r, gw)
    const hr = await r.open('public/board')
    await waitFor(() => hr.doc.getText('t').toString() === 'in clear', { what: 'the doc in clear, still served' })
  })

  it('a gateway unloads an encrypted doc no session holds after idleUnloadMs; still refused in clear, and loaded again (checked) for the next member', async () => {
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const gw = await pool.create({ storage: new FsStorageAdapter(await dir()), serveAllDocs: true, idleUnloadMs: 300 })
    const a = await member(ka, await dir())
    await connect(a, gw)
    const ha = await a.open('idle/e2e', { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    for (let i = 0; i < 20; i++) {
      ha.doc.getArray<string>('xs').push([`${i} ${MARKER}`])
      await ha.flush()
    }
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })
    assert.equal(gw.encryptedHeld().docs, 1)
    // held while a session is open: only idleness unloads it
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.equal(gw.encryptedHeld().docs, 1, 'unloaded under an open session')
    await a.stop()
    await waitFor(() => gw.encryptedHeld().docs === 0, { timeout: 5000, what: 'the idle doc unloaded', detail: () => JSON.stringify(gw.encryptedHeld()) })

    // unloaded, it is still the gateway's encrypted doc: a SYNC1 in clear is DENIED
    const c = await pool.create()
    await connect(c, gw)
    const hc = await c.open('idle/e2e')
    const denied: string[] = []
    hc.on('denied', (_peer: string, reason: string) => { denied.push(reason) })
    await waitFor(() => denied.includes('encrypted'), { what: 'DENIED encrypted while unloaded' })

    // B joins: the gateway loads it again and serves the whole history
    const b = await member(kb, await dir())
    await connect(b, gw)
    const hb = await b.open('idle/e2e', { encrypted: true })
    await hb.whenReady({ timeout: 10_000 })
    await waitFor(() => hb.doc.getArray('xs').length === 20, { what: 'B holds the 20 items', detail: () => String(hb.doc.getArray('xs').length) })
    assert.equal(gw.encryptedHeld().docs, 1)
    hb.doc.getArray<string>('xs').push(['from B'])
    await hb.whenStored({ peer: gw.peerId, timeout: 10_000 })
  })

  it('a plaintext SYNC1 for a doc the gateway holds encrypted is refused (DENIED encrypted), and nothing is served in clear', async () => {
    const ka = await generateKeyPair('Ed25519')
    const gw = await pool.create({ storage: new FsStorageAdapter(await dir()), serveAllDocs: true })
    const a = await member(ka, await dir())
    await connect(a, gw)
    const ha = await a.open('plant/e2e', { encrypted: { members: [] } })
    ha.doc.getMap('m').set('secret', MARKER)
    await ha.whenStored({ peer: gw.peerId, timeout: 10_000 })

    const c = await pool.create()
    await connect(c, gw)
    const hc = await c.open('plant/e2e')
    const denied: string[] = []
    hc.on('denied', (_peer: string, reason: string) => { denied.push(reason) })
    await waitFor(() => denied.includes('encrypted'), { what: 'DENIED encrypted' })
    assert.equal(hc.doc.getMap('m').get('secret'), undefined)
    assert.ok((gw.stats.rejected.e2e_unavailable ?? 0) === 0)
    // and the member cannot open it in clear on its own node by mistake
    await assert.rejects(a.open('plant/e2e'), /encrypted here/)
  })
})
