/**
 * The WebSocket transport (what browsers use to reach a gateway) carries the
 * same encrypted sync as TCP.
 */
import assert from 'node:assert/strict'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'

describe('sync over WebSockets', function () {
  this.timeout(30_000)
  const nodes: MeshNode[] = []
  after(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })

  it('a node that dials the /ws address syncs both ways over Noise-encrypted WebSockets', async () => {
    const gw = await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0/ws'] })
    const client = await createMeshNode({})
    nodes.push(gw, client)
    const wsAddr = gw.multiaddrs.find(a => a.includes('/ws/'))
    assert.ok(wsAddr !== undefined, `no /ws address in ${gw.multiaddrs.join(', ')}`)
    const hg = await gw.open('board')
    const hc = await client.open('board')
    hg.doc.getText('t').insert(0, 'from the gateway')
    await client.dial(wsAddr)
    await hc.whenSynced({ peer: gw.peerId, timeout: 10_000 })
    assert.equal(hc.doc.getText('t').toString(), 'from the gateway')
    hc.doc.getText('t').insert(0, 'browser says hi: ')
    await hc.whenSynced({ peer: gw.peerId, timeout: 10_000 })
    assert.equal(hg.doc.getText('t').toString(), 'browser says hi: from the gateway')
    const conns = client.libp2p.getConnections(gw.libp2p.peerId)
    assert.equal(conns.length, 1)
    assert.ok(conns[0].remoteAddr.toString().includes('/ws'), `connection is ${conns[0].remoteAddr.toString()}`)
    assert.equal(conns[0].encryption, '/noise')
  })
})
