/**
 * The y-websocket bridge takes bearer tokens (`mdb1.…`) only: a device's
 * grant, which every peer that checks grants is shown on the mesh, is
 * refused there (4401 `not_bearer`) though it is valid on the mesh; a token
 * signed by anyone but the grant's audience, bound to another gateway, or
 * holding a revoked grant is refused (4401); hostile tokens never throw
 * anything but GrantError and never stop the bridge.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { BEARER_PREFIX, decodeBearer, decodeGrant, GrantError, issueBearer, issueGrant, revokeGrant, type MeshNode } from '../adapters/presets/node.js'
import { CloseCode, type YwsBridge } from '../adapters/y-websocket/index.js'
import { hostileBearer } from './helpers/bearer-fuzz.js'
import { connect, seededRandom, waitFor } from './helpers/mesh-nodes.js'
import { bearerToken, YwsRig, type Closed } from './helpers/yws.js'

const HOUR = 3_600_000
const idOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
const text = (doc: Y.Doc): string => doc.getText('t').toString()

/** A bearer token for `grant` signed by `key`, whoever's it is (the library signs only with the audience's). */
async function forgedBearer (grant: string, key: PrivateKey): Promise<string> {
  const id = Buffer.from(decodeGrant(grant).id, 'hex')
  const signature = await key.sign(new Uint8Array([...new TextEncoder().encode('meshdoc bearer v1\n'), ...id]))
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, Buffer.from(grant.slice('mdg1.'.length), 'base64url'))
  encoding.writeVarString(e, '')
  encoding.writeVarUint8Array(e, signature)
  return BEARER_PREFIX + Buffer.from(encoding.toUint8Array(e)).toString('base64url')
}

