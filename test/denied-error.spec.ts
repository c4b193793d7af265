/**
 * `whenSynced()` and refusals, over real libp2p: a wait that can no longer be
 * satisfied ends with a DeniedError that names the peer and the reason, at
 * once and by default (no `peer` option needed), instead of running to its
 * timeout; a refusal by one peer does not fail a wait that another peer can
 * still satisfy.
 */
import assert from 'node:assert/strict'
import { DeniedError } from '../lib/errors.js'
import type { PeerRefusal } from '../lib/mesh-node.js'
import { NodePool } from './helpers/mesh-nodes.js'
import { until } from './helpers/wait.js'

describe('whenSynced and DENIED', function () {
  this.timeout(20_000)
  const pool = new NodePool()
  afterEach(async () => { await pool.stopAll() })

  it('the only peer refuses the doc: whenSynced() rejects with DeniedError (peer, reason "unavailable") long before its timeout', async () => {
    const gw = await pool.create({ policy: (_peer, docId) => docId.startsWith('public/') ? 'write' : 'none' })
    const device = await pool.create()
    const secret = await device.open('private/plans')
    secret.doc.getText('t').insert(0, 'mine')
    const t0 = performance.now()
    const waiting = secret.whenSynced({ timeout: 10_000 })
    await device.dial(gw.multiaddrs[0])
    const err = await waiting.then(() => undefined, (e: unknown) => e)
    assert.ok(err instanceof DeniedError, `rejected with ${String(err)}`)
    assert.equal(err.reason, 'unavailable')
    assert.equal(err.peer, gw.peerId)
    assert.match(err.message, /unavailable/)
    assert.ok(performance.now() - t0 < 5000, 'at once, not at the timeout')
  })

  it('a read-only peer refuses our writes: whenSynced() rejects with DeniedError reason "read_only"', async () => {
    const gw = await pool.create({ policy: () => 'read' })
    await gw.open('notes/a')
    const device = await pool.create()
    const h = await device.open('notes/a')
    await device.dial(gw.multiaddrs[0])
    const events: string[] = []
    h.on('denied', (_peer, reason) => { events.push(reason) })
    h.doc.getText('t').insert(0, 'a write the gateway refuses')
    const err = await h.whenSynced({ timeout: 10_000 }).then(() => undefined, (e: unknown) => e)
    assert.ok(err instanceof DeniedError, `rejected with ${String(err)}`)
    assert.equal(err.reason, 'read_only')
    assert.deepEqual(events, ['read_only'], 'the denied event names the reason too')
    // asked again, with the refused edit still held: at once, not at the timeout (no second DENIED comes)
    const t0 = performance.now()
    for (const opts of [{ timeout: 10_000 }, { peer: gw.peerId, timeout: 10_000 }]) {
      const again = await h.whenSynced(opts).then(() => undefined, (e: unknown) => e)
      assert.ok(again instanceof DeniedError && again.reason === 'read_only', `rejected with ${String(again)}`)
    }
    assert.ok(performance.now() - t0 < 1000)
  })

  it('one peer refuses the doc, another holds it: whenSynced() resolves with the other', async () => {
    const refusing = await pool.create({ policy: () => 'none' })
    const holding = await pool.create()
    await holding.open('shared/doc')
    const device = await pool.create()
    const h = await device.open('shared/doc')
    h.doc.getText('t').insert(0, 'kept somewhere')
    const denied = new Promise<string>(resolve => { h.on('denied', (peer) => { resolve(peer) }) })
    await device.dial(holding.multiaddrs[0])
    await h.whenSynced({ peer: holding.peerId, timeout: 10_000 })
    await device.dial(refusing.multiaddrs[0])
    assert.equal(await denied, refusing.peerId)
    await h.whenSynced({ timeout: 5000 })
  })
})

describe('a read-only peer with nothing to write', function () {
  this.timeout(20_000)
  const pool = new NodePool()
  afterEach(async () => { await pool.stopAll() })

  it('is in sync with the gateway: whenSynced resolves, no DENIED, nothing counted as forbidden, on first connect and on reconnect', async () => {
    const gw = await pool.create({ policy: (peer) => peer === reader.peerId ? 'read' : 'write' })
    const reader = await pool.create()
    const g = await gw.open('dashboard/data')
    g.doc.getMap('m').set('temperature', 21)
    g.doc.getText('t').insert(0, 'abc')
    g.doc.getText('t').delete(0, 1) // the gateway's doc has deletions: its SYNC1's digest is not the reader's
    const r = await reader.open('dashboard/data')
    const denied: string[] = []
    r.on('denied', (peer, reason) => { denied.push(`${peer}:${reason}`) })
    await reader.dial(gw.multiaddrs[0])
    await r.whenSynced({ peer: gw.peerId, timeout: 5000 })
    assert.equal(r.doc.getMap('m').get('temperature'), 21)
    assert.equal(r.status.synced, true)
    // the gateway goes on writing: still in sync once it has the change
    g.doc.getMap('m').set('temperature', 22)
    await r.whenSynced({ peer: gw.peerId, timeout: 5000 })
    // and again after a reconnect
    await reader.libp2p.hangUp(gw.libp2p.peerId)
    await reader.dial(gw.multiaddrs[0])
    await r.whenSynced({ peer: gw.peerId, timeout: 5000 })
    assert.equal(r.doc.getMap('m').get('temperature'), 22)
    assert.deepEqual(denied, [])
    assert.equal(gw.stats.rejected.forbidden, undefined, JSON.stringify(gw.stats.rejected))
  })
})

