/**
 * Hostile y-websocket clients (raw `ws` sockets and a raw TCP socket) at the
 * bridge of a gateway-like node: garbage, truncated and text messages, a V2
 * update, the yjs#687 bomb, a message over the size cap (refused from its
 * header), floods of connections and of awareness states, and room names
 * with path tricks, too long, or not UTF-8. Each gets a bounded, counted
 * answer; no refused message changes a doc; and an honest provider keeps
 * syncing with a device meanwhile.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readdir } from 'node:fs/promises'
import { connect as tcpConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import * as decoding from 'lib0/decoding'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { CloseCode } from '../adapters/y-websocket/index.js'
import { awarenessUpdate, forgedUpdate } from './helpers/hostile-payloads.js'
import { waitFor } from './helpers/mesh-nodes.js'
import { opened, textInsert, YwsRig, ywsMessage, type RawClient } from './helpers/yws.js'

const text = (doc: Y.Doc): string => doc.getText('t').toString()
/** yjs#687: a V2 update whose decoder loops (test/security.spec.ts) */
const BOMB = new Uint8Array(Buffer.from('00010000000001000100010200001602000001fdffffffff7f0000', 'hex'))

describe('y-websocket bridge: hostile clients get a bounded, counted answer', function () {
  this.timeout(30_000)
  const rig = new YwsRig()
  afterEach(async () => { await rig.stopAll() })

  /** a gateway, a device holding `notes/target` ('original'), and an honest provider syncing `notes/good` with the device */
  async function setup (limits = {}, bridgeOpts = {}): Promise<Awaited<ReturnType<YwsRig['gateway']>> & { target: Y.Doc, good: Y.Doc, device: Y.Doc, stillServing: (mark: string) => Promise<void> }> {
    const g = await rig.gateway({ limits }, bridgeOpts)
    const node = await rig.pool.create({ bootstrap: [g.gw.multiaddrs[0]] })
    const targetHandle = await node.open('notes/target')
    const target = targetHandle.doc
    target.getText('t').insert(0, 'original')
    const device = (await node.open('notes/good')).doc
    const good = new Y.Doc()
    const p = rig.provider(g.bridge, 'notes/good', good)
    await waitFor(() => p.synced && g.gw.peers.includes(node.peerId))
    await targetHandle.whenSynced({ timeout: 10_000 })
    const stillServing = async (mark: string): Promise<void> => {
      good.getText('t').insert(0, mark)
      await waitFor(() => text(device).includes(mark), { what: `the honest provider's "${mark}" to reach the device` })
    }
    return { ...g, target, good, device, stillServing }
  }

  /** a raw client that joined `room` (its sync step 1 answered) */
  async function joined (url: string, room: string): Promise<RawClient> {
    const c = rig.raw(`${url}/${room}`)
    await opened(c)
    c.ws.send(ywsMessage.sync1())
    await waitFor(() => c.received.some(m => m[0] === 0 && m[1] === 1), { what: 'sync step 2 from the bridge' })
    return c
  }

  it('garbage, truncated, unknown and text messages, a V2 update and the yjs#687 bomb: each closes its socket with 4400, counted; no doc changes', async () => {
    const { gw, bridge, target, stillServing } = await setup()
    const cases: Array<[string, (c: RawClient) => void, string]> = [
      ['garbage', c => { c.ws.send(new Uint8Array(10).fill(0xff)) }, 'protocol_error'],
      ['truncated', c => { c.ws.send(new Uint8Array([0, 2, 50, 1, 2, 3])) }, 'protocol_error'],
      ['trailing bytes', c => { c.ws.send(new Uint8Array([...ywsMessage.update(textInsert(77, 'x')), 0])) }, 'protocol_error'],
      ['an unknown type', c => { c.ws.send(new Uint8Array([7, 0])) }, 'protocol_error'],
      ['a text message', c => { c.ws.send('{"hello":1}') }, 'protocol_error'],
      ['a V2 update', c => {
        const d = new Y.Doc()
        d.getText('t').insert(0, 'V2 INSERT')
        c.ws.send(ywsMessage.update(Y.encodeStateAsUpdateV2(d)))
      }, 'malformed_update'],
      ['the yjs#687 bomb', c => { c.ws.send(ywsMessage.update(BOMB)) }, 'malformed_update'],
      ['a step 2 that is no update', c => { c.ws.send(ywsMessage.sync2(new Uint8Array([1, 2, 3]))) }, 'malformed_update']
    ]
    for (const [what, send, reason] of cases) {
      const c = await joined(bridge.url, 'notes/target')
      const t0 = performance.now()
      send(c)
      const closed = await c.closed
      assert.equal(closed.code, CloseCode.BAD_REQUEST, `${what}: ${JSON.stringify(closed)}`)
      assert.match(closed.reason, new RegExp(`^${reason}: `), what)
      assert.ok(performance.now() - t0 < 500, `${what}: closed in ${(performance.now() - t0).toFixed(0)} ms`)
    }
    assert.deepEqual(bridge.stats.connectionsClosed, { protocol_error: 5, malformed_update: 3 })
    assert.equal(gw.stats.rejected.protocol_error, 5)
    assert.equal(gw.stats.rejected.malformed_update, 3)
    await stillServing('[still serving]')
    assert.equal(text(target), 'original', 'no refused message changed the doc')
  })

  it('the updates of one socket read reach the engine as one merged update; a malformed one among them is refused after those before it', async () => {
    const { gw, bridge, target, stillServing } = await setup()
    /** `n` single-character inserts typed by `client` into its own text, one update each */
    const typed = (client: number, chars: string): Uint8Array[] => {
      const d = new Y.Doc()
      d.clientID = client
      const out: Uint8Array[] = []
      d.on('update', (u: Uint8Array) => { out.push(u) })
      for (const ch of chars) d.getText('t').insert(d.getText('t').length, ch)
      return out
    }
    const socketOf = (c: RawClient): Socket => (c.ws as unknown as { _socket: Socket })._socket
    // 20 updates written in one TCP write: one read at the bridge
    const c = await joined(bridge.url, 'notes/target')
    const framesBefore = gw.stats.framesIn
    socketOf(c).write(Buffer.concat(typed(7001, 'abcdefghijklmnopqrst').map(u => maskedFrame(ywsMessage.update(u)))))
    await waitFor(() => text(target).includes('abcdefghijklmnopqrst'), { what: 'the 20 typed characters at the device' })
    assert.ok(bridge.stats.updatesMerged >= 2, `${bridge.stats.updatesMerged} updates merged`)
    assert.ok(gw.stats.framesIn - framesBefore < 20, `${gw.stats.framesIn - framesBefore} engine frames for 20 client updates`)

    // 5 good ones, a malformed one, 5 more good ones (another client, so they would apply on their own): one write
    const d = await joined(bridge.url, 'notes/target')
    const burst = [...typed(7002, 'UVWXY').map(u => ywsMessage.update(u)), ywsMessage.update(new Uint8Array([1, 2, 3])), ...typed(7003, 'vwxyz').map(u => ywsMessage.update(u))]
    socketOf(d).write(Buffer.concat(burst.map(maskedFrame)))
    const closed = await d.closed
    assert.equal(closed.code, CloseCode.BAD_REQUEST)
    assert.match(closed.reason, /^malformed_update: /)
    await waitFor(() => text(target).includes('UVWXY'), { what: 'the updates before the malformed one' })
    await stillServing('[still serving]')
    assert.ok(!text(target).includes('v') && !text(target).includes('z'), `nothing after the malformed update was applied: ${text(target)}`)

    // a forged update (the device's clientID) between the client's own keystrokes, in one read: only it is refused
    const e = await joined(bridge.url, 'notes/target')
    const forged = forgedUpdate(Y.encodeStateAsUpdate(target), target.clientID, 'FORGED ')
    socketOf(e).write(Buffer.concat([...typed(7004, '12'), forged, ...typed(7005, '34')].map(u => maskedFrame(ywsMessage.update(u)))))
    await waitFor(() => text(target).includes('12') && text(target).includes('34'), { what: 'the keystrokes on both sides of a forged update' })
    await waitFor(() => bridge.stats.messagesRefused.authorship === 1, { what: 'the forged update refused (authorship)' })
    assert.ok(!text(target).includes('FORGED'))
    assert.equal(e.ws.readyState, e.ws.OPEN)

    // updates, then a sync step 1, in one read: the step 2 that answers it already holds them (the order is kept)
    const f = await joined(bridge.url, 'notes/target')
    const before = f.received.length
    socketOf(f).write(Buffer.concat([...typed(7006, 'OPQ').map(u => ywsMessage.update(u)), ywsMessage.sync1()].map(maskedFrame)))
    await waitFor(() => f.received.slice(before).some(m => m[0] === 0 && m[1] === 1), { what: 'the answer to the step 1' })
    const step2 = f.received.slice(before).find(m => m[0] === 0 && m[1] === 1)!
    const check = new Y.Doc()
    Y.applyUpdate(check, decoding.readVarUint8Array(decoding.createDecoder(step2.subarray(2))))
    assert.ok(check.getText('t').toString().includes('OPQ'), `the step 2 holds the updates sent before the step 1: ${check.getText('t').toString()}`)
  })

  it('a merge never holds more items than the engine takes in one update: two updates of 8,200 deletions each (57 KB together), in one read, both apply', async () => {
    const { gw, bridge, target } = await setup()
    const d = new Y.Doc()
    d.clientID = 7200
    const updates: Uint8Array[] = []
    d.on('update', (u: Uint8Array) => { updates.push(u) })
    const t = d.getText('t')
    t.insert(0, 'x'.repeat(33_000))
    // ids 4k, then ids 4k+2 (k < 8,200): 8,200 delete ranges in each update, none adjacent to another;
    // together 16,400 items, past the engine's 16,384, in fewer bytes than a merge may hold
    d.transact(() => { for (let i = 4 * 8199; i >= 0; i -= 4) t.delete(i, 1) })
    d.transact(() => { for (let k = 8199; k >= 0; k--) t.delete(3 * k + 1, 1) })
    assert.equal(updates.length, 3)
    assert.ok(updates[1].length + updates[2].length < 64 * 1024, `${updates[1].length} + ${updates[2].length} bytes`)
    const c = await joined(bridge.url, 'notes/target')
    c.ws.send(ywsMessage.update(updates[0]))
    await waitFor(() => text(target).length === 'original'.length + 33_000, { what: 'the text to delete from' })
    // the two deletions in one read
    ;(c.ws as unknown as { _socket: Socket })._socket.write(Buffer.concat(updates.slice(1).map(u => maskedFrame(ywsMessage.update(u)))))
    await waitFor(() => text(target).length === 'original'.length + 33_000 - 16_400, { what: `the doc with both deletions applied (${text(target).length})`, timeout: 10_000 })
    assert.equal(c.ws.readyState, c.ws.OPEN, 'not closed (4413) for a merge past the item cap')
    assert.equal(gw.stats.rejected.limit_exceeded, undefined)
    assert.equal(bridge.stats.connectionsClosed.limit_exceeded, undefined)
  })

  it('a client past its message budget is not read until the budget refills: held back, not closed, nothing lost', async () => {
    const { gw, bridge, target } = await setup({}, { messagesPerSecond: 200, messageBurst: 20 })
    const c = await joined(bridge.url, 'notes/target')
    const d = new Y.Doc()
    d.clientID = 7100
    const updates: Uint8Array[] = []
    d.on('update', (u: Uint8Array) => { updates.push(u) })
    for (let i = 0; i < 100; i++) d.getText('t').insert(i, String.fromCharCode(65 + (i % 26)))
    const want = d.getText('t').toString()
    const t0 = performance.now()
    for (const u of updates) {
      c.ws.send(ywsMessage.update(u))
      await new Promise(resolve => setTimeout(resolve, 1))
    }
    await waitFor(() => text(target).includes(want), { what: 'all 100 updates at the device', timeout: 10_000 })
    const ms = performance.now() - t0
    // 80 past the burst at 200 a second: some 400 ms however fast the client sends
    assert.ok(ms >= 300, `100 messages took ${ms.toFixed(0)} ms with a budget of 200 a second, burst 20`)
    assert.ok(bridge.stats.readsPaused >= 1, 'the pauses were counted')
    assert.equal(c.ws.readyState, c.ws.OPEN, 'the client was held back, not closed')
    assert.equal(gw.stats.rejected.rate_limited, undefined)
  })

  it('a message over the size cap is refused from its header (1009) before its payload is buffered; one byte over it, too', async () => {
    const { gw, bridge, target, stillServing } = await setup({}, { maxMessageBytes: 64 * 1024 })
    // a raw socket declares a 100 MB message and sends 1 KiB of it
    const { sock, got, ended } = await rawUpgrade(bridge.port, '/notes/target')
    const header = Buffer.alloc(14)
    header[0] = 0x82 // FIN, binary
    header[1] = 0x80 | 127 // masked, 64-bit length
    header.writeBigUInt64BE(100n * 1024n * 1024n, 2)
    header.writeUInt32BE(0x01020304, 10) // mask
    const t0 = performance.now()
    sock.write(Buffer.concat([header, Buffer.alloc(1024, 7)]))
    await ended
    const reply = Buffer.concat(got)
    // a close frame: 0x88, length 2, code 1009
    assert.ok(reply.length >= 4 && reply[0] === 0x88 && reply.readUInt16BE(2) === 1009, `a close frame with 1009, got ${reply.toString('hex')}`)
    assert.ok(performance.now() - t0 < 1000, 'closed at once')
    // and a real client one byte over the cap
    const c = await joined(bridge.url, 'notes/target')
    c.ws.send(ywsMessage.update(new Uint8Array(64 * 1024)))
    assert.equal((await c.closed).code, 1009)
    assert.equal(bridge.stats.connectionsClosed.frame_too_large, 2)
    assert.equal(gw.stats.rejected.frame_too_large, 2)
    await stillServing('[still serving]')
    assert.equal(text(target), 'original')
  })

  it('a client that reads nothing is closed (slow_consumer) once what waits for it stops moving', async () => {
    const { gw, bridge, stillServing } = await setup({}, { writeStallMs: 300 })
    const slow = await rawUpgrade(bridge.port, '/notes/big')
    const { sock } = slow
    sock.write(maskedFrame(ywsMessage.sync1()))
    await waitFor(() => gw.peers.some(id => id.startsWith('yws:anonymous#1')), { what: 'the silent client to be linked' })
    // it stops reading; a device writes 6 MB into the room
    sock.pause()
    const device = await rig.pool.create({ bootstrap: [gw.multiaddrs[0]] })
    const h = await device.open('notes/big')
    h.doc.getText('t').insert(0, 'x'.repeat(6 * 1024 * 1024))
    await waitFor(() => bridge.stats.connectionsClosed.slow_consumer === 1, { what: 'the silent client to be closed', timeout: 5000, detail: () => JSON.stringify(bridge.stats) })
    assert.equal(gw.stats.rejected.slow_consumer, 1)
    // what waited goes out, the close frame last: 4503, a code y-websocket reconnects after
    const { got } = slow
    sock.resume()
    const closeCode = (): number | undefined => {
      const all = Buffer.concat(got)
      const i = all.lastIndexOf(0x88, all.length - 4)
      return i >= 0 && all[i + 1] === all.length - i - 2 ? all.readUInt16BE(i + 2) : undefined
    }
    await waitFor(() => closeCode() === CloseCode.SLOW_CONSUMER, { what: 'a close frame with 4503', timeout: 10_000 })
    assert.ok(!gw.peers.includes('yws:anonymous#1'))
    await stillServing('[still serving]')
    sock.destroy()
  })

  it('a client that answers no ping is closed at the next one (ping_timeout)', async () => {
    const { bridge, stillServing } = await setup({}, { pingIntervalMs: 200 })
    const mute = rig.raw(`${bridge.url}/notes/mute`, { autoPong: false })
    await opened(mute)
    const t0 = performance.now()
    await mute.closed
    assert.ok(performance.now() - t0 < 2000)
    assert.equal(bridge.stats.connectionsClosed.ping_timeout, 1)
    // the honest provider answers its pings and stays
    await stillServing('[still serving]')
    assert.equal(bridge.stats.connectionsOpen, 1)
  })

  it('a flood of connections past the caps (per remote address, then in all) is refused with 503, counted; open sockets keep working', async () => {
    // the honest provider is one of the three 127.0.0.1 may hold
    const { bridge, stillServing } = await setup({}, { maxConnections: 5, maxConnectionsPerHost: 3 })
    const from = (localAddress: string): RawClient => rig.raw(`${bridge.url}/notes/flood`, { localAddress })
    const statuses = async (cs: RawClient[]): Promise<Array<number | undefined>> => await Promise.all(cs.map(async c => await c.status))
    const local = [from('127.0.0.1'), from('127.0.0.1')]
    assert.deepEqual(await statuses(local), [undefined, undefined], 'within the caps: open')
    assert.deepEqual(await statuses([from('127.0.0.1'), from('127.0.0.1')]), [503, 503], 'past 3 from one address')
    const other = [from('127.0.0.2'), from('127.0.0.2')]
    assert.deepEqual(await statuses(other), [undefined, undefined])
    assert.deepEqual(await statuses([from('127.0.0.3')]), [503], 'past 5 in all')
    assert.deepEqual(bridge.stats.connectionsRefused, { too_many_from_host: 2, too_many: 1 })
    await stillServing('[still serving]')
    // a closed socket frees its place
    local[0].ws.close()
    await local[0].closed
    await waitFor(() => bridge.stats.connectionsOpen === 4)
    assert.deepEqual(await statuses([from('127.0.0.3')]), [undefined])
  })

  it('a flood of awareness states: entries past the per-client cap are left out and counted; an update naming more clients than a doc holds closes the socket (4413)', async () => {
    const { gw, bridge, stillServing } = await setup({ maxAwarenessClientsPerPeer: 16, maxAwarenessClientsPerDoc: 64 })
    const watcher = await rig.pool.create({ bootstrap: [gw.multiaddrs[0]] })
    const w = await watcher.open('notes/crowd')
    await waitFor(() => gw.peers.includes(watcher.peerId))
    const c = await joined(bridge.url, 'notes/crowd')
    const crowd = (n: number, from: number): Array<[number, number, unknown]> => Array.from({ length: n }, (_, i) => [from + i, 1, { user: `bot${i}` }])
    c.ws.send(ywsMessage.awareness(awarenessUpdate(crowd(40, 1000))))
    await waitFor(() => (gw.stats.rejected.awareness_over_cap ?? 0) === 24, { what: '24 entries left out', detail: () => JSON.stringify(gw.stats.rejected) })
    await waitFor(() => [...w.awareness.getStates().keys()].filter(k => k >= 1000 && k < 2000).length === 16, { what: 'the 16 admitted states on the device' })
    assert.equal(c.ws.readyState, c.ws.OPEN, 'the socket stays: a crowd is no violation')
    c.ws.send(ywsMessage.awareness(awarenessUpdate(crowd(65, 5000))))
    const closed = await c.closed
    assert.equal(closed.code, CloseCode.TOO_LARGE)
    assert.match(closed.reason, /^limit_exceeded: /)
    await waitFor(() => [...w.awareness.getStates().keys()].every(k => k < 1000 || k >= 6000), { what: "the flooder's states to leave with its socket" })
    assert.equal(bridge.stats.connectionsClosed.limit_exceeded, 1)
    await stillServing('[still serving]')
  })

  it('room names: "../" is an opaque doc id, never a path; 2 KiB, not UTF-8 or raw bytes are refused (4400), counted', async () => {
    const data = await mkdtemp(join(tmpdir(), 'meshdoc-yws-rooms-'))
    rig.dirs.push(data)
    const { gw, bridge } = await rig.gateway({ storage: new FsStorageAdapter(join(data, 'gw')) })
    const before = await readdir(data)
    // `..%2Fsecret` is one path segment: the room `../secret`
    const c = await joined(bridge.url, '..%2Fsecret')
    c.ws.send(ywsMessage.update(textInsert(4242, 'via dot-dot')))
    const device = await rig.pool.create({ bootstrap: [gw.multiaddrs[0]] })
    const dotdot = await device.open('../secret')
    const plain = await device.open('secret')
    await waitFor(() => text(dotdot.doc) === 'via dot-dot', { what: 'the doc "../secret" to have the text' })
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(text(plain.doc), '', 'the doc "secret" is another doc')
    assert.deepEqual(await readdir(data), before, 'nothing written beside the data directory')
    assert.ok(!(await readdir(dirname(data))).includes('secret'))
    for (const [room, why] of [['a'.repeat(2048), /over 1024 bytes/], ['%C3%28', /not UTF-8/], ['%ED%A0%80', /not UTF-8/], ['%E0%A4%A', /not UTF-8/]] as const) {
      const r = rig.raw(`${bridge.url}/${room}`)
      const closed = await r.closed
      assert.equal(closed.code, CloseCode.BAD_REQUEST, room)
      assert.match(closed.reason, why)
    }
    const bare = rig.raw(bridge.url)
    assert.match((await bare.closed).reason, /^bad_room: no room/)
    assert.equal(bridge.stats.connectionsRefused.bad_room, 5)
    // a request outside the prefix, and a plain HTTP request
    const other = await startOther(bridge.port)
    assert.deepEqual(other, { status: 426 })
  })

  it('write quotas and authorship hold a bridge client as they hold a mesh peer: refused, counted, the socket stays', async () => {
    const { gw, bridge, target, stillServing } = await setup()
    // an update under the device's clientID, which the gateway holds for the device
    const c = await joined(bridge.url, 'notes/target')
    c.ws.send(ywsMessage.update(forgedUpdate(Y.encodeStateAsUpdate(target), target.clientID, 'FORGED ')))
    await waitFor(() => bridge.stats.messagesRefused.authorship === 1, { what: 'DENIED authorship, counted' })
    assert.equal(gw.stats.rejected.forged_author, 1)
    assert.equal(c.ws.readyState, c.ws.OPEN)
    await stillServing('[still serving]')
    assert.equal(text(target), 'original')

    // a gateway whose writers may each store 256 bytes; clients without a token share theirs (yws:anonymous#0 here)
    const small = await rig.gateway({ quota: { maxBytes: 256 } })
    const device = await rig.pool.create({ bootstrap: [small.gw.multiaddrs[0]] })
    const d = await device.open('notes/quota')
    await waitFor(() => small.gw.peers.includes(device.peerId))
    const first = new Y.Doc()
    const p1 = rig.provider(small.bridge, 'notes/quota', first)
    await waitFor(() => p1.synced)
    first.getText('t').insert(0, 'a'.repeat(150))
    await waitFor(() => text(d.doc) === 'a'.repeat(150), { what: 'a write within the quota' })
    p1.destroy()
    await waitFor(() => small.bridge.stats.connectionsOpen === 0)
    const second = new Y.Doc()
    const p2 = rig.provider(small.bridge, 'notes/quota', second)
    await waitFor(() => p2.synced && text(second) === 'a'.repeat(150))
    assert.ok(small.gw.peers.includes('yws:anonymous#0'))
    second.getText('t').insert(0, 'b'.repeat(150))
    await waitFor(() => small.bridge.stats.messagesRefused.quota_exceeded === 1, { what: 'DENIED quota_exceeded, counted' })
    assert.equal(small.gw.stats.rejected.quota_exceeded, 1)
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(text(d.doc), 'a'.repeat(150), 'the write past the quota reached nobody')
    assert.equal(p2.wsconnected, true)
  })

  it('auth messages are dropped and counted; a flood of them, or of awareness queries, closes the socket (4529, rate_limited)', async () => {
    const { gw, bridge, target, stillServing } = await setup()
    const c = await joined(bridge.url, 'notes/target')
    c.ws.send(new Uint8Array([2, 0, 4, 110, 111, 112, 101]))
    await waitFor(() => bridge.stats.messagesRefused.auth_message === 1)
    for (let i = 0; i < 200; i++) c.ws.send(new Uint8Array([3]))
    const closed = await c.closed
    assert.equal(closed.code, CloseCode.RATE_LIMITED)
    assert.equal(gw.stats.rejected.rate_limited, 1)
    await stillServing('[still serving]')
    assert.equal(text(target), 'original')
  })
})

