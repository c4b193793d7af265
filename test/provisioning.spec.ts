/**
 * Device provisioning, as examples/iot-gateway and examples/sensor-device
 * document it, with the real programs: an owner key made by `meshdoc keys`,
 * a `meshdoc gateway` that trusts it (--trust-owner) and is never
 * reconfigured, sensor devices (examples/sensor-device/device.ts) whose ids
 * `meshdoc id` prints and whose grants `meshdoc grant` issues, and
 * `meshdoc revoke` for a lost device. What the gateway holds is read by a
 * dashboard node with a read grant, in this process.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMeshNode, issueGrant, type DocHandle, type MeshNode } from '../adapters/presets/node.js'
import { readingsOf } from '../examples/sensor-device/readings.js'
import { CliProcesses, REPO_ROOT, type GatewayProcess } from './helpers/cli-process.js'
import { waitFor } from './helpers/mesh-nodes.js'

const DEVICE = join(REPO_ROOT, 'examples', 'sensor-device', 'device.ts')

describe('provisioning: an owner key, device grants, a gateway that trusts the owner', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  let dashboard: MeshNode | undefined
  afterEach(async () => {
    await dashboard?.stop()
    dashboard = undefined
    await cli.killAll()
  })

  it('a granted device syncs, one without a grant gets nothing, the grant outlives a restart, and a revocation cuts the device', async () => {
    const dir = await cli.tempDir()
    const ownerKey = join(dir, 'owner.key')
    const devA = join(dir, 'dev-a')
    const ok = async (args: string[]): Promise<string> => {
      const r = await cli.run(args)
      assert.equal(r.code, 0, `meshdoc ${args.join(' ')}: ${r.stderr}`)
      return r.stdout.trim()
    }

    // the owner's key (made once, kept offline) and the id of a device to provision, before it ever runs
    const [ownerId, devAId] = await Promise.all([ok(['keys', 'new', '--out', ownerKey]), ok(['id', '--create', '--data', devA])])
    // the gateway trusts the owner: that is all it is told, now and later
    const gw = cli.gateway(join(dir, 'gateway'), ['--trust-owner', ownerId])
    const dashboardKey = await generateKeyPair('Ed25519')
    const grantTo = async (peer: string, docs: string[], access: 'read' | 'write'): Promise<string> =>
      await ok(['grant', '--key', ownerKey, '--to', peer, ...docs.flatMap(d => ['--docs', d]), '--access', access, '--expires', '1h'])
    const [grantA, dashboardGrant, { tcp, admin }] = await Promise.all([
      grantTo(devAId, ['sensors/dev-a', 'sensors/dev-a/**'], 'write'),
      grantTo(peerIdFromPrivateKey(dashboardKey).toString(), ['sensors/**'], 'read'),
      gw.ready()
    ])
    const grantFile = join(dir, 'dev-a.grant')
    await writeFile(grantFile, grantA + '\n')

    const device = (name: string, more: string[] = []): GatewayProcess =>
      cli.script(DEVICE, ['--name', name, '--data', join(dir, name), '--interval', '100', '--gateway', tcp, ...more])
    let a = device('dev-a', ['--grant-file', grantFile])
    const b = device('dev-b')
    assert.equal((await a.waitForOutput('stdout', /device (\S+):/))[1], devAId, 'the device runs under the id meshdoc id printed')
    await a.waitForOutput('stdout', /grant \w+ from (\S+): write on sensors\/dev-a /)

    dashboard = await createMeshNode({ privateKey: dashboardKey, grants: [dashboardGrant], antiEntropyIntervalMs: 0 })
    await dashboard.dial(tcp)
    const atGateway = async (name: string): Promise<DocHandle> => await dashboard!.open(`sensors/${name}`)
    const readingsAt = (h: DocHandle): number[] => readingsOf(h.doc).toArray().map(r => r.t)
    const seenA = await atGateway('dev-a')
    await waitFor(() => readingsAt(seenA).length >= 30, { what: "dev-a's readings at the gateway", timeout: 15_000 })

    // dev-b has no grant: connected, refused, recording offline; nothing of it reaches the gateway
    const gwId = /gateway (\S+) \(data/.exec(gw.stderr)![1]
    await b.waitForOutput('stdout', new RegExp(`refused by ${gwId}: unavailable`), 10_000)
    await b.waitForOutput('stdout', /offline: 10 ticks not yet stored by a gateway/, 10_000)
    assert.doesNotMatch(b.stdout, /synced:/)
    const seenB = await atGateway('dev-b')
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(readingsAt(seenB).length, 0, 'no reading of dev-b at the gateway')

    // dev-a restarts without --grant-file: the grant it was given is in its data directory
    assert.deepEqual(await a.stop('SIGTERM'), { code: 0, signal: null }, a.stderr)
    const restartedAt = Date.now()
    a = device('dev-a')
    await a.waitForOutput('stdout', /grant \w+ from \S+: write on sensors\/dev-a /)
    await waitFor(() => readingsAt(seenA).some(t => t > restartedAt + 500), { what: 'readings made after the restart at the gateway', timeout: 15_000 })

    // the device is lost: the owner revokes it at the gateway's admin port; the gateway's config is untouched
    const adminHostPort = admin.replace(/^http:\/\//, '')
    await ok(['revoke', '--key', ownerKey, devAId, '--admin', adminHostPort])
    const revokedAt = Date.now()
    await a.waitForOutput('stdout', new RegExp(`refused by ${gwId}: unavailable`), 10_000)
    // it goes on recording: ten more ticks (about a second) that the gateway must not take
    const offlineSoFar = [...a.stdout.matchAll(/offline: (\d+) ticks/g)].at(-1)?.[1] ?? '0'
    await a.waitForOutput('stdout', new RegExp(`offline: ${Number(offlineSoFar) + 10} ticks not yet stored`), 10_000)
    assert.ok(seenA.status.peers.some(p => p.peer === gwId), 'the dashboard is still in session with the gateway: it would see new readings')
    const late = readingsAt(seenA).filter(t => t > revokedAt)
    assert.deepEqual(late, [], 'no reading made after the revocation reaches the gateway')

    assert.deepEqual(await gw.stop('SIGTERM'), { code: 0, signal: null }, gw.stderr)
  })

  it("a device handed another device's grant (MESHDOC_GRANT) refuses to start, naming both PeerIds", async () => {
    const dir = await cli.tempDir()
    const owner = await generateKeyPair('Ed25519')
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const token = await issueGrant({ key: owner, audience: other, access: 'write', docs: ['sensors/dev-c'], expiresAt: Date.now() + 3_600_000 })
    const c = cli.script(DEVICE, ['--name', 'dev-c', '--data', join(dir, 'dev-c')], { env: { MESHDOC_GRANT: token } })
    assert.deepEqual(await c.exited, { code: 2, signal: null }, c.stderr)
    const self = (await cli.run(['id', '--data', join(dir, 'dev-c')])).stdout.trim()
    assert.match(c.stderr, new RegExp(`the grant is refused \\(wrong_audience\\): grant \\w+ is for ${other}, not this node \\(${self}\\)`))
  })
})