describe('a device refused by a gateway\'s allow-list', function () {
  this.timeout(30_000)
  const pool = new NodePool()
  afterEach(async () => { await pool.stopAll() })

  it('is told (peer:refused), backs off (a few dials in 10 s, not dozens), and the gateway counts each refusal as not_allowed', async () => {
    const stranger = await pool.create()
    const gw = await pool.create({ allowPeers: [stranger.peerId] })
    let opened = 0
    const device = await pool.create({ bootstrap: [gw.multiaddrs[0]] }) // the default backoff: 500 ms doubling, with jitter
    const refusals: PeerRefusal[] = []
    device.on('peer:refused', (r) => { refusals.push(r) })
    device.libp2p.addEventListener('connection:open', () => { opened++ })
    await new Promise(resolve => setTimeout(resolve, 10_000))
    // dials at ~0, 0.5, 1.5, 3.5, 7.5 s at most (each delay from half to all of 500 ms doubling); twice a second would be 20
    assert.ok(opened >= 2, `it did reach the gateway, and came back (${opened})`)
    assert.ok(opened <= 7, `${opened} connections in 10 s`)
    assert.equal(device.peers.length, 0, 'and was never admitted')
    assert.ok(refusals.length >= opened - 1, `an event for (nearly) every refused connection: ${refusals.length} of ${opened}`)
    for (const r of refusals) {
      assert.equal(r.reason, 'refused')
      assert.equal(r.peer, gw.peerId)
      assert.match(r.addr, /\/tcp\//)
    }
    assert.ok((gw.stats.rejected.not_allowed ?? 0) >= opened - 1, `the gateway counted its refusals: ${JSON.stringify(gw.stats.rejected)}, ${opened} dials`)
  })

  it('not_allowed counts peers that connected to us, not our own dials to peers off the list', async () => {
    const other = await pool.create()
    const gw = await pool.create({ allowPeers: [(await pool.create()).peerId], bootstrap: [other.multiaddrs[0]], bootstrapBackoff: { minDelayMs: 100, maxDelayMs: 200 } })
    await new Promise(resolve => setTimeout(resolve, 1500)) // it tried to dial `other` several times
    assert.equal(gw.stats.rejected.not_allowed, undefined, JSON.stringify(gw.stats.rejected))
    await other.dial(gw.multiaddrs[0]).catch(() => {})
    await until(() => (gw.stats.rejected.not_allowed ?? 0) >= 1, 'the inbound refusal counted')
  })

  it('an honest peer is never reported refused: simultaneous dials leave a spare connection that closes unused, 8 rounds', async () => {
    const a = await pool.create()
    const refusals: PeerRefusal[] = []
    a.on('peer:refused', (r) => { refusals.push(r) })
    const h = await a.open('notes/both-ways')
    for (let round = 0; round < 8; round++) {
      const b = await pool.create()
      // both dial at once: two connections, each side keeps the same one
      await Promise.all([a.dial(b.multiaddrs[0]), b.dial(a.multiaddrs[0])])
      const hb = await b.open('notes/both-ways')
      hb.doc.getArray('rounds').push([round])
      await hb.whenSynced({ peer: a.peerId, timeout: 5000 })
      // b crashes: its connections are cut without a BYE
      for (const c of b.libp2p.getConnections()) c.abort(new Error('crashed'))
      await until(() => a.libp2p.getConnections(b.libp2p.peerId).length === 0, 'the connections to close')
      await b.stop()
    }
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(h.doc.getArray('rounds').length, 8, 'every round synced')
    assert.deepEqual(refusals, [], 'a peer that synced is not one that refused us')
  })

  it('a bootstrap peer that is not there: peer:refused "unreachable" with the next retry; reconnect() dials at once', async () => {
    const gw = await pool.create({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const addr = gw.multiaddrs[0]
    await gw.stop() // nothing listens there any more (stopAll stops it again: stop() is idempotent)
    const device = await pool.create({ bootstrap: [addr], bootstrapBackoff: { minDelayMs: 60_000, maxDelayMs: 60_000 } })
    const refusals: PeerRefusal[] = []
    device.on('peer:refused', (r) => { refusals.push(r) })
    await until(() => refusals.length >= 1, 'the first dial fails')
    assert.equal(refusals[0].reason, 'unreachable')
    assert.equal(refusals[0].addr, addr)
    assert.ok(refusals[0].retryInMs !== undefined && refusals[0].retryInMs >= 30_000, `next dial in ${refusals[0].retryInMs} ms`)
    device.reconnect() // the network is back: no 30-60 s wait
    await until(() => refusals.length >= 2, 'reconnect() dialled again at once', 5000)
  })
})
