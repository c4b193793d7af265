/**
 * A device connected to a gateway that does not handle the sync protocol yet
 * (a gateway starting up listens before its protocol handler is in place)
 * asks again, with a doubling delay, instead of keeping a connection with no
 * sync for good (adapters/libp2p/sync-transport.ts). Found by the F1 fleet
 * benchmark: one device in 200 stayed connected and never synced after a
 * gateway restart.
 */
import assert from 'node:assert/strict'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { waitFor } from './helpers/mesh-nodes.js'

describe('a sync stream the peer could not take yet', function () {
  this.timeout(30_000)
  const nodes: MeshNode[] = []
  afterEach(async () => { await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() })) })

  it('is asked for again once the peer handles the protocol: the device syncs on the connection it has', async () => {
    const libp2p = await createDefaultLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    await libp2p.start()
    try {
      const device = await createMeshNode({ antiEntropyIntervalMs: 0 })
      nodes.push(device)
      await device.dial(libp2p.getMultiaddrs()[0].toString())
      // its first sync stream is refused: nothing handles the protocol there
      await new Promise(resolve => setTimeout(resolve, 500))
      assert.equal(device.peers.length, 0)
      const conns = device.libp2p.getConnections()
      assert.equal(conns.length, 1, 'the connection stays')
      const gateway = await createMeshNode({ libp2p, serveAllDocs: true, antiEntropyIntervalMs: 0 })
      nodes.push(gateway)
      await waitFor(() => device.peers.includes(gateway.peerId), { what: 'the device to open its sync stream again', timeout: 10_000 })
      assert.equal(device.libp2p.getConnections()[0].id, conns[0].id, 'on the same connection')
      const h = await device.open('sensors/1/state')
      h.doc.getMap('m').set('reading', 1)
      await h.whenSynced({ peer: gateway.peerId, timeout: 10_000 })
    } finally {
      await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() }))
      await libp2p.stop()
    }
  })
})
