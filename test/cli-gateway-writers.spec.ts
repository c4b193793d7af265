/**
 * `meshdoc gateway` and its writers (issue 13): the quota and authorship
 * flags are in --help and checked before anything starts; a gateway started
 * with a small quota refuses a writer past it (and says so in /status and
 * /metrics) while the writer stays connected; and authorship is on by
 * default, so a forgery under a clientID learned from presence is refused
 * instead of being forwarded to everyone.
 */
import assert from 'node:assert/strict'
import { createMeshNode, type DocHandle, type MeshNode } from '../adapters/presets/node.js'
import { CliProcesses } from './helpers/cli-process.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { parsePrometheus } from './helpers/cli-prometheus.js'
import { waitFor } from './helpers/mesh-nodes.js'

describe('meshdoc gateway: writers (quotas, authorship)', function () {
  this.timeout(60_000)
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

  async function connect (c: MeshNode, addr: string, peerId: string): Promise<void> {
    await c.dial(addr)
    await waitFor(() => c.peers.includes(peerId), { what: 'a sync session with the gateway', timeout: 10_000 })
  }

  async function rejected (admin: string): Promise<Record<string, number>> {
    return ((await (await fetch(`${admin}/status`)).json()) as { stats: { rejected: Record<string, number> } }).stats.rejected
  }

  const refusal = async (h: DocHandle, peer: string): Promise<string> =>
    await new Promise(resolve => { h.on('denied', (p, reason) => { if (p === peer) resolve(reason) }) })

  it('--help lists the quota and authorship flags with their defaults; a bad quota is a usage error (exit 2)', async () => {
    const help = await runInProcess(['gateway', '--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /--quota-bytes SIZE .*\[default: 1GiB; env MESHDOC_QUOTA_BYTES\]/)
    assert.match(help.stdout, /--quota-docs N .*\[default: 10000; env MESHDOC_QUOTA_DOCS\]/)
    assert.match(help.stdout, /--no-authorship /)
    assert.match(help.stdout, /--authorship-relay PEERID .*repeatable/)
    const dir = await cli.tempDir()
    for (const [flag, value] of [['--quota-bytes', 'lots'], ['--quota-bytes', '0'], ['--quota-docs', '1.5'], ['--quota-docs', 'many']]) {
      const bad = await runInProcess(['gateway', '--data', dir, '--admin', 'none', flag, value])
      assert.equal(bad.code, 2, `${flag} ${value}: ${bad.stderr}`)
      assert.match(bad.stderr, new RegExp(`${flag} must be`))
    }
  })

  it('a gateway started with a small quota refuses a writer past it, counts it, and keeps the writer connected', async () => {
    const gw = cli.gateway(await cli.tempDir(), ['--quota-bytes', '16KiB', '--quota-docs', '2'])
    const { peerId, tcp, admin } = await gw.ready()
    const writer = await client()
    await connect(writer, tcp, peerId)

    const a = await writer.open('notes/a')
    a.doc.getText('t').insert(0, 'first doc')
    await a.whenSynced({ peer: peerId, timeout: 10_000 })
    const b = await writer.open('notes/b')
    b.doc.getText('t').insert(0, 'second doc')
    await b.whenSynced({ peer: peerId, timeout: 10_000 })
    const c = await writer.open('notes/c')
    const docRefused = refusal(c, peerId)
    c.doc.getText('t').insert(0, 'a third doc is one too many')
    assert.equal(await docRefused, 'quota_exceeded')

    const bytesRefused = refusal(a, peerId)
    a.doc.getText('t').insert(0, 'x'.repeat(20 * 1024))
    assert.equal(await bytesRefused, 'quota_exceeded')
    await waitFor(() => writer.peers.includes(peerId), { what: 'the writer still connected' })
    assert.ok((await rejected(admin)).quota_exceeded >= 2)
    const m = parsePrometheus(await (await fetch(`${admin}/metrics`)).text())
    assert.ok((m.value('meshdoc_frames_rejected_total', { reason: 'quota_exceeded' }) ?? 0) >= 2)

    // the refused writer still reads what others write
    const reader = await client()
    await connect(reader, tcp, peerId)
    const ra = await reader.open('notes/a')
    await waitFor(() => ra.doc.getText('t').toString() === 'first doc', { what: 'the stored doc to reach a reader' })
    ra.doc.getMap('m').set('seen', true)
    await waitFor(() => a.doc.getMap('m').get('seen') === true, { what: 'the refused writer to read on' })
  })

  it('authorship is on by default: a forgery under a clientID learned from presence is refused, not forwarded', async () => {
    const gw = cli.gateway(await cli.tempDir())
    const { peerId, tcp, admin } = await gw.ready()
    const device = await client()
    const mallory = await client()
    await connect(device, tcp, peerId)
    await connect(mallory, tcp, peerId)
    const hd = await device.open('shared/doc')
    hd.awareness.setLocalStateField('user', 'device')
    await hd.whenSynced({ peer: peerId, timeout: 10_000 })
    const hm = await mallory.open('shared/doc')
    const owner = hd.doc.clientID
    await waitFor(() => hm.awareness.getStates().has(owner), { what: "the device's presence to reach mallory through the gateway" })

    const forged = refusal(hm, peerId)
    hm.doc.clientID = owner
    hm.doc.getText('t').insert(0, 'FORGED')
    assert.equal(await forged, 'authorship')
    assert.ok((await rejected(admin)).forged_author >= 1)
    assert.ok(mallory.peers.includes(peerId), 'a refused forgery does not close the link')

    hd.doc.getText('t').insert(0, 'typed by its owner')
    await hd.whenSynced({ peer: peerId, timeout: 10_000 })
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(hd.doc.getText('t').toString(), 'typed by its owner', 'the forgery never reached the device')
  })
})