describe('y-websocket bridge: bearer tokens only, which only the audience\'s key makes', function () {
  this.timeout(30_000)
  const rig = new YwsRig()
  afterEach(async () => { await rig.stopAll() })

  let owner: PrivateKey
  let gw: MeshNode
  let bridge: YwsBridge
  beforeEach(async () => {
    owner = await generateKeyPair('Ed25519')
    ;({ gw, bridge } = await rig.gateway({ trust: { owners: [idOf(owner)] } }))
  })

  /** How a provider with `token` on `room` is closed (code 0: it was let in and synced). */
  const closedWith = async (room: string, token: string): Promise<Closed> => {
    const p = rig.provider(bridge, room, new Y.Doc(), { token })
    return await new Promise<Closed>(resolve => {
      p.on('closed', (e: Closed) => { resolve(e) })
      p.on('sync', (synced: boolean) => { if (synced) resolve({ code: 0, reason: 'let in' }) })
    })
  }

  it('a device\'s grant, collected by a peer that merely sets trust, is refused on the bridge (4401 not_bearer) though valid on the mesh', async () => {
    const deviceKey = await generateKeyPair('Ed25519')
    const deviceGrant = await issueGrant({ key: owner, audience: idOf(deviceKey), access: 'write', docs: ['notes/**'], expiresAt: Date.now() + HOUR })
    const device = await rig.pool.create({ privateKey: deviceKey, grants: [deviceGrant], bootstrap: [gw.multiaddrs[0]] })
    // valid on the mesh: the device writes through the gateway
    const h = await device.open('notes/replayed')
    h.doc.getText('t').insert(0, 'the device wrote this')
    await h.whenSynced({ timeout: 10_000 })
    // a malicious node that sets trust (the owner's id is no secret) is shown the device's grant
    const collector = await rig.pool.create({ trust: { owners: [idOf(owner)] } })
    await connect(device, collector)
    const verified = (n: MeshNode): string[] => [...(n.grantsHere as unknown as { verified: Map<string, unknown> }).verified.keys()]
    await waitFor(() => verified(collector).includes(deviceGrant), { what: 'the collector to hold the device\'s grant' })

    // replayed at the bridge, as ?token= or in a header: refused, counted apart; the gateway verified that very token for the device
    assert.ok(verified(gw).includes(deviceGrant))
    const replayed = await closedWith('notes/replayed', deviceGrant)
    assert.equal(replayed.code, CloseCode.UNAUTHORIZED)
    assert.match(replayed.reason, /^not_bearer: /)
    const raw = rig.raw(`${bridge.url}/notes/replayed`, { headers: { authorization: `Bearer ${deviceGrant}` } })
    assert.equal((await raw.closed).code, CloseCode.UNAUTHORIZED)
    assert.deepEqual(bridge.stats.connectionsRefused, { not_bearer: 2 })
    assert.ok(!gw.peers.some(id => id.startsWith('yws:')), 'no socket became a peer')

    // (2) wrapped in a bearer token signed by the collector's key: bad_signature
    const wrapped = await closedWith('notes/replayed', await forgedBearer(deviceGrant, await generateKeyPair('Ed25519')))
    assert.equal(wrapped.code, CloseCode.UNAUTHORIZED)
    assert.match(wrapped.reason, /^token_refused: grant refused: bad_signature/)

    // the device itself, holding its key, makes a bearer token of the same grant: in, named after its audience
    const pdoc = new Y.Doc()
    const p = rig.provider(bridge, 'notes/replayed', pdoc, { token: await issueBearer({ grant: deviceGrant, audienceKey: deviceKey }) })
    await waitFor(() => p.synced && text(pdoc) === 'the device wrote this', { what: 'the device\'s own bearer token to sync' })
    assert.ok(gw.peers.includes(`yws:${idOf(deviceKey)}#0`))
  })

  it('a token bound to another gateway is refused (wrong_gateway); bound to this one, it is taken', async () => {
    const other = idOf(await generateKeyPair('Ed25519'))
    const elsewhere = await closedWith('notes/bound', (await bearerToken(owner, { docs: ['notes/**'], access: 'write', gateway: other })).token)
    assert.equal(elsewhere.code, CloseCode.UNAUTHORIZED)
    assert.match(elsewhere.reason, /^token_refused: grant refused: wrong_gateway/)
    const here = await bearerToken(owner, { docs: ['notes/**'], access: 'write', gateway: gw.peerId })
    const p = rig.provider(bridge, 'notes/bound', new Y.Doc(), { token: here.token })
    await waitFor(() => p.synced, { what: 'a token bound to this gateway to sync' })
    assert.ok(gw.peers.includes(`yws:${here.audience}#0`))
  })

  it('a bearer token whose grant, or whose audience, is revoked is refused (4401 revoked)', async () => {
    const byGrant = await bearerToken(owner, { docs: ['notes/**'], access: 'write' })
    const byAudience = await bearerToken(owner, { docs: ['notes/**'], access: 'write' })
    await gw.addRevocation(await revokeGrant({ key: owner, grant: decodeBearer(byGrant.token).grant.id }))
    await gw.addRevocation(await revokeGrant({ key: owner, peer: byAudience.audience }))
    for (const { token } of [byGrant, byAudience]) {
      const closed = await closedWith('notes/revoked', token)
      assert.equal(closed.code, CloseCode.UNAUTHORIZED)
      assert.match(closed.reason, /^token_refused: grant refused: revoked/)
    }
  })

  it(`hostile bearer tokens: the node's check throws only GrantError (${Number(process.env.MESHDOC_GRANT_FUZZ ?? 2000)} cases), the bridge refuses them (4401) and goes on`, async () => {
    const seed = Number(process.env.MESHDOC_SEED ?? 1)
    const rnd = seededRandom(seed)
    const valid = (await bearerToken(owner, { docs: ['notes/**'], access: 'write', gateway: gw.peerId })).token
    const grants = gw.grantsHere!
    const runs = Number(process.env.MESHDOC_GRANT_FUZZ ?? 2000)
    for (let i = 0; i < runs; i++) {
      const token = hostileBearer(valid, i, rnd)
      try {
        const g = await grants.verifyBearer(token)
        assert.equal(g.id, decodeBearer(valid).grant.id, `seed ${seed} case ${i}: a changed token verified`)
      } catch (err) {
        if (!(err instanceof GrantError)) assert.fail(`seed ${seed} case ${i}: ${String(err)} for ${token.slice(0, 80)}`)
      }
    }
    // over sockets: a few of each kind (random text never empty: no token at all is another case), then an honest client
    const refused = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const token = hostileBearer(valid, i, rnd) + (i % 5 === 4 ? 'x' : '')
      return await rig.raw(`${bridge.url}/notes/fuzz?token=${encodeURIComponent(token)}`).closed
    }))
    for (const c of refused) assert.equal(c.code, CloseCode.UNAUTHORIZED, c.reason)
    const p = rig.provider(bridge, 'notes/fuzz', new Y.Doc(), { token: valid })
    await waitFor(() => p.synced, { what: 'an honest client after the hostile ones' })
  })
})
