/**
 * `meshdoc gateway`'s fleet flags (lib/cli/fleet-limits.ts, issue 18): they
 * are in --help with their defaults, a bad value is a usage error (exit 2)
 * before anything starts, and they reach the running gateway: with
 * --connections-per-host 2, a third device from the same host (127.0.0.1)
 * is refused while two sync, and gets in once one leaves.
 */
import assert from 'node:assert/strict'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { CliProcesses } from './helpers/cli-process.js'
import { waitFor } from './helpers/mesh-nodes.js'

describe('meshdoc gateway: fleet limits', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  let clients: MeshNode[] = []

  afterEach(async () => {
    const cs = clients
    clients = []
    await Promise.allSettled(cs.map(async c => { await c.stop() }))
    await cli.killAll()
  })

  it('--help lists them with their defaults; a bad value is a usage error (exit 2)', async () => {
    const help = await runInProcess(['gateway', '--help'])
    assert.equal(help.code, 0)
    for (const [flag, def] of [['max-connections', '1024'], ['max-handshakes', '64'], ['handshakes-per-host', '4'], ['connections-per-host', '128'], ['connection-rate-per-host', '20'], ['ping-interval', '30']]) {
      assert.match(help.stdout, new RegExp(`--${flag} \\S+ .*\\[default: ${def}; env MESHDOC_${flag.toUpperCase().replace(/-/g, '_')}\\]`), flag)
    }
    const dir = await cli.tempDir()
    for (const [flag, value] of [['--max-connections', '0'], ['--max-handshakes', 'many'], ['--handshakes-per-host', '2.5'], ['--ping-interval', 'soon'], ['--connections-per-host', '']]) {
      const bad = await runInProcess(['gateway', '--data', dir, '--admin', 'none', flag, value])
      assert.equal(bad.code, 2, `${flag} ${value}: ${bad.stderr}`)
      assert.match(bad.stderr, new RegExp(`${flag} must be`))
    }
  })

  it('--connections-per-host 2: a third device from the same host is refused while two sync, and gets in once one leaves', async () => {
    const gw = cli.gateway(await cli.tempDir(), ['--connections-per-host', '2'])
    const { peerId, tcp } = await gw.ready()
    const device = async (): Promise<MeshNode> => {
      const c = await createMeshNode({ antiEntropyIntervalMs: 0 })
      clients.push(c)
      return c
    }
    const [a, b, c] = [await device(), await device(), await device()]
    for (const d of [a, b]) {
      await d.dial(tcp)
      await waitFor(() => d.peers.includes(peerId), { what: 'a sync session', timeout: 10_000 })
    }
    await assert.rejects(async () => {
      await c.dial(tcp)
      await waitFor(() => c.peers.includes(peerId), { what: 'the third device', timeout: 2000 })
    }, 'the third connection from one host is refused')
    await a.stop()
    // its connection closes with a FIN: the gateway frees its slot at once
    await new Promise(resolve => setTimeout(resolve, 300))
    await c.dial(tcp)
    await waitFor(() => c.peers.includes(peerId), { what: 'the third device, once one left', timeout: 10_000 })
  })
})
