/**
 * Grants in sessions (lib/grants/grant-exchange.ts), over real libp2p (TCP,
 * Noise, yamux on 127.0.0.1): a node with `trust` gives a peer exactly what
 * its valid grants give it. A stolen token is worth nothing to another
 * PeerId; a delegate's sub-grant works within its own; a grant that expires
 * mid-session ends the session; a provider's renewal keeps it; a gateway
 * serving by key enforces a glob on docs it knows only by key.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as Y from 'yjs'
import { decodeGrant, issueGrant, GrantError, type GrantRefused, type MeshNode } from '../adapters/presets/node.js'
import { NodePool, waitFor } from './helpers/mesh-nodes.js'

const HOUR = 3_600_000
const idOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()

describe('grants in sessions (real libp2p)', function () {
  this.timeout(60_000)
  const pool = new NodePool()
  afterEach(async () => { await pool.stopAll() })

  let owner: PrivateKey
  let ownerId: string
  before(async () => {
    owner = await generateKeyPair('Ed25519')
    ownerId = idOf(owner)
  })

  const grant = async (to: PrivateKey | string, docs: string[], access: 'read' | 'write', more: { notBefore?: number, expiresAt?: number, delegate?: boolean, key?: PrivateKey, parent?: string } = {}): Promise<string> =>
    await issueGrant({ key: more.key ?? owner, audience: typeof to === 'string' ? to : idOf(to), access, docs, notBefore: more.notBefore, expiresAt: more.expiresAt ?? Date.now() + HOUR, delegate: more.delegate, parent: more.parent })

  /** write `text` into `docId` on `node`, then see whether `other` receives it within `ms` */
  async function reaches (from: MeshNode, to: MeshNode, docId: string, text: string, ms = 3000): Promise<boolean> {
    const a = await from.open(docId)
    const b = await to.open(docId)
    a.doc.getText('t').insert(0, text)
    try {
      await waitFor(() => b.doc.getText('t').toString().includes(text), { timeout: ms })
      return true
    } catch {
      return false
    }
  }

  it('a device with a valid grant syncs its docs, and only those; its token presented by another PeerId gets nothing', async () => {
    const gw = await pool.create({ trust: { owners: [ownerId] } })
    const deviceKey = await generateKeyPair('Ed25519')
    const token = await grant(deviceKey, ['sensors/17/**'], 'write')
    const device = await pool.create({ privateKey: deviceKey, grants: [token], bootstrap: [gw.multiaddrs[0]] })
    await waitFor(() => gw.peers.includes(device.peerId))
    assert.ok(await reaches(device, gw, 'sensors/17/temp', 'device-write'), 'the granted doc syncs')
    assert.equal(await reaches(device, gw, 'sensors/18/temp', 'not-granted', 1500), false, 'a doc outside the grant never reaches the gateway')

    // the thief: another key, holding the device's token the way a modified node would (addGrant refuses it)
    const thiefKey = await generateKeyPair('Ed25519')
    const thief = await pool.create({ privateKey: thiefKey })
    await assert.rejects(thief.addGrant(token), (err: unknown) => err instanceof GrantError && err.reason === 'wrong_audience')
    const stolen = decodeGrant(token)
    ;(thief as unknown as { grantsHere: { held: Map<string, unknown> } }).grantsHere.held.set(stolen.id, { token, grant: stolen })
    const refused: GrantRefused[] = []
    gw.on('grant:refused', r => { refused.push(r) })
    await thief.dial(gw.multiaddrs[0]).catch(() => {})
    await waitFor(() => refused.length > 0, { what: 'the stolen token to be refused' })
    assert.equal(refused[0].reason, 'wrong_audience')
    assert.equal(refused[0].peer, thief.peerId)
    assert.equal(gw.stats.rejected.grant_wrong_audience, 1, 'counted')
    assert.equal(await reaches(thief, gw, 'sensors/17/temp', 'thief-write', 1500), false, 'the thief gets nothing')
    assert.ok(!gw.peers.includes(thief.peerId), 'and is closed (BYE forbidden: it has no valid grant)')
  })

  it('delegation: owner → gateway (may delegate) → sensor; the sensor writes its own docs only; an over-wide sub-grant is refused', async () => {
    const gwKey = await generateKeyPair('Ed25519')
    const gwGrant = await grant(gwKey, ['sensors/**'], 'write', { delegate: true })
    const gw = await pool.create({ privateKey: gwKey, trust: { owners: [ownerId] }, grants: [gwGrant] })
    const sensorKey = await generateKeyPair('Ed25519')
    const sub = await issueGrant({ key: gwKey, parent: gwGrant, audience: idOf(sensorKey), access: 'write', docs: ['sensors/42/**'], expiresAt: Date.now() + HOUR / 2 })
    // a sub-grant wider than its parent cannot even be made…
    await assert.rejects(issueGrant({ key: gwKey, parent: gwGrant, audience: idOf(sensorKey), access: 'write', docs: ['**'], expiresAt: Date.now() + HOUR / 2 }),
      (err: unknown) => err instanceof GrantError && err.reason === 'wider_than_parent')
    const sensor = await pool.create({ privateKey: sensorKey, grants: [sub], bootstrap: [gw.multiaddrs[0]] })
    await waitFor(() => gw.peers.includes(sensor.peerId))
    assert.ok(await reaches(sensor, gw, 'sensors/42/humidity', 'mine'), 'its own doc syncs through the delegated grant')
    assert.equal(await reaches(sensor, gw, 'sensors/43/humidity', 'not-mine', 1500), false, "another sensor's doc does not")
  })

  it('a read grant reads and cannot write: its writes are refused (DENIED read_only) and counted', async () => {
    const gw = await pool.create({ trust: { owners: [ownerId] } })
    const readerKey = await generateKeyPair('Ed25519')
    const reader = await pool.create({ privateKey: readerKey, grants: [await grant(readerKey, ['dash/**'], 'read')], bootstrap: [gw.multiaddrs[0]] })
    await waitFor(() => gw.peers.includes(reader.peerId))
    assert.ok(await reaches(gw, reader, 'dash/board', 'from-gateway'), 'the reader receives')
    const denied: string[] = []
    const h = await reader.open('dash/board')
    h.on('denied', (_peer: string, reason: string) => { denied.push(reason) })
    h.doc.getText('t').insert(0, 'reader-write')
    await waitFor(() => denied.includes('read_only'), { what: 'DENIED read_only' })
    assert.ok(!(await gw.open('dash/board')).doc.getText('t').toString().includes('reader-write'))
  })

  it('a grant expiring mid-session ends the session; a provider that renews in time keeps it', async () => {
    const gw = await pool.create({ trust: { owners: [ownerId] } })
    const shortKey = await generateKeyPair('Ed25519')
    // verifiers accept a grant until CLOCK_SKEW_MS (60 s) past its expiry: this one has about 3 s left
    const lateBy = (ms: number): { notBefore: number, expiresAt: number } => ({ notBefore: Date.now() - 120_000, expiresAt: Date.now() - 60_000 + ms })
    const short = await pool.create({ privateKey: shortKey, grants: [await grant(shortKey, ['notes/**'], 'write', lateBy(3000))], bootstrap: [gw.multiaddrs[0]] })
    let renewals = 0
    const renewedKey = await generateKeyPair('Ed25519')
    const t0 = Date.now()
    const renewed = await pool.create({
      privateKey: renewedKey,
      bootstrap: [gw.multiaddrs[0]],
      grantProvider: async (peerId) => { renewals++; return await grant(peerId, ['notes/**'], 'write', lateBy(6000)) }
    })
    await waitFor(() => gw.peers.includes(short.peerId) && gw.peers.includes(renewed.peerId))
    assert.ok(await reaches(short, gw, 'notes/a', 'before-expiry'))
    assert.ok(await reaches(renewed, gw, 'notes/b', 'before-expiry'))
    const gwDoc = await gw.open('notes/a')
    await waitFor(() => !gwDoc.status.peers.some(p => p.peer === short.peerId), { timeout: 8000, what: 'the expired session to end' })
    assert.equal(await reaches(short, gw, 'notes/a', 'after-expiry', 1500), false, 'writes after expiry are refused')
    // the renewed one: still in session after its first grant's life, and still syncing
    await new Promise(resolve => setTimeout(resolve, Math.max(0, t0 + 7000 - Date.now())))
    assert.ok(renewals >= 2, `the provider was asked again (${renewals})`)
    assert.ok((await gw.open('notes/b')).status.peers.some(p => p.peer === renewed.peerId), 'the renewed session never ended')
    assert.ok(await reaches(renewed, gw, 'notes/b', 'after-renewal'))
  })

  it('a gateway serving by key enforces a glob grant on docs it has never seen by id', async () => {
    const gw = await pool.create({ trust: { owners: [ownerId] }, serveAllDocs: true })
    const writerKey = await generateKeyPair('Ed25519')
    const writer = await pool.create({ privateKey: writerKey, grants: [await grant(writerKey, ['sensors/17/**'], 'write')], bootstrap: [gw.multiaddrs[0]] })
    await waitFor(() => gw.peers.includes(writer.peerId))
    const h = await writer.open('sensors/17/temp')
    h.doc.getText('t').insert(0, 'stored-by-key')
    await h.whenSynced({ peer: gw.peerId, timeout: 5000 })
    assert.equal(gw.openDocs.length, 0, 'the gateway never opened the doc by id')
    // a doc outside the glob: refused, though the gateway knows it only by key
    const other = await writer.open('sensors/18/temp')
    other.doc.getText('t').insert(0, 'outside')
    await assert.rejects(other.whenSynced({ peer: gw.peerId, timeout: 1500 }))
    // a second device reading through its own grant gets what the first stored
    const readerKey = await generateKeyPair('Ed25519')
    const reader = await pool.create({ privateKey: readerKey, grants: [await grant(readerKey, ['sensors/**'], 'read')], bootstrap: [gw.multiaddrs[0]] })
    const r = await reader.open('sensors/17/temp')
    await waitFor(() => r.doc.getText('t').toString() === 'stored-by-key', { what: 'the reader to receive through the key-serving gateway' })
    assert.ok(Y.encodeStateVector(r.doc).length > 1)
  })
})
