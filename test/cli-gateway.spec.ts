/**
 * `meshdoc gateway` as an operator runs it: a separate process on 127.0.0.1,
 * synced with by a real meshdoc node in this process. SIGTERM flushes and
 * exits 0 and a restart on the same --data finds identity and documents;
 * /metrics is valid Prometheus text whose counters move; /status and
 * `meshdoc status` show the peers and documents.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { canListen, CliProcesses, freePort } from './helpers/cli-process.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { parsePrometheus, type Exposition } from './helpers/cli-prometheus.js'
import { waitFor } from './helpers/mesh-nodes.js'

describe('meshdoc gateway (separate process, 127.0.0.1)', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  let clients: MeshNode[] = []

  afterEach(async () => {
    const cs = clients
    clients = []
    await Promise.allSettled(cs.map(async c => { await c.stop() }))
    await cli.killAll()
  })

  async function client (opts: Parameters<typeof createMeshNode>[0] = {}): Promise<MeshNode> {
    const c = await createMeshNode({ antiEntropyIntervalMs: 0, ...opts })
    clients.push(c)
    return c
  }

  async function connect (c: MeshNode, addr: string, peerId: string): Promise<void> {
    await c.dial(addr)
    await waitFor(() => c.peers.includes(peerId), { what: 'a sync session with the gateway', timeout: 10_000 })
  }

  async function metrics (admin: string): Promise<Exposition> {
    const res = await fetch(`${admin}/metrics`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    return parsePrometheus(await res.text())
  }

  it('SIGTERM flushes, says BYE and exits 0; a restart on the same --data has the same PeerId and the data', async () => {
    const data = await cli.tempDir()
    const gw = cli.gateway(data)
    const { peerId, tcp, admin } = await gw.ready()

    const writer = await client()
    await connect(writer, tcp, peerId)
    const h = await writer.open('notes/sigterm')
    const body = h.doc.getText('body')
    body.insert(0, 'acknowledged before SIGTERM. ')
    await h.whenSynced({ timeout: 15_000 })

    // one more edit: SIGTERM as soon as the gateway has applied it, acknowledged or not
    const applied = async (): Promise<number> => ((await (await fetch(`${admin}/status`)).json()) as { stats: { updatesApplied: number } }).stats.updatesApplied
    const before = await applied()
    body.insert(body.length, 'sent right before SIGTERM.')
    const deadline = Date.now() + 10_000
    while (await applied() === before) {
      assert.ok(Date.now() < deadline, 'the gateway never applied the last edit')
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const disconnected = new Promise<void>(resolve => { writer.on('peer:disconnect', (p) => { if (p === peerId) resolve() }) })
    const exit = await gw.stop('SIGTERM')
    assert.deepEqual(exit, { code: 0, signal: null }, gw.stderr)
    assert.match(gw.stderr, /SIGTERM: flushing documents and saying goodbye to 1 peer\(s\)/)
    assert.match(gw.stderr, /meshdoc: stopped\n$/)
    assert.equal(gw.stdout, '', 'the gateway writes nothing to stdout')
    await disconnected

    const gw2 = cli.gateway(data)
    const again = await gw2.ready()
    assert.equal(again.peerId, peerId, 'the identity lives in --data')
    const reader = await client()
    await connect(reader, again.tcp, peerId)
    const r = await reader.open('notes/sigterm')
    await waitFor(() => r.doc.getText('body').toString() === 'acknowledged before SIGTERM. sent right before SIGTERM.', {
      what: 'the restarted gateway to serve both edits', timeout: 15_000
    })
    assert.deepEqual(await gw2.stop('SIGINT'), { code: 0, signal: null }, 'SIGINT stops it cleanly too')
  })

  it('/metrics is Prometheus text whose counters move with a sync; /healthz, /status and `meshdoc status` agree', async () => {
    const data = await cli.tempDir()
    // the client may only read `readonly/doc`: its writes there are refused and counted
    const clientKey = await generateKeyPair('Ed25519')
    const clientId = peerIdFromPrivateKey(clientKey).toString()
    const policy = join(data, 'policy.json')
    await writeFile(policy, JSON.stringify({ default: 'write', rules: [{ peers: [clientId], docs: 'readonly/doc', access: 'read' }] }))
    const gw = cli.gateway(join(data, 'gw'), ['--open', 'metrics/pinned', '--policy', policy])
    const { peerId, tcp, admin } = await gw.ready()

    const health = await fetch(`${admin}/healthz`)
    assert.equal(health.status, 200)
    assert.equal(await health.text(), 'ok\n')
    assert.equal((await fetch(`${admin}/nope`)).status, 404)

    const m0 = await metrics(admin)
    for (const [name, type] of Object.entries({
      meshdoc_frames_received_total: 'counter',
      meshdoc_bytes_received_total: 'counter',
      meshdoc_updates_applied_total: 'counter',
      meshdoc_updates_sent_total: 'counter',
      meshdoc_frames_rejected_total: 'counter',
      meshdoc_peers_connected: 'gauge',
      meshdoc_docs_open: 'gauge',
      meshdoc_docs_stored: 'gauge',
      meshdoc_doc_sync_lag_seconds: 'gauge',
      meshdoc_storage_commit_seconds: 'histogram',
      meshdoc_event_loop_delay_seconds: 'histogram',
      meshdoc_connections_open: 'gauge'
    })) assert.equal(m0.types.get(name), type, `${name} is a ${type}`)
    assert.equal(m0.value('meshdoc_frames_received_total'), 0)
    assert.equal(m0.value('meshdoc_peers_connected'), 0)
    assert.equal(m0.value('meshdoc_docs_open'), 1, 'the --open doc')
    assert.ok((m0.value('process_resident_memory_bytes') ?? 0) > 0, 'process metrics are there')

    const c = await client({ privateKey: clientKey })
    await connect(c, tcp, peerId)
    const pinned = await c.open('metrics/pinned')
    const served = await c.open('metrics/served')
    pinned.doc.getMap('m').set('k', 'v')
    served.doc.getArray('a').push([1, 2, 3])
    await Promise.all([pinned.whenSynced({ timeout: 15_000 }), served.whenSynced({ timeout: 15_000 })])
    const ro = await c.open('readonly/doc')
    ro.doc.getText('t').insert(0, 'refused')
    await waitFor(() => Object.keys(c.stats.rejected).length > 0 || ro.status.peers.length > 0, { what: 'the read-only doc to be answered', timeout: 10_000 })

    let m1 = await metrics(admin)
    const deadline = Date.now() + 10_000
    while ((m1.value('meshdoc_frames_rejected_total', { reason: 'forbidden' }) ?? 0) < 1 || (m1.value('meshdoc_docs_stored') ?? 0) < 2) {
      assert.ok(Date.now() < deadline, `forbidden write and stored docs never showed up:\n${JSON.stringify(m1.samples.filter(s => s.name.startsWith('meshdoc_')))}`)
      await new Promise(resolve => setTimeout(resolve, 200))
      m1 = await metrics(admin)
    }
    for (const name of ['meshdoc_frames_received_total', 'meshdoc_frames_sent_total', 'meshdoc_bytes_received_total', 'meshdoc_bytes_sent_total']) {
      assert.ok(m1.value(name)! > m0.value(name)!, `${name} moved (${m0.value(name)} -> ${m1.value(name)})`)
    }
    assert.ok(m1.value('meshdoc_updates_applied_total')! >= 2, 'both docs were written')
    assert.equal(m1.value('meshdoc_peers_connected'), 1)
    assert.equal(m1.value('meshdoc_connections_open'), 1, 'one libp2p connection: the client')
    // the event loop is sampled every 20 ms and every sample kept (not reset by a scrape)
    const loop0 = m0.value('meshdoc_event_loop_delay_seconds_count') ?? 0
    const loop1 = m1.value('meshdoc_event_loop_delay_seconds_count') ?? 0
    assert.ok(loop1 > loop0 && loop1 >= 10, `event-loop samples accumulate (${loop0} -> ${loop1})`)
    assert.equal(m1.value('meshdoc_event_loop_delay_seconds_bucket', { le: '+Inf' }), loop1)
    assert.ok(m1.value('meshdoc_docs_open')! >= 3, 'the pinned doc plus the ones served by key')
    const commits = m1.value('meshdoc_storage_commit_seconds_count', { op: 'save' })!
    assert.ok(commits >= 2, `storage commits were timed (${commits})`)
    assert.equal(m1.value('meshdoc_storage_commit_seconds_bucket', { op: 'save', le: '+Inf' }), commits)
    assert.equal(m1.value('meshdoc_doc_sync_lag_seconds', { doc: 'metrics/pinned' }), 0, 'the pinned doc is in sync')

    const status = await (await fetch(`${admin}/status`)).json() as { peerId: string, peers: string[], openDocs: Array<{ id: string, peers: number, lagSeconds: number }> }
    assert.equal(status.peerId, peerId)
    assert.deepEqual(status.peers, [clientId])
    assert.deepEqual(status.openDocs.find(d => d.id === 'metrics/pinned'), { id: 'metrics/pinned', peers: 1, unsyncedPeers: 0, lagSeconds: 0, saved: true })

    // /docs, as `meshdoc ls --json`: the doc the gateway opened by id is named, the one it serves by key is not
    const docs = await (await fetch(`${admin}/docs`)).json() as Array<{ id: string | null, key: string, bytes: number, changed: string }>
    assert.ok(docs.some(d => d.id === 'metrics/pinned' && d.bytes > 0), JSON.stringify(docs))
    const servedKey = docKeyHex(docKeyFor('metrics/served'))
    assert.ok(docs.some(d => d.id === null && d.key === servedKey && d.bytes > 0 && Date.parse(d.changed) > Date.now() - 120_000), JSON.stringify(docs))

    const human = await cli.run(['status', '--admin', admin.replace('http://', '')])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, new RegExp(`^gateway ${peerId}, up \\d+s$`, 'm'))
    assert.match(human.stdout, new RegExp(`^peers: 1\\n  ${clientId}$`, 'm'))
    assert.match(human.stdout, /^ {2}metrics\/pinned +1 +0 +0s +yes$/m)
    assert.match(human.stdout, /^rejected: forbidden \d+/m)

    const port = await freePort()
    const down = await cli.run(['status', '--admin', `127.0.0.1:${port}`])
    assert.equal(down.code, 1)
    assert.ok(down.stderr.includes(`cannot reach the gateway's admin port at http://127.0.0.1:${port}/status: ECONNREFUSED`), down.stderr)
  })

  it('`meshdoc status` reads an admin port that fetch refuses (one browsers block, such as 6000)', async () => {
    // ports the Fetch standard blocks, above 1024: fetch() rejects them, whatever listens there
    const blocked = [6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080, 5060, 5061, 4190, 4045, 3659, 2049]
    let port: number | undefined
    for (const p of blocked) if (await canListen(p)) { port = p; break }
    assert.ok(port !== undefined, 'every blocked port is taken on this machine')
    const data = await cli.tempDir()
    const gw = cli.gateway(join(data, 'gw'), ['--admin', `127.0.0.1:${port}`])
    const { peerId } = await gw.ready()
    await assert.rejects(fetch(`http://127.0.0.1:${port}/status`), 'fetch refuses the port')
    const status = await cli.run(['status', '--admin', `127.0.0.1:${port}`])
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, new RegExp(`^gateway ${peerId}, up `, 'm'))
    const json = await cli.run(['status', '--admin', `127.0.0.1:${port}`, '--json'])
    assert.equal(JSON.parse(json.stdout).peerId, peerId)
  })

  it('--allow and --mesh-key-file are applied: only listed peers connect, and only with the fleet key do docs match', async () => {
    const data = await cli.tempDir()
    const key = join(data, 'mesh.key')
    await writeFile(key, 'fleet secret\n')
    const allowedKey = await generateKeyPair('Ed25519')
    const allowedId = peerIdFromPrivateKey(allowedKey).toString()
    const gw = cli.gateway(join(data, 'gw'), ['--allow', allowedId, '--mesh-key-file', key])
    const { peerId, tcp } = await gw.ready()

    const stranger = await client()
    // the dialer's upgrade may finish before the gateway's gater refuses: dial() may resolve, the connection must not survive
    await stranger.dial(tcp).catch(() => {})
    await waitFor(() => stranger.libp2p.getConnections().length === 0, { what: 'the refused connection to close', timeout: 10_000 })
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.deepEqual(stranger.peers, [], 'a peer not on --allow gets no sync session')

    const member = await client({ privateKey: allowedKey, meshKey: 'fleet secret' })
    await connect(member, tcp, peerId)
    const h = await member.open('fleet/doc')
    h.doc.getText('t').insert(0, 'keyed')
    await h.whenSynced({ timeout: 15_000 })
    assert.deepEqual(await gw.stop('SIGTERM'), { code: 0, signal: null })

    const withKey = await cli.run(['export', 'fleet/doc', '--data', join(data, 'gw'), '--mesh-key-file', key])
    assert.equal(withKey.code, 0, withKey.stderr)
    assert.deepEqual(JSON.parse(withKey.stdout), { t: 'keyed' }, 'stored under the fleet key')
    const withoutKey = await runInProcess(['export', 'fleet/doc', '--data', join(data, 'gw')])
    assert.equal(withoutKey.code, 1, 'not found under the default key')
  })
})
