/**
 * The sensor-device example: it records while no gateway is reachable, hands
 * everything over once `meshdoc gateway` comes up (bootstrap redial with
 * backoff), and its retention scheme keeps a week of readings bounded.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { simulate } from '../examples/sensor-device/measure-retention.js'
import { readingsOf, type Reading } from '../examples/sensor-device/readings.js'
import { CliProcesses, freePort, REPO_ROOT } from './helpers/cli-process.js'
import { waitFor } from './helpers/mesh-nodes.js'

const DEVICE = join(REPO_ROOT, 'examples', 'sensor-device', 'device.ts')

describe('examples/sensor-device', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  let reader: MeshNode | undefined
  afterEach(async () => {
    await reader?.stop()
    reader = undefined
    await cli.killAll()
  })

  it('records while the gateway is down and hands every offline reading over when it comes up', async () => {
    const dir = await cli.tempDir()
    const gwData = join(dir, 'gateway')
    const id = await cli.run(['id', '--create', '--data', gwData])
    assert.equal(id.code, 0, id.stderr)
    const gatewayId = id.stdout.trim()
    const port = await freePort()

    const device = cli.script(DEVICE, ['--name', 'dev-t', '--data', join(dir, 'device'), '--interval', '100', '--keep', '1000',
      '--gateway', `/ip4/127.0.0.1/tcp/${port}/p2p/${gatewayId}`])
    await device.waitForOutput('stdout', /offline: 10 ticks not yet stored by a gateway/, 30_000)
    const gatewayStarted = Date.now()

    const gw = cli.gateway(gwData, ['--listen', `/ip4/127.0.0.1/tcp/${port}`, '--ws-port', 'none'])
    const { tcp } = await gw.ready()
    // the device redials with backoff (at most ~16 s after a 30 s outage; here the outage is short)
    const synced = await device.waitForOutput('stdout', /synced: (\S+) stored everything, including (\d+) offline ticks/, 40_000)
    assert.equal(synced[1], gatewayId, 'it synced with the gateway')
    const offlineTicks = Number(synced[2])
    assert.ok(offlineTicks >= 10, `at least the 10 ticks seen offline (${offlineTicks})`)

    // read the gateway's copy from a third node: the offline readings are there
    reader = await createMeshNode({ antiEntropyIntervalMs: 0 })
    await reader.dial(tcp)
    const h = await reader.open('sensors/dev-t')
    const readings = (): Reading[] => readingsOf(h.doc).toArray()
    await waitFor(() => readings().filter(r => r.t < gatewayStarted).length >= 30, { what: 'the offline readings at the gateway', timeout: 15_000 })
    const sensors = new Set(readings().map(r => r.s))
    assert.deepEqual([...sensors].sort(), ['humidity', 'pressure', 'temperature'])
    assert.deepEqual(h.doc.getMap('device').toJSON(), { name: 'dev-t', sensors: ['temperature', 'humidity', 'pressure'], keep: 1000 })
    const ts = readings().map(r => r.t)
    assert.deepEqual(ts, [...ts].sort((a, b) => a - b), 'readings are in time order')

    assert.deepEqual(await device.stop('SIGTERM'), { code: 0, signal: null }, device.stderr)
    assert.deepEqual(await gw.stop('SIGTERM'), { code: 0, signal: null }, gw.stderr)
  })

  it('retention keeps a simulated week (3 sensors, one reading a minute, restart daily) bounded in memory and on disk', async () => {
    const keep = 500
    const days = await simulate({ days: 7, keep })
    const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
    for (const d of days) assert.equal(d.held, keep * 3, `day ${d.day}: the ring holds exactly keep × sensors readings`)
    const growth = days[6].v1 - days[1].v1
    assert.ok(Math.abs(growth) < 1024, `the document does not grow after the ring is full (day 2 ${kib(days[1].v1)}, day 7 ${kib(days[6].v1)})`)
    assert.ok(days[6].v1 < 64 * 1024, `a full ring of 1,500 readings is small (${kib(days[6].v1)})`)
    const maxDisk = Math.max(...days.map(d => d.disk))
    assert.ok(maxDisk < 512 * 1024, `the data directory stays bounded by compaction (max ${kib(maxDisk)})`)
  })
})
