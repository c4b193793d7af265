/**
 * The gateway's libp2p lists its connections in one pass
 * (adapters/libp2p/linear-connections.ts, issue 18): libp2p 3's own
 * `getConnections()` copied the list once per peer, O(N²), and libp2p calls
 * it twice for every inbound connection. Real libp2p over TCP on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'

type Manager = { getConnections: (peer?: PeerId) => Connection[] }
const managerOf = (node: Libp2p): Manager => (node as unknown as { components: { connectionManager: Manager } }).components.connectionManager

describe('libp2p getConnections() in one pass', function () {
  this.timeout(30_000)
  const nodes: Libp2p[] = []
  afterEach(async () => { await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() })) })

  it('is swapped in on the nodes meshdoc creates, and answers exactly as libp2p\'s own', async () => {
    const hub = await createDefaultLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    nodes.push(hub)
    const cm = managerOf(hub)
    const own = Object.getPrototypeOf(cm).getConnections as Manager['getConnections']
    assert.notEqual(cm.getConnections, own, 'libp2p\'s internals moved: linearGetConnections() did not take')
    assert.deepEqual(cm.getConnections(), [])

    const dialers = await Promise.all(Array.from({ length: 5 }, async () => await createDefaultLibp2p()))
    nodes.push(...dialers)
    // one at a time: all from 127.0.0.1, one host, whose handshakes at once are capped
    for (const d of dialers) await d.dial(hub.getMultiaddrs()[0])
    // a second connection from one peer: listed twice, as libp2p lists it
    await dialers[0].dial(hub.getMultiaddrs()[0], { force: true })
    await new Promise(resolve => setTimeout(resolve, 200))

    const ids = (list: Connection[]): string[] => list.map(c => c.id).sort()
    const mine = cm.getConnections()
    assert.equal(mine.length, 6)
    assert.deepEqual(ids(mine), ids(own.call(cm)))
    assert.deepEqual(ids(hub.getConnections()), ids(mine), 'libp2p.getConnections() goes through it')
    assert.deepEqual(ids(cm.getConnections(dialers[0].peerId)), ids(own.call(cm, dialers[0].peerId)), 'one peer\'s, as before')
    // a fresh array each time: a caller that changes it changes nothing else
    mine.length = 0
    assert.equal(cm.getConnections().length, 6)
  })
})
