/**
 * Dead connections are found without libp2p's connection monitor
 * (adapters/libp2p/link-monitor.ts, issue 18): a device whose TCP connection
 * to a gateway is black-holed (a proxy on 127.0.0.1 that stops passing bytes
 * either way and never closes: no FIN, no RST) is dropped by the gateway once
 * a yamux PING goes unanswered, and its sync session ends. The control: the
 * same black hole with pings far apart keeps the dead peer listed.
 */
import assert from 'node:assert/strict'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { waitFor } from './helpers/mesh-nodes.js'

/** A TCP proxy to `target` that can stop passing bytes (a black hole: sockets stay open). */
async function blackHoleProxy (target: number): Promise<{ port: number, freeze: () => void, close: () => Promise<void> }> {
  let frozen = false
  const sockets = new Set<Socket>()
  const server: Server = createServer(inbound => {
    const outbound = connect(target, '127.0.0.1')
    for (const s of [inbound, outbound]) {
      sockets.add(s)
      s.on('error', () => {})
    }
    inbound.on('data', (b) => { if (!frozen) outbound.write(b) })
    outbound.on('data', (b) => { if (!frozen) inbound.write(b) })
    // while frozen, a close is not passed on either: the far side hears nothing
    inbound.on('close', () => { if (!frozen) outbound.destroy() })
    outbound.on('close', () => { if (!frozen) inbound.destroy() })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    port,
    freeze: () => { frozen = true },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

describe('dead connections (link monitor)', function () {
  this.timeout(30_000)
  const nodes: MeshNode[] = []
  const closers: Array<() => Promise<void>> = []

  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() }))
    for (const c of closers.splice(0)) await c()
  })

  async function blackHoledDevice (linkPing: { intervalMs: number, timeoutMs: number }): Promise<{ gateway: MeshNode, device: MeshNode }> {
    const libp2p = await createDefaultLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'], linkPing })
    // a node stops only the libp2p it made
    closers.push(async () => { await libp2p.stop() })
    const gateway = await createMeshNode({ libp2p, serveAllDocs: true, antiEntropyIntervalMs: 0 })
    nodes.push(gateway)
    const gwPort = Number(gateway.multiaddrs.find(a => a.includes('/tcp/'))?.split('/')[4])
    const proxy = await blackHoleProxy(gwPort)
    closers.push(proxy.close)
    const device = await createMeshNode({ antiEntropyIntervalMs: 0 })
    nodes.push(device)
    await device.dial(`/ip4/127.0.0.1/tcp/${proxy.port}/p2p/${gateway.peerId}`)
    const h = await device.open('sensors/1/state')
    h.doc.getMap('m').set('reading', 1)
    await h.whenSynced({ peer: gateway.peerId, timeout: 10_000 })
    assert.ok(gateway.peers.includes(device.peerId))
    proxy.freeze()
    return { gateway, device }
  }

  it('a black-holed peer is dropped once a ping goes unanswered', async () => {
    const { gateway, device } = await blackHoledDevice({ intervalMs: 300, timeoutMs: 700 })
    const frozenAt = Date.now()
    await waitFor(() => !gateway.peers.includes(device.peerId), { what: 'the gateway to drop the black-holed device', timeout: 5000 })
    const ms = Date.now() - frozenAt
    assert.ok(ms >= 300, `dropped after ${ms} ms: only after a ping went unanswered`)
  })

  /** Two bare libp2p nodes, `device` dialled to `gateway`; counts the pings the gateway's end sends from now on. */
  async function pingedLink (gatewayPing: { intervalMs: number, timeoutMs: number }, devicePing: { intervalMs: number, timeoutMs: number }): Promise<() => number> {
    const gateway = await createDefaultLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'], linkPing: gatewayPing })
    const device = await createDefaultLibp2p({ linkPing: devicePing })
    closers.push(async () => { await device.stop(); await gateway.stop() })
    await device.dial(gateway.getMultiaddrs()[0])
    await waitFor(() => gateway.getConnections().length === 1, { what: 'the inbound connection' })
    const muxer = (gateway.getConnections()[0] as unknown as { muxer: { ping: (o?: unknown) => Promise<number> } }).muxer
    const ping = muxer.ping.bind(muxer)
    let sent = 0
    muxer.ping = async (o) => { sent++; return await ping(o) }
    return () => sent
  }

  it('an end that hears the other end\'s pings sends none of its own', async () => {
    // the device pings every 50 ms, so every 150 ms check of the gateway finds it heard from
    const sent = await pingedLink({ intervalMs: 150, timeoutMs: 1000 }, { intervalMs: 50, timeoutMs: 1000 })
    await new Promise(resolve => setTimeout(resolve, 400))
    const before = sent()
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.equal(sent() - before, 0, 'the gateway pinged a connection it kept hearing from')
  })

  it('control: an end that hears nothing pings every interval', async () => {
    const sent = await pingedLink({ intervalMs: 150, timeoutMs: 1000 }, { intervalMs: 3_600_000, timeoutMs: 1000 })
    await new Promise(resolve => setTimeout(resolve, 400))
    const before = sent()
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.ok(sent() - before >= 6, `the gateway pinged ${sent() - before} times in 1.5 s`)
  })

  it('control: with pings far apart, the same dead peer stays listed', async () => {
    const { gateway, device } = await blackHoledDevice({ intervalMs: 3_600_000, timeoutMs: 700 })
    await new Promise(resolve => setTimeout(resolve, 2500))
    assert.ok(gateway.peers.includes(device.peerId), 'nothing else notices a black hole this soon')
  })
})
