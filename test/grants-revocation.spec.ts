/**
 * Revocations (lib/grants/revocation.ts, grant-exchange.ts) over real libp2p:
 * one issued at one end of a line of nodes reaches the far end by itself,
 * cuts the revoked peer's session there, and its later writes appear
 * nowhere; after every node restarts (fs storage), it is still in force.
 * A forged revocation is refused and counted, and the peer that sent it closed.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as encoding from 'lib0/encoding'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { GrantError, issueGrant, revocationBytes, revokeGrant, type MeshNode, type MeshNodeOptions } from '../adapters/presets/node.js'
import { LOOPBACK, NodePool, waitFor } from './helpers/mesh-nodes.js'

const HOUR = 3_600_000
const idOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()

describe('revocations (real libp2p)', function () {
  this.timeout(90_000)
  const pool = new NodePool()
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-revoke-')) })
  afterEach(async () => {
    await pool.stopAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('issued at one end of a line of 4 nodes, it reaches the far end and cuts the revoked device there; still in force after every node restarts', async () => {
    const owner = await generateKeyPair('Ed25519')
    const trust = { owners: [idOf(owner)] }
    const names = ['a', 'b', 'c', 'd', 'device']
    const keys = await Promise.all(names.map(async () => await generateKeyPair('Ed25519')))
    const tokens = await Promise.all(keys.map(async (k, i) => await issueGrant({ key: owner, audience: idOf(k), access: 'write', docs: [names[i] === 'device' ? 'sensors/9/**' : '**'], expiresAt: Date.now() + HOUR })))
    // every node checks grants and holds its own; each dials the one before it; the device dials d
    // the device checks no grants (devices seldom do): it never hears of its revocation and keeps presenting its grant
    const start = async (i: number, addr?: string): Promise<MeshNode> => await pool.create({
      storage: new FsStorageAdapter(join(dir, names[i])),
      privateKey: keys[i],
      ...(names[i] === 'device' ? {} : { trust }),
      grants: [tokens[i]],
      listen: LOOPBACK,
      ...(addr !== undefined ? { bootstrap: [addr] } : {})
    } satisfies MeshNodeOptions)
    const line: MeshNode[] = []
    for (let i = 0; i < 4; i++) line.push(await start(i, line[i - 1]?.multiaddrs[0]))
    let device = await start(4, line[3].multiaddrs[0])
    for (let i = 1; i < 4; i++) await waitFor(() => line[i].peers.includes(line[i - 1].peerId), { what: `${names[i]} linked to ${names[i - 1]}` })
    await waitFor(() => line[3].peers.includes(device.peerId), { what: 'the device linked to d' })

    // the device's readings reach a, three hops away
    const reading = async (n: MeshNode, text: string): Promise<void> => { (await n.open('sensors/9/temp')).doc.getText('t').insert(0, text) }
    // every node of the line holds the doc (a node passes on only the docs it holds)
    for (const n of line) await n.open('sensors/9/temp')
    const atA = await line[0].open('sensors/9/temp')
    await reading(device, 'before;')
    await waitFor(() => atA.doc.getText('t').toString().includes('before;'), { what: 'the reading at a' })

    // the owner revokes the device at a; it reaches d by itself and d cuts the device
    const record = await revokeGrant({ key: owner, peer: device.peerId })
    const atD = await line[3].open('sensors/9/temp')
    const issued = performance.now()
    await line[0].addRevocation(record)
    await waitFor(() => !atD.status.peers.some(p => p.peer === device.peerId), { what: "the device's session at d to end" })
    const cutMs = performance.now() - issued
    console.log(`      revocation from a to the cut at d (3 hops): ${cutMs.toFixed(1)} ms`)
    for (const n of line) assert.equal(n.grants.length, 1, 'the nodes of the line keep their own grants')

    // later writes of the device appear nowhere
    await reading(device, 'after;')
    await new Promise(resolve => setTimeout(resolve, 1000))
    for (const n of line) assert.ok(!(await n.open('sensors/9/temp')).doc.getText('t').toString().includes('after;'), `the write after the cut is not at ${n.peerId}`)

    // every node restarts (storage kept): the revocation is still in force
    await pool.stopAll()
    line.length = 0
    for (let i = 0; i < 4; i++) line.push(await start(i, line[i - 1]?.multiaddrs[0]))
    for (const n of line) await n.open('sensors/9/temp')
    const refused: string[] = []
    line[3].on('grant:refused', r => { refused.push(r.reason) })
    device = await start(4, line[3].multiaddrs[0])
    await waitFor(() => refused.includes('revoked'), { what: "d to refuse the device's grant as revoked after the restart" })
    await reading(device, 'restarted;')
    await new Promise(resolve => setTimeout(resolve, 1000))
    assert.ok(!(await line[3].open('sensors/9/temp')).doc.getText('t').toString().includes('restarted;'))
    assert.ok((line[3].stats.rejected.grant_revoked ?? 0) >= 1, 'counted as grant_revoked')
  })

  it('a forged revocation is refused: a node will not take it, and a peer that sends one is closed and counted', async () => {
    const owner = await generateKeyPair('Ed25519')
    const mallory = await generateKeyPair('Ed25519')
    const trust = { owners: [idOf(owner)] }
    const gwKey = await generateKeyPair('Ed25519')
    const gw = await pool.create({ privateKey: gwKey, trust })
    // signed by a key that is not an owner: refused
    const notOwners = await revokeGrant({ key: mallory, peer: gw.peerId })
    await assert.rejects(gw.addRevocation(notOwners), (err: unknown) => err instanceof GrantError && err.reason === 'unknown_owner')
    // the owner's record with one bit of its signature flipped: refused
    const good = revocationBytes(await revokeGrant({ key: owner, peer: idOf(mallory) }))
    const bad = good.slice()
    bad[bad.length - 1] ^= 1
    await assert.rejects(gw.addRevocation('mdr1.' + Buffer.from(bad).toString('base64url')), (err: unknown) => err instanceof GrantError && err.reason === 'bad_signature')
    assert.equal(gw.grants.length, 0)

    // over the wire: a trusted peer (it holds a grant) forwards the forged record in a REVOKE frame
    const peerKey = await generateKeyPair('Ed25519')
    const peer = await pool.create({ privateKey: peerKey, trust, grants: [await issueGrant({ key: owner, audience: idOf(peerKey), access: 'write', docs: ['**'], expiresAt: Date.now() + HOUR })] })
    await peer.dial(gw.multiaddrs[0])
    await waitFor(() => gw.peers.includes(peer.peerId) && peer.peers.includes(gw.peerId))
    const e = encoding.createEncoder()
    encoding.writeUint8Array(e, new Uint8Array(32))
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint8Array(e, bad)
    const sent = sendRaw(peer, gw.peerId, { type: 10, body: encoding.toUint8Array(e) })
    assert.ok(sent, 'the frame was sent')
    await waitFor(() => !gw.peers.includes(peer.peerId), { what: 'the gateway to close the forger' })
    assert.equal(gw.stats.rejected.revocation_bad_signature, 1)
  })
})

/** Send an extension frame from `node` to its connected peer `to`, as a modified node would. */
function sendRaw (node: MeshNode, to: string, frame: { type: number, body: Uint8Array }): boolean {
  const engine = (node as unknown as { engine: { peers: { get: (id: string) => unknown, send: (p: unknown, f: unknown) => boolean } } }).engine
  const peer = engine.peers.get(to)
  return peer !== undefined && engine.peers.send(peer, frame)
}

