/**
 * Authorship survives a restart of the gateway that enforces it (issue 15,
 * test 6; lib/security/author-book.ts). A device without presence writes
 * through a real `meshdoc gateway` (its own process, fs storage); the gateway
 * restarts (SIGTERM) and the device reconnects without writing again. A
 * forger that then writes new structs under the device's clientID is
 * refused (DENIED `authorship`, counted `forged_author`), and its edit
 * reaches neither the gateway's doc nor the device. The control: the same
 * restart with the stored bindings removed lets the forgery in, which is
 * what the gateway did before it kept them.
 */
import assert from 'node:assert/strict'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { createMeshNode, type DocHandle, type MeshNode } from '../adapters/presets/node.js'
import { CliProcesses, freePort } from './helpers/cli-process.js'
import { waitFor } from './helpers/mesh-nodes.js'

describe('authorship across a gateway restart', function () {
  this.timeout(90_000)
  const cli = new CliProcesses()
  let clients: MeshNode[] = []

  afterEach(async () => {
    const cs = clients
    clients = []
    await Promise.allSettled(cs.map(async c => { await c.stop() }))
    await cli.killAll()
  })

  async function client (): Promise<MeshNode> {
    const c = await createMeshNode({ antiEntropyIntervalMs: 0 })
    clients.push(c)
    return c
  }

  const rejected = async (admin: string): Promise<Record<string, number>> =>
    ((await (await fetch(`${admin}/status`)).json()) as { stats: { rejected: Record<string, number> } }).stats.rejected

  /**
   * The device writes, the gateway restarts (its author bindings kept, or
   * removed when `forget`), the device reconnects, and a forger writes under
   * the device's clientID. Returns the forger's refusal (or 'accepted') and
   * what the device then holds.
   */
  async function forgeAfterRestart (forget: boolean): Promise<{ outcome: string, device: string, stored: string, forgedCount: number }> {
    const dir = await cli.tempDir()
    const ports = { tcp: await freePort(), ws: await freePort() }
    let gw = cli.gatewayAt(dir, ports)
    let { peerId, tcp, admin } = await gw.ready()
    const device = await client()
    await device.dial(tcp)
    const hd = await device.open('sensors/7/state')
    // no presence: only the stored binding can say whose the clientID is
    hd.awareness.setLocalState(null)
    hd.doc.getText('t').insert(0, 'reading 1')
    await hd.whenSynced({ peer: peerId, timeout: 10_000 })
    const owner = hd.doc.clientID
    // bindings are written at most every second, and when the gateway stops
    const stopped = await gw.stop('SIGTERM')
    assert.equal(stopped.code, 0, 'the gateway flushed and exited cleanly')
    if (forget) {
      const storage = new FsStorageAdapter(dir)
      await storage.removeRange(['_meshdoc', 'authors'])
      await storage.close?.()
    }
    gw = cli.gatewayAt(dir, ports)
    ;({ peerId, tcp, admin } = await gw.ready())
    await device.dial(tcp)
    await waitFor(() => device.peers.includes(peerId), { what: 'the device to reconnect to the restarted gateway', timeout: 10_000 })
    await hd.whenSynced({ peer: peerId, timeout: 10_000 })

    const mallory = await client()
    await mallory.dial(tcp)
    const hm: DocHandle = await mallory.open('sensors/7/state')
    await waitFor(() => hm.doc.getText('t').toString() === 'reading 1', { what: 'the forger to read the doc' })
    const outcome = new Promise<string>(resolve => {
      hm.on('denied', (p, reason) => { if (p === peerId) resolve(reason) })
      hd.doc.getText('t').observe(() => { if (hd.doc.getText('t').toString().includes('FORGED')) resolve('accepted') })
    })
    hm.doc.clientID = owner
    hm.doc.getText('t').insert(0, 'FORGED ')
    const result = await Promise.race([outcome, new Promise<string>(resolve => setTimeout(() => { resolve('timeout') }, 15_000))])
    await new Promise(resolve => setTimeout(resolve, 300))
    const forgedCount = (await rejected(admin)).forged_author ?? 0
    await gw.stop('SIGTERM')
    const stored = await cli.run(['export', 'sensors/7/state', '--data', dir])
    assert.equal(stored.code, 0, stored.stderr)
    return { outcome: result, device: hd.doc.getText('t').toString(), stored: stored.stdout, forgedCount }
  }

  it('the clientID-to-PeerId binding is kept: a forger after the restart is refused, and its edit reaches nobody', async () => {
    const r = await forgeAfterRestart(false)
    assert.equal(r.outcome, 'authorship', 'the forger was told DENIED authorship')
    assert.ok(r.forgedCount >= 1, 'counted forged_author')
    assert.equal(r.device, 'reading 1', 'the forgery never reached the device')
    assert.ok(r.stored.includes('reading 1') && !r.stored.includes('FORGED'), `the gateway stored no forged edit: ${r.stored}`)
  })

  it('control: with the stored bindings removed before the restart, the same forgery gets in', async () => {
    const r = await forgeAfterRestart(true)
    assert.equal(r.outcome, 'accepted', 'without the kept binding the first writer after a restart wins')
    assert.equal(r.forgedCount, 0)
    assert.ok(r.stored.includes('FORGED'), 'and the gateway stored it')
  })
})
