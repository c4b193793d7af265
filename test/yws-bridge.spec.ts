/**
 * The y-websocket bridge (adapters/y-websocket) with real components: a
 * gateway-like MeshNode over libp2p TCP with the bridge, meshdoc devices
 * bootstrapped to it, and the real `WebsocketProvider` of `y-websocket` in
 * Node (on `ws`). An unchanged provider and a device edit one doc, each
 * offline in turn, and converge; awareness crosses both ways and leaves when
 * the socket does; a read-only grant syncs down and writes nowhere.
 */
import assert from 'node:assert/strict'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as awarenessProtocol from 'y-protocols/awareness'
import type WebSocket from 'ws'
import * as Y from 'yjs'
import { createMeshNode, decodeBearer, issueBearer, issueGrant, keyServingPolicyFromRules, revokeGrant } from '../adapters/presets/node.js'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { CloseCode } from '../adapters/y-websocket/index.js'
import { awarenessUpdate } from './helpers/hostile-payloads.js'
import { connect, waitFor } from './helpers/mesh-nodes.js'
import { bearerToken, opened, textInsert, YwsRig, ywsMessage, type Closed } from './helpers/yws.js'

const HOUR = 3_600_000
const idOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
const text = (doc: Y.Doc): string => doc.getText('t').toString()
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('y-websocket bridge: an unchanged WebsocketProvider joins the mesh', function () {
  this.timeout(30_000)
  const rig = new YwsRig()
  afterEach(async () => { await rig.stopAll() })

  it('a provider and a device edit one doc, each offline in turn, and converge; a provider joining late gets everything', async () => {
    const { gw, bridge } = await rig.gateway()
    const dir = await mkdtemp(join(tmpdir(), 'meshdoc-yws-device-'))
    rig.dirs.push(dir)
    let device = await rig.pool.create({ storage: new FsStorageAdapter(dir), bootstrap: [gw.multiaddrs[0]] })
    let h = await device.open('notes/plan')
    const pdoc = new Y.Doc()
    const p = rig.provider(bridge, 'notes/plan', pdoc)
    await waitFor(() => p.synced && gw.peers.includes(device.peerId), { what: 'the provider synced and the device connected' })

    // concurrently: both write before either sees the other
    h.doc.getText('t').insert(0, '[D1]')
    pdoc.getText('t').insert(0, '[P1]')
    const converged = (want: string[]): void => {
      for (const m of want) assert.ok(text(pdoc).includes(m) && text(h.doc).includes(m), `${m} on both sides: "${text(pdoc)}" / "${text(h.doc)}"`)
      assert.equal(text(pdoc), text(h.doc))
    }
    const converge = async (want: string[]): Promise<void> => {
      await waitFor(() => want.every(m => text(pdoc).includes(m) && text(h.doc).includes(m)) && text(pdoc) === text(h.doc), {
        what: `both sides to hold ${want.join(' ')}`, detail: () => `provider "${text(pdoc)}", device "${text(h.doc)}"`
      })
      converged(want)
    }
    await converge(['[D1]', '[P1]'])

    // the provider offline: both write, then it reconnects
    p.disconnect()
    await waitFor(() => !gw.peers.some(id => id.startsWith('yws:')), { what: 'the socket to close' })
    pdoc.getText('t').insert(0, '[P2]')
    h.doc.getText('t').insert(text(h.doc).length, '[D2]')
    await sleep(200)
    assert.ok(!text(h.doc).includes('[P2]'), 'nothing reaches the device while the provider is offline')
    p.connect()
    await converge(['[D1]', '[P1]', '[P2]', '[D2]'])

    // the device offline: stopped, the provider writes, the device restarts on its storage and writes before it reconnects
    await h.flush()
    await device.stop()
    pdoc.getText('t').insert(0, '[P3]')
    device = await createMeshNode({ storage: new FsStorageAdapter(dir) })
    h = await device.open('notes/plan')
    assert.ok(text(h.doc).includes('[P2]') && text(h.doc).includes('[D2]'), 'the device kept what it had on disk')
    h.doc.getText('t').insert(text(h.doc).length, '[D3]')
    try {
      await device.dial(gw.multiaddrs[0])
      await converge(['[D1]', '[P1]', '[P2]', '[D2]', '[P3]', '[D3]'])

      // a second provider, joining late, gets everything
      const late = new Y.Doc()
      const p2 = rig.provider(bridge, 'notes/plan', late)
      await waitFor(() => p2.synced && text(late) === text(h.doc), { what: 'the late provider to get everything', detail: () => `"${text(late)}"` })
      // and two providers are two peers of the engine
      assert.equal(gw.peers.filter(id => id.startsWith('yws:')).length, 2)
      assert.equal(bridge.stats.connectionsOpen, 2)
      assert.ok(bridge.stats.writesAcknowledged > 0, 'the gateway acknowledged the providers\' writes (counted)')
      assert.deepEqual(gw.stats.rejected, {}, 'an honest provider is refused nothing')
    } finally {
      await device.stop()
    }
  })

  it('awareness crosses both ways, a query is answered, and a closed socket leaves no state on the device', async () => {
    const { gw, bridge } = await rig.gateway()
    // a doc the gateway's app holds open: offered to every peer, refused by the bridge (one room per socket)
    const pinned = await gw.open('pinned/doc')
    const deniedBy: string[] = []
    pinned.on('denied', (peer: string, reason: string) => { deniedBy.push(`${peer} ${reason}`) })
    const device = await rig.pool.create({ bootstrap: [gw.multiaddrs[0]] })
    const h = await device.open('notes/presence')
    await waitFor(() => gw.peers.includes(device.peerId))
    const pdoc = new Y.Doc()
    const p = rig.provider(bridge, 'notes/presence', pdoc)
    await waitFor(() => p.synced)
    p.awareness.setLocalStateField('user', 'alice')
    h.awareness.setLocalStateField('user', 'bob')
    const alice = pdoc.clientID
    await waitFor(() => (h.awareness.getStates().get(alice) as { user?: string } | undefined)?.user === 'alice', { what: "the provider's state on the device" })
    await waitFor(() => (p.awareness.getStates().get(h.doc.clientID) as { user?: string } | undefined)?.user === 'bob', { what: "the device's state at the provider" })
    assert.ok(deniedBy.includes('yws:anonymous#0 unavailable'), `the gateway's offer of another doc refused: ${deniedBy.join(', ')}`)

    // messageQueryAwareness: answered with the room's states
    const raw = rig.raw(`${bridge.url}/notes/presence`)
    await opened(raw)
    raw.ws.send(ywsMessage.sync1())
    await waitFor(() => raw.received.some(m => m[0] === 0 && m[1] === 1), { what: 'the raw client to join' })
    await sleep(100)
    raw.received.length = 0
    // its own presence comes back to it, as @y/websocket-server sends every change to every socket
    const own = ywsMessage.awareness(awarenessUpdate([[777, 1, { user: 'raw' }]]))
    raw.ws.send(own)
    await waitFor(() => raw.received.some(m => Buffer.from(m).equals(Buffer.from(own))), { what: 'the echo of its awareness' })
    raw.received.length = 0
    raw.ws.send(new Uint8Array([3]))
    await waitFor(() => raw.received.some(m => m[0] === 1), { what: 'an answer to the awareness query' })
    const answer = new awarenessProtocol.Awareness(new Y.Doc())
    awarenessProtocol.applyAwarenessUpdate(answer, raw.received.find(m => m[0] === 1)!.subarray(2), 'test')
    const users = [...answer.getStates().values()].map(s => (s as { user?: string }).user).filter(u => u !== undefined).sort()
    answer.destroy()
    assert.deepEqual(users, ['alice', 'bob', 'raw'])
    raw.ws.terminate()

    // the provider's socket dies (no goodbye from y-websocket): the gateway ends its session and its states go, everywhere
    p.shouldConnect = false
    ;(p.ws as unknown as WebSocket).terminate()
    await waitFor(() => !h.awareness.getStates().has(alice), { what: "the provider's state to leave the device" })
    assert.ok(!gw.peers.some(id => id.startsWith('yws:')))
  })

  it('a read-only grant syncs the doc down; its writes are refused, counted, and appear nowhere; no token or a bad one gets nothing', async () => {
    const owner = await generateKeyPair('Ed25519')
    const grant = async (audience: string, docs: string[], access: 'read' | 'write', expiresAt = Date.now() + HOUR): Promise<string> =>
      await issueGrant({ key: owner, audience, access, docs, notBefore: Math.min(Date.now(), expiresAt - HOUR), expiresAt })
    const { gw, bridge } = await rig.gateway({ trust: { owners: [idOf(owner)] } })
    const writerKey = await generateKeyPair('Ed25519')
    const writer = await rig.pool.create({ privateKey: writerKey, grants: [await grant(idOf(writerKey), ['shared/**'], 'write')], bootstrap: [gw.multiaddrs[0]] })
    const w = await writer.open('shared/board')
    w.doc.getText('t').insert(0, 'from the writer. ')
    await w.whenSynced({ timeout: 10_000 })

    // a glob grant on a gateway serving by key: the bridge names the room (CLAIM), as a mesh peer would
    const readerKey = await generateKeyPair('Ed25519')
    const reader = idOf(readerKey)
    // the bearer token the reader's key makes of its grant (a plain grant is refused: yws-bridge-bearer.spec.ts)
    const bearer = async (docs: string[], access: 'read' | 'write', expiresAt?: number): Promise<string> =>
      await issueBearer({ grant: await grant(reader, docs, access, expiresAt), audienceKey: readerKey })
    const pdoc = new Y.Doc()
    const p = rig.provider(bridge, 'shared/board', pdoc, { token: await bearer(['shared/**'], 'read') })
    await waitFor(() => p.synced && text(pdoc) === 'from the writer. ', { what: 'the reader to receive the doc', detail: () => `"${text(pdoc)}"` })
    assert.ok(gw.peers.includes(`yws:${reader}#0`), 'the socket is an engine peer named after its grant')

    pdoc.getText('t').insert(0, 'READER WROTE THIS. ')
    await waitFor(() => (bridge.stats.messagesRefused.read_only ?? 0) >= 1 && (gw.stats.rejected.forbidden ?? 0) >= 1, { what: 'the refusal to be counted' })
    w.doc.getText('t').insert(w.doc.getText('t').length, 'more from the writer.')
    await waitFor(() => text(pdoc).endsWith('more from the writer.'), { what: 'the reader to keep syncing down' })
    assert.equal(p.wsconnected, true, 'the read-only socket stays open')
    await sleep(300)
    assert.ok(!text(w.doc).includes('READER'), 'the writer never gets it')
    // nor does the gateway hold it: a fresh device with a write grant syncs the doc from it
    const checkKey = await generateKeyPair('Ed25519')
    const check = await rig.pool.create({ privateKey: checkKey, grants: [await grant(idOf(checkKey), ['shared/**'], 'write')] })
    await connect(check, gw)
    const c = await check.open('shared/board')
    await waitFor(() => text(c.doc).endsWith('more from the writer.'), { what: 'the fresh device to sync' })
    assert.ok(!text(c.doc).includes('READER'), 'the gateway never stored it')

    // a write grant in an Authorization header (a client that can set one; browsers use ?token=)
    const raw = rig.raw(`${bridge.url}/shared/board`, { headers: { authorization: `Bearer ${(await bearerToken(owner, { docs: ['shared/board'], access: 'write' })).token}` } })
    await opened(raw)
    raw.ws.send(ywsMessage.sync1())
    raw.ws.send(ywsMessage.update(textInsert(31337, 'header-writer. ')))
    await waitFor(() => text(w.doc).includes('header-writer. '), { what: 'the header-authorized write to reach the writer' })

    // no token: what the policy gives an unknown peer, with trusted owners nothing (4403, y-websocket stops)
    const closedWith = async (params: Record<string, string>): Promise<Closed> => {
      const q = rig.provider(bridge, 'shared/board', new Y.Doc(), params)
      return await new Promise<Closed>(resolve => { q.on('closed', (e: Closed) => { resolve(e) }) })
    }
    const none = await closedWith({})
    assert.equal(none.code, CloseCode.FORBIDDEN)
    assert.match(none.reason, /^forbidden: no access/)
    // a token from an owner the gateway does not trust, an expired one: 4401, why in the reason
    const stranger = await issueGrant({ key: await generateKeyPair('Ed25519'), audience: reader, access: 'write', docs: ['shared/**'], expiresAt: Date.now() + HOUR })
    const unknown = await closedWith({ token: await issueBearer({ grant: stranger, audienceKey: readerKey }) })
    assert.equal(unknown.code, CloseCode.UNAUTHORIZED)
    assert.match(unknown.reason, /^token_refused: grant refused: unknown_owner/)
    const expired = await closedWith({ token: await bearer(['shared/**'], 'write', Date.now() - HOUR) })
    assert.equal(expired.code, CloseCode.UNAUTHORIZED)
    assert.match(expired.reason, /expired/)
    assert.deepEqual(bridge.stats.connectionsRefused, { forbidden: 1, token_refused: 2 })
    // a grant for other docs: no access to this room
    const elsewhere = await closedWith({ token: await bearer(['other/**'], 'write') })
    assert.equal(elsewhere.code, CloseCode.FORBIDDEN)
    assert.ok(!text(w.doc).includes('READER'))
  })

  it('a revocation, or the grant running out, ends the client\'s access mid-session: closed 4403, counted', async () => {
    const owner = await generateKeyPair('Ed25519')
    const { gw, bridge } = await rig.gateway({ trust: { owners: [idOf(owner)] } })
    const { token, audienceKey } = await bearerToken(owner, { docs: ['notes/revoked'], access: 'write' })
    const p = rig.provider(bridge, 'notes/revoked', new Y.Doc(), { token })
    await waitFor(() => p.synced)
    const closed = new Promise<Closed>(resolve => { p.on('closed', (e: Closed) => { resolve(e) }) })
    await gw.addRevocation(await revokeGrant({ key: owner, grant: decodeBearer(token).grant.id }))
    const e = await closed
    assert.equal(e.code, CloseCode.FORBIDDEN)
    assert.match(e.reason, /no access to this room/)
    assert.equal(bridge.stats.connectionsClosed.forbidden, 1)
    // a revoked token is refused at the door from then on
    const again = rig.provider(bridge, 'notes/revoked', new Y.Doc(), { token })
    const refused = await new Promise<Closed>(resolve => { again.on('closed', (c: Closed) => { resolve(c) }) })
    assert.equal(refused.code, CloseCode.UNAUTHORIZED)
    assert.match(refused.reason, /revoked/)

    // a grant that runs out mid-session (its end plus the 60 s allowance for clock skew)
    const short = await bearerToken(owner, { audienceKey, docs: ['notes/short'], access: 'write', notBefore: Date.now() - HOUR, expiresAt: Date.now() - 60_000 + 1500 })
    const q = rig.provider(bridge, 'notes/short', new Y.Doc(), { token: short.token })
    await waitFor(() => q.synced)
    const ended = await new Promise<Closed>(resolve => { q.on('closed', (c: Closed) => { resolve(c) }) })
    assert.equal(ended.code, CloseCode.FORBIDDEN)
  })

  it('the policy: an exact-id rule for every peer lets a client in; a rule naming a PeerId never matches one', async () => {
    const someone = idOf(await generateKeyPair('Ed25519'))
    const policy = keyServingPolicyFromRules({
      default: 'none',
      rules: [{ peers: '*', docs: 'open/doc', access: 'write' }, { peers: [someone], docs: 'named/doc', access: 'write' }]
    })
    const { bridge } = await rig.gateway({ policy })
    const open = rig.provider(bridge, 'open/doc')
    await waitFor(() => open.synced, { what: 'the room an exact-id rule opens' })
    const named = rig.provider(bridge, 'named/doc')
    const closed = await new Promise<Closed>(resolve => { named.on('closed', (e: Closed) => { resolve(e) }) })
    assert.equal(closed.code, CloseCode.FORBIDDEN)
    // a gateway that trusts no owner checks no grant: a token is refused, not ignored
    const { token } = await bearerToken(await generateKeyPair('Ed25519'), { docs: ['open/doc'], access: 'write' })
    const withToken = rig.provider(bridge, 'open/doc', new Y.Doc(), { token })
    const refused = await new Promise<Closed>(resolve => { withToken.on('closed', (e: Closed) => { resolve(e) }) })
    assert.equal(refused.code, CloseCode.UNAUTHORIZED)
    assert.match(refused.reason, /trusts no owner/)
  })

  it('a room whose doc is end-to-end encrypted on the gateway is refused (4403 encrypted), and nothing of it reaches the client', async () => {
    const { gw, bridge } = await rig.gateway()
    const member = await rig.pool.create({ privateKey: await generateKeyPair('Ed25519') })
    await connect(member, gw)
    const h = await member.open('vault/e2e-room', { encrypted: { members: [] } })
    h.doc.getText('t').insert(0, 'secret')
    await h.whenStored({ peer: gw.peerId, timeout: 10_000 })
    const doc = new Y.Doc()
    const p = rig.provider(bridge, 'vault/e2e-room', doc)
    const closed = await new Promise<Closed>(resolve => { p.on('closed', (e: Closed) => { resolve(e) }) })
    assert.equal(closed.code, CloseCode.FORBIDDEN)
    assert.match(closed.reason, /^encrypted/)
    assert.equal(doc.getText('t').toString(), '')
    assert.equal(bridge.stats.connectionsRefused.encrypted, 1)
    // a room in clear on the same gateway still works
    const other = rig.provider(bridge, 'notes/clear')
    await waitFor(() => other.synced, { what: 'a room in clear' })
  })

  it('close() says goodbye (1001), refuses new sockets, and the node goes on', async () => {
    const { gw, bridge } = await rig.gateway()
    const p = rig.provider(bridge, 'notes/bye')
    await waitFor(() => p.synced)
    const closed = new Promise<number | undefined>(resolve => { p.on('connection-close', (e: CloseEvent | null) => { resolve(e?.code) }) })
    await bridge.close()
    assert.equal(await closed, 1001)
    assert.ok(!gw.peers.some(id => id.startsWith('yws:')))
    assert.equal(bridge.stats.connectionsClosed.shutdown, 1)
    await bridge.close()
    const late = rig.raw(`${bridge.url}/notes/bye`)
    assert.equal((await late.closed).code, 1006, 'nothing listens any more')
    // the node goes on: a device still syncs with it
    const device = await rig.pool.create({ bootstrap: [gw.multiaddrs[0]] })
    await waitFor(() => gw.peers.includes(device.peerId))
  })
})
