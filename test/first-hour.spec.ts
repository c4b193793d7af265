/**
 * The first hour, as the README walks a newcomer through it: `meshdoc init`
 * for a gateway and three devices, access rules by exact doc id, the gateway
 * started from its config (a real process), two sensors that record while it
 * is down, a read-only dashboard that can tell it is up to date, and a
 * stranger that is told it was refused. Nothing may fail silently.
 */
import assert from 'node:assert/strict'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createMeshNode, loadOrCreateIdentity, DeniedError, type MeshNode, type PeerRefusal } from '../adapters/presets/node.js'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { CliProcesses } from './helpers/cli-process.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { waitFor } from './helpers/mesh-nodes.js'

describe('the first hour: a gateway, two sensors, a read-only dashboard, access rules', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  const nodes: MeshNode[] = []
  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() }))
    await cli.killAll()
  })

  /** a device as the README shows it: its init'ed directory, its identity, the gateway to stay connected to */
  async function device (dir: string, gateway: string): Promise<MeshNode> {
    const storage = new FsStorageAdapter(dir)
    const node = await createMeshNode({ storage, privateKey: await loadOrCreateIdentity(storage), bootstrap: [gateway], bootstrapBackoff: { minDelayMs: 200, maxDelayMs: 1000 } })
    nodes.push(node)
    return node
  }

  it('works end to end, and every refusal is visible', async () => {
    const root = await cli.tempDir()
    const at = (name: string): string => join(root, name)
    const id = async (args: string[]): Promise<string> => {
      const r = await runInProcess(args)
      assert.equal(r.code, 0, r.stderr)
      return /^(?:gateway|device) (12D3KooW\S+)$/m.exec(r.stdout)![1]
    }
    const gwId = await id(['init', '--data', at('gw')])
    const [aId, bId, dashId] = await Promise.all(['dev-a', 'dev-b', 'dash'].map(async d => await id(['init', 'device', '--data', at(d)])))

    // access: each sensor writes its own doc, the dashboard reads both; only these three may connect
    await writeFile(at('gw/policy.json'), JSON.stringify({
      default: 'none',
      rules: [
        { peers: [aId], docs: 'sensors/dev-a', access: 'write' },
        { peers: [bId], docs: 'sensors/dev-b', access: 'write' },
        { peers: [dashId], docs: ['sensors/dev-a', 'sensors/dev-b'], access: 'read' }
      ]
    }))
    const config = JSON.parse(await readFile(at('gw/gateway.json'), 'utf8')) as Record<string, unknown>
    await writeFile(at('gw/gateway.json'), JSON.stringify({ ...config, allow: [aId, bId, dashId] }))

    // the gateway's address is known before it runs: its id, and a port of our choosing
    const gw = cli.gateway(at('gw'), ['--config', at('gw/gateway.json')])
    const { tcp } = await gw.ready()
    assert.ok(tcp.endsWith(`/p2p/${gwId}`))
    assert.doesNotMatch(gw.stderr, /warning/, 'exact doc ids match on a gateway serving by key: no warning')
    const port = /\/tcp\/(\d+)\//.exec(tcp)![1]
    await gw.stop('SIGTERM')

    // the sensors record while the gateway is down, and are told they cannot reach it
    const a = await device(at('dev-a'), tcp)
    const b = await device(at('dev-b'), tcp)
    const unreachable: PeerRefusal[] = []
    a.on('peer:refused', r => { unreachable.push(r) })
    const docA = await a.open('sensors/dev-a')
    const docB = await b.open('sensors/dev-b')
    for (let i = 0; i < 5; i++) {
      docA.doc.getArray('readings').push([{ t: i, celsius: 20 + i }])
      docB.doc.getArray('readings').push([{ t: i, celsius: 10 + i }])
    }
    await Promise.all([docA.flush(), docB.flush()])
    await waitFor(() => unreachable.length > 0, { what: 'a peer:refused event while the gateway is down' })
    assert.equal(unreachable[0].reason, 'unreachable')
    assert.equal(unreachable[0].peer, gwId)

    // the gateway comes up at the same address: both sensors hand everything over
    const gw2 = cli.gatewayAt(at('gw'), { tcp: Number(port), ws: 0 }, ['--config', at('gw/gateway.json')])
    const { admin } = await gw2.ready()
    await Promise.all([docA.whenSynced({ peer: gwId, timeout: 20_000 }), docB.whenSynced({ peer: gwId, timeout: 20_000 })])

    // the dashboard reads both, and can tell it is up to date
    const dash = await device(at('dash'), tcp)
    const seenA = await dash.open('sensors/dev-a')
    const seenB = await dash.open('sensors/dev-b')
    await Promise.all([seenA.whenSynced({ timeout: 10_000 }), seenB.whenSynced({ timeout: 10_000 })])
    assert.equal(seenA.doc.getArray('readings').length, 5)
    assert.deepEqual(seenB.doc.getArray('readings').get(4), { t: 4, celsius: 14 })
    assert.equal(seenA.status.synced, true)
    // its write is refused, with a named reason, at once
    seenA.doc.getArray('readings').push([{ t: 99, celsius: -1 }])
    const err = await seenA.whenSynced({ timeout: 10_000 }).then(() => undefined, (e: unknown) => e)
    assert.ok(err instanceof DeniedError, String(err))
    assert.equal(err.reason, 'read_only')
    // as the README says: that edit stays, and the way back is to drop the doc's directory (the identity stays)
    assert.equal(await seenA.whenSynced({ timeout: 10_000 }).then(() => 'synced', (e: Error) => e.name), 'DeniedError', 'still refused')
    await dash.stop()
    nodes.splice(nodes.indexOf(dash), 1)
    await rm(join(at('dash'), docKeyHex(docKeyFor('sensors/dev-a'))), { recursive: true })
    const dash2 = await device(at('dash'), tcp)
    assert.equal(dash2.peerId, dashId, 'the same identity')
    const again = await dash2.open('sensors/dev-a')
    await again.whenSynced({ timeout: 10_000 })
    assert.equal(again.doc.getArray('readings').length, 5, 'the gateway\'s readings, without the refused one')

    // a stranger is refused at connection time: it hears of it, the gateway counts it
    const stranger = await createMeshNode({ bootstrap: [tcp] })
    nodes.push(stranger)
    const refused = await new Promise<PeerRefusal>(resolve => { stranger.on('peer:refused', resolve) })
    assert.equal(refused.reason, 'refused')
    assert.equal(refused.peer, gwId)
    const notAllowed = /meshdoc_frames_rejected_total\{reason="not_allowed"\} [1-9]/
    for (let tries = 0; !notAllowed.test(await (await fetch(`${admin}/metrics`)).text()); tries++) {
      assert.ok(tries < 50, 'the gateway counts the refusal as not_allowed in /metrics')
      await new Promise(resolve => setTimeout(resolve, 100))
    }

    // what the gateway holds, and a sensor's doc out of it by id
    const ls = await runInProcess(['ls', '--data', at('gw'), '--json'])
    assert.equal((JSON.parse(ls.stdout) as unknown[]).length, 2, ls.stdout)
    const exported = await runInProcess(['export', 'sensors/dev-b', '--data', at('gw')])
    assert.equal(exported.code, 0, exported.stderr)
    assert.equal((JSON.parse(exported.stdout) as { readings: unknown[] }).readings.length, 5)
  })
})
