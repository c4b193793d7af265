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