/** A raw TCP socket upgraded to a WebSocket at `path` (nothing of `ws` on the client side). */
async function rawUpgrade (port: number, path: string): Promise<{ sock: Socket, got: Buffer[], ended: Promise<void> }> {
  const sock = tcpConnect(port, '127.0.0.1')
  const got: Buffer[] = []
  sock.on('data', (b: Buffer) => { got.push(b) })
  sock.on('error', () => {})
  const ended = new Promise<void>(resolve => { sock.on('close', () => { resolve() }) })
  sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  await waitFor(() => Buffer.concat(got).includes('\r\n\r\n'), { what: 'the upgrade answer' })
  assert.match(Buffer.concat(got).toString('latin1'), /^HTTP\/1\.1 101 /)
  got.length = 0
  return { sock, got, ended }
}

/** One binary WebSocket frame as a client sends it (masked; payload under 64 KiB). */
function maskedFrame (payload: Uint8Array): Buffer {
  const mask = Buffer.from([1, 2, 3, 4])
  const head = payload.length < 126 ? Buffer.from([0x82, 0x80 | payload.length]) : Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))])
}

/** A plain GET (no upgrade) to the bridge's port: what it answers. */
async function startOther (port: number): Promise<{ status: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/notes/x`)
  await res.text()
  return { status: res.status }
}
