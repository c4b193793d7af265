/**
 * A Node sensor device: records readings into its own document while it is
 * offline, and hands them to the gateway whenever it can reach it.
 *
 *   node --import tsx examples/sensor-device/device.ts --name dev-1 \
 *     --gateway /ip4/127.0.0.1/tcp/4001/p2p/<gateway PeerId>
 *
 * The gateway address is redialled with backoff (createMeshNode's bootstrap),
 * so the device may start long before the gateway does. Readings survive a
 * device restart (fs storage in --data); the document stays bounded (see
 * readings.ts). SIGINT or SIGTERM flushes and stops.
 */
import { hostname } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { FsStorageAdapter } from '../../adapters/fs-storage/index.js'
import { createMeshNode } from '../../adapters/presets/node.js'
import { describe as describeDevice, readingsOf, record, simulatedValue, type Reading } from './readings.js'

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: hostname().split('.')[0] },
    data: { type: 'string' },
    gateway: { type: 'string', multiple: true, default: [] },
    sensors: { type: 'string', default: 'temperature,humidity,pressure' },
    interval: { type: 'string', default: '1000' },
    keep: { type: 'string', default: '1000' },
    count: { type: 'string' },
    'exit-when-synced': { type: 'boolean', default: false },
    'mesh-key': { type: 'string', default: process.env.MESHDOC_MESH_KEY },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (values.help) {
  console.log(`usage: device.ts [--name ID] [--gateway MULTIADDR]... [options]
  Records simulated sensor readings into doc sensors/<ID> and syncs them to the gateway(s).
  --name ID            device id (default: the host name); the doc is sensors/<ID>
  --data DIR           where readings and the device identity live (default .tmp/sensor-<ID>)
  --gateway MULTIADDR  gateway to sync with, redialled with backoff (repeatable)
  --sensors A,B,C      sensor names (default temperature,humidity,pressure)
  --interval MS        one reading per sensor every MS (default 1000)
  --keep N             keep the last N readings per sensor (default 1000)
  --count N            stop recording after N ticks
  --exit-when-synced   with --count: exit once a gateway has stored every reading
  --mesh-key SECRET    the fleet's mesh key (or MESHDOC_MESH_KEY)`)
  process.exit(0)
}

const name = values.name
const sensors = values.sensors.split(',').map(s => s.trim()).filter(s => s.length > 0)
const interval = Number(values.interval)
const keep = Number(values.keep)
const count = values.count !== undefined ? Number(values.count) : Infinity
if (!(interval > 0) || !(keep > 0) || !(count > 0) || sensors.length === 0) {
  console.error('device: --interval, --keep and --count must be positive numbers, --sensors non-empty')
  process.exit(2)
}
const dataDir = values.data ?? join('.tmp', `sensor-${name}`)
const say = (line: string): void => { console.log(`[${name}] ${line}`) }

// same layout as `meshdoc --data`: the identity key lives in the store
const node = await createMeshNode({
  storage: new FsStorageAdapter(join(dataDir, 'docs')),
  privateKey: 'storage',
  bootstrap: values.gateway,
  ...(values['mesh-key'] !== undefined ? { meshKey: values['mesh-key'] } : {})
})
const handle = await node.open(`sensors/${name}`)
const doc = handle.doc
describeDevice(doc, { name, sensors, keep })
say(`device ${node.peerId}: ${readingsOf(doc).length} readings stored; recording ${sensors.join(', ')} every ${interval} ms, keeping ${keep} per sensor`)

node.on('peer:connect', (p) => { say(`connected to ${p}`) })
node.on('peer:disconnect', (p) => { say(`disconnected from ${p}`) })

let ticks = 0
/** ticks recorded while no gateway was connected, not yet acknowledged */
let offline = 0
let stopping = false

const tick = (): void => {
  if (ticks >= count) return
  ticks++
  const t = Date.now()
  record(doc, sensors.map((s): Reading => ({ s, t, v: simulatedValue(s, t) })), keep, sensors.length)
  if (node.peers.length === 0) {
    offline++
    if (offline % 5 === 0) say(`offline: ${offline} ticks not yet stored by a gateway`)
  }
  if (ticks >= count) clearInterval(timer)
}
const timer = setInterval(tick, interval)
tick()

// the gateway acknowledges only what it has stored: report when it has caught up after offline time
handle.on('status', (s) => {
  if (!s.synced) return
  if (offline > 0) {
    say(`synced: ${s.peers.map(p => p.peer).join(', ')} stored everything, including ${offline} offline ticks (${readingsOf(doc).length} readings held)`)
    offline = 0
  }
  if (values['exit-when-synced'] && ticks >= count) void stop(0)
})

async function stop (code: number): Promise<void> {
  if (stopping) return
  stopping = true
  clearInterval(timer)
  await handle.flush()
  await node.stop()
  say('stopped')
  process.exitCode = code
}
process.once('SIGINT', () => { void stop(0) })
process.once('SIGTERM', () => { void stop(0) })