describe('delegates, owner rotation and doc claims (real libp2p)', function () {
  this.timeout(60_000)
  const pool = new NodePool()
  afterEach(async () => { await pool.stopAll() })

  const write = async (n: MeshNode, doc: string, text: string): Promise<void> => { (await n.open(doc)).doc.getText('t').insert(0, text) }
  const has = async (n: MeshNode, doc: string, text: string): Promise<boolean> => (await n.open(doc)).doc.getText('t').toString().includes(text)

  it("revoking a delegate's PeerId voids every sub-grant it issued: its sensor's session is cut", async () => {
    const owner = await generateKeyPair('Ed25519')
    const delegateKey = await generateKeyPair('Ed25519')
    const sensorKey = await generateKeyPair('Ed25519')
    const parent = await issueGrant({ key: owner, audience: idOf(delegateKey), access: 'write', docs: ['sensors/**'], expiresAt: Date.now() + HOUR, delegate: true })
    const sub = await issueGrant({ key: delegateKey, parent, audience: idOf(sensorKey), access: 'write', docs: ['sensors/5/**'], expiresAt: Date.now() + HOUR / 2 })
    const gw = await pool.create({ trust: { owners: [idOf(owner)] } })
    const sensor = await pool.create({ privateKey: sensorKey, grants: [sub], bootstrap: [gw.multiaddrs[0]] })
    const atGw = await gw.open('sensors/5/t')
    await write(sensor, 'sensors/5/t', 'before;')
    await waitFor(() => atGw.doc.getText('t').toString().includes('before;'), { what: 'the sensor to sync through the sub-grant' })
    const revoked: string[] = []
    gw.on('revoked', r => { revoked.push(r.target) })
    await gw.addRevocation(await revokeGrant({ key: owner, peer: idOf(delegateKey) }))
    assert.deepEqual(revoked, [idOf(delegateKey)])
    await waitFor(() => !atGw.status.peers.some(p => p.peer === sensor.peerId), { what: "the sensor's session to end" })
    await write(sensor, 'sensors/5/t', 'after;')
    await new Promise(resolve => setTimeout(resolve, 800))
    assert.equal(await has(gw, 'sensors/5/t', 'after;'), false)
  })

  it('owner rotation: a node trusting old and new honours both; restarted trusting the new one only, it refuses the old grants (unknown_owner) and keeps the reissued ones', async () => {
    const oldOwner = await generateKeyPair('Ed25519')
    const newOwner = await generateKeyPair('Ed25519')
    const gwKey = await generateKeyPair('Ed25519')
    const a = await generateKeyPair('Ed25519')
    const b = await generateKeyPair('Ed25519')
    const grant = async (owner: PrivateKey, to: PrivateKey): Promise<string> => await issueGrant({ key: owner, audience: idOf(to), access: 'write', docs: ['**'], expiresAt: Date.now() + HOUR })
    let gw = await pool.create({ privateKey: gwKey, trust: { owners: [idOf(oldOwner), idOf(newOwner)] } })
    const devA = await pool.create({ privateKey: a, grants: [await grant(oldOwner, a)], bootstrap: [gw.multiaddrs[0]] })
    const devB = await pool.create({ privateKey: b, grants: [await grant(newOwner, b)], bootstrap: [gw.multiaddrs[0]] })
    await waitFor(() => gw.peers.includes(devA.peerId) && gw.peers.includes(devB.peerId))
    await write(devA, 'x', 'old-owner;')
    await write(devB, 'x', 'new-owner;')
    const atGw = await gw.open('x')
    await waitFor(() => atGw.doc.getText('t').toString().includes('old-owner;') && atGw.doc.getText('t').toString().includes('new-owner;'), { what: 'both grants honoured' })

    // the old owner's key is lost: the gateway now trusts the new owner only
    const listenAt = gw.multiaddrs[0].replace(/\/p2p\/.*/, '')
    await gw.stop()
    gw = await pool.create({ privateKey: gwKey, listen: [listenAt], trust: { owners: [idOf(newOwner)] } })
    const refused: string[] = []
    gw.on('grant:refused', r => { refused.push(`${r.peer}:${r.reason}`) })
    devA.reconnect()
    devB.reconnect()
    await waitFor(() => refused.includes(`${devA.peerId}:unknown_owner`), { what: "the old owner's grant refused", timeout: 15_000 })
    await waitFor(() => gw.peers.includes(devB.peerId), { what: 'the device with a new grant back', timeout: 15_000 })
    // device A gets a grant from the new owner: no reinstall
    await devA.addGrant(await grant(newOwner, a))
    devA.reconnect()
    await waitFor(() => gw.peers.includes(devA.peerId), { what: 'device A back with its new grant', timeout: 15_000 })
    await write(devA, 'x', 'reissued;')
    const x = await gw.open('x')
    await waitFor(() => x.doc.getText('t').toString().includes('reissued;'), { what: 'device A writing under its new grant' })
  })

  it('a gateway serving by key learns the ids of the docs a holder syncs that its grants cover, and no other', async () => {
    const owner = await generateKeyPair('Ed25519')
    const gw = await pool.create({ trust: { owners: [idOf(owner)] }, serveAllDocs: true })
    const plain = await pool.create({ serveAllDocs: true })
    const k = await generateKeyPair('Ed25519')
    const device = await pool.create({ privateKey: k, grants: [await issueGrant({ key: owner, audience: idOf(k), access: 'write', docs: ['sensors/1/**'], expiresAt: Date.now() + HOUR })], bootstrap: [gw.multiaddrs[0], plain.multiaddrs[0]] })
    await waitFor(() => gw.peers.includes(device.peerId) && plain.peers.includes(device.peerId))
    await write(device, 'sensors/1/t', 'covered;')
    await write(device, 'private/diary', 'not covered;')
    await (await device.open('sensors/1/t')).whenSynced({ peer: gw.peerId, timeout: 5000 })
    await new Promise(resolve => setTimeout(resolve, 300))
    const claimsAt = (n: MeshNode): string[] => [...((n as unknown as { grantsHere: { claims: Map<string, Map<string, string>> } }).grantsHere.claims.get(device.peerId)?.values() ?? [])]
    assert.deepEqual(claimsAt(gw), ['sensors/1/t'], 'the checking gateway learned the covered id only')
    assert.deepEqual(claimsAt(plain), [], 'a gateway that checks no grants is never told an id')
  })
})
