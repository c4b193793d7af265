/**
 * `meshdoc gateway --yws` as an operator runs it: a separate process whose
 * startup lines name the y-websocket URL; a real WebsocketProvider syncs
 * through it; /metrics and /status count the bridge; SIGTERM closes the
 * sockets (1001) and flushes, so what the provider wrote and the gateway
 * acknowledged is in --data after a restart. With --trust-owner, a token
 * from `meshdoc grant --bearer` lets a provider in; a plain grant does not.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import * as Y from 'yjs'
import { CloseCode } from '../adapters/y-websocket/index.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { CliProcesses } from './helpers/cli-process.js'
import { parsePrometheus } from './helpers/cli-prometheus.js'
import { waitFor } from './helpers/mesh-nodes.js'
import { YwsRig, type Closed } from './helpers/yws.js'

interface Status { yws?: { connectionsOpen: number, writesAcknowledged: number, messagesIn: number } }

describe('meshdoc gateway --yws (separate process, 127.0.0.1)', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  const rig = new YwsRig()
  afterEach(async () => {
    await rig.stopAll()
    await cli.killAll()
  })

  const status = async (admin: string): Promise<Status> => await (await fetch(`${admin}/status`)).json() as Status

  it('a provider syncs through the gateway; /metrics counts it; SIGTERM says 1001 and keeps what was acknowledged', async () => {
    const data = await cli.tempDir()
    const gw = cli.gateway(data, ['--yws', '127.0.0.1:0', '--yws-prefix', '/yjs'])
    const { admin } = await gw.ready()
    const url = (await gw.waitForStderr(/y-websocket (ws:\/\/127\.0\.0\.1:\d+\/yjs) /, 5000))[1]

    const doc = new Y.Doc()
    const p = rig.provider(url, 'notes/cli', doc)
    await waitFor(() => p.synced, { what: 'the provider to sync', timeout: 15_000 })
    // once the acknowledgements of the first exchange settle, the write's own is told apart
    let acked = 0
    for (let settled = 0; settled < 3;) {
      const now = (await status(admin)).yws?.writesAcknowledged ?? 0
      settled = now === acked ? settled + 1 : 0
      acked = now
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    doc.getText('t').insert(0, 'written through the gateway --yws')
    const deadline = Date.now() + 10_000
    while (((await status(admin)).yws?.writesAcknowledged ?? 0) <= acked) {
      assert.ok(Date.now() < deadline, 'the gateway never acknowledged the write')
      await new Promise(resolve => setTimeout(resolve, 20))
    }

    const m = parsePrometheus(await (await fetch(`${admin}/metrics`)).text())
    assert.equal(m.types.get('meshdoc_yws_connections_open'), 'gauge')
    assert.equal(m.types.get('meshdoc_yws_messages_received_total'), 'counter')
    assert.equal(m.types.get('meshdoc_yws_connections_refused_total'), 'counter')
    assert.equal(m.types.get('meshdoc_yws_updates_merged_total'), 'counter')
    assert.equal(m.types.get('meshdoc_yws_reads_paused_total'), 'counter')
    assert.equal(m.value('meshdoc_yws_connections_open'), 1)
    assert.ok((m.value('meshdoc_yws_writes_acknowledged_total') ?? 0) >= 1)
    assert.equal((await status(admin)).yws?.connectionsOpen, 1)

    const bye = new Promise<number | undefined>(resolve => { p.on('connection-close', (e: CloseEvent | null) => { resolve(e?.code) }) })
    assert.deepEqual(await gw.stop('SIGTERM'), { code: 0, signal: null }, gw.stderr)
    assert.equal(await bye, 1001, 'told to come back later')
    p.destroy()

    const gw2 = cli.gateway(data, ['--yws', '127.0.0.1:0', '--yws-prefix', '/yjs'])
    await gw2.ready()
    const url2 = (await gw2.waitForStderr(/y-websocket (ws:\/\/127\.0\.0\.1:\d+\/yjs) /, 5000))[1]
    const fresh = new Y.Doc()
    rig.provider(url2, 'notes/cli', fresh)
    await waitFor(() => fresh.getText('t').toString() === 'written through the gateway --yws', { what: 'the restarted gateway to serve the write', timeout: 15_000 })
    assert.deepEqual(await gw2.stop('SIGTERM'), { code: 0, signal: null })
  })

  it('with --trust-owner: a token from meshdoc grant --bearer syncs, bound to this gateway; a plain grant is refused (4401 not_bearer), counted', async () => {
    const data = await cli.tempDir()
    const ownerKey = join(data, 'owner.key')
    const owner = (await runInProcess(['keys', 'new', '--out', ownerKey])).stdout.trim()
    const gw = cli.gateway(join(data, 'gw'), ['--trust-owner', owner, '--yws', '127.0.0.1:0'])
    const { admin, peerId } = await gw.ready()
    const url = (await gw.waitForStderr(/y-websocket (ws:\/\/127\.0\.0\.1:\d+) /, 5000))[1]
    const issue = async (args: string[]): Promise<string> => {
      const r = await runInProcess(['grant', '--key', ownerKey, '--docs', 'notes/**', '--access', 'write', '--expires', '1h', ...args])
      assert.equal(r.code, 0, r.stderr)
      return r.stdout.trim()
    }
    const doc = new Y.Doc()
    const p = rig.provider(url, 'notes/bearer', doc, { token: await issue(['--bearer', '--gateway', peerId]) })
    await waitFor(() => p.synced, { what: 'the bearer token\'s client to sync', timeout: 15_000 })

    const plain = rig.provider(url, 'notes/bearer', new Y.Doc(), { token: await issue(['--to', owner]) })
    const refused = await new Promise<Closed>(resolve => { plain.on('closed', (e: Closed) => { resolve(e) }) })
    assert.equal(refused.code, CloseCode.UNAUTHORIZED)
    assert.match(refused.reason, /^not_bearer: /)
    const m = parsePrometheus(await (await fetch(`${admin}/metrics`)).text())
    assert.equal(m.value('meshdoc_yws_connections_refused_total', { reason: 'not_bearer' }), 1)
    assert.equal(m.value('meshdoc_yws_connections_open'), 1)
    assert.deepEqual(await gw.stop('SIGTERM'), { code: 0, signal: null })
  })

  it('--yws is off by default and checked like any flag', async () => {
    const data = await cli.tempDir()
    const gw = cli.gateway(data)
    await gw.ready()
    assert.doesNotMatch(gw.stderr, /y-websocket/)
    await gw.stop('SIGTERM')
    const bad = await cli.run(['gateway', '--data', data, '--yws', 'nope'])
    assert.equal(bad.code, 2, bad.stderr)
    assert.match(bad.stderr, /--yws must be HOST:PORT/)
    const help = await cli.run(['gateway', '--help'])
    assert.match(help.stdout, /--yws HOST:PORT/)
    assert.match(help.stdout, /--yws-prefix PATH/)
  })
})
