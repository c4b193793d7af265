/**
 * Two `meshdoc gateway --mdns` processes with no bootstrap peers find each
 * other on the LAN (here: loopback) and sync: an edit written to one is read
 * from the other. A per-test mDNS service name keeps other tests' nodes out.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createMeshNode, type MeshNode } from '../lib/index.js'
import { CliProcesses } from './helpers/cli-process.js'
import { waitFor } from './helpers/mesh-nodes.js'

const DOC = 'notes/mdns'

describe('meshdoc gateway --mdns', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  let clients: MeshNode[] = []
  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map(async c => { await c.stop() }))
    await cli.killAll()
  })

  it('two gateways with no bootstrap peers find each other by mDNS and sync', async () => {
    const tag = `meshdoc-test-${randomBytes(4).toString('hex')}.local`
    const args = ['--mdns', '--mdns-tag', tag, '--open', DOC]
    const [a, b] = [cli.gateway(await cli.tempDir(), args), cli.gateway(await cli.tempDir(), args)]
    const [ga, gb] = await Promise.all([a.ready(), b.ready()])

    const peersOf = async (admin: string): Promise<string[]> => ((await (await fetch(`${admin}/status`)).json()) as { peers: string[] }).peers
    const deadline = Date.now() + 30_000
    while (!(await peersOf(ga.admin)).includes(gb.peerId)) {
      assert.ok(Date.now() < deadline, `gateway A never found B by mDNS\n--- A ---\n${a.stderr}\n--- B ---\n${b.stderr}`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }

    const writer = await createMeshNode({ antiEntropyIntervalMs: 0 })
    const reader = await createMeshNode({ antiEntropyIntervalMs: 0 })
    clients.push(writer, reader)
    await writer.dial(ga.tcp)
    await reader.dial(gb.tcp)
    const w = await writer.open(DOC)
    const r = await reader.open(DOC)
    w.doc.getText('t').insert(0, 'found by mDNS')
    await waitFor(() => r.doc.getText('t').toString() === 'found by mDNS', { what: 'the edit to travel A -> B', timeout: 15_000 })
  })
})
