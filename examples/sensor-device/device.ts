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
 *
 * Provisioning (README.md): a gateway that trusts an owner key serves only
 * peers holding a grant from it. The device prints its PeerId at start; the
 * owner issues a grant to it (`meshdoc grant`), and the device takes it once
 * with `--grant-file FILE` (or MESHDOC_GRANT=token). The grant is kept in
 * --data, so later starts need no flag.
 */
import { existsSync, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { FsStorageAdapter } from '../../adapters/fs-storage/index.js'
import { createMeshNode, GrantError, type Grant, type MeshNode } from '../../adapters/presets/node.js'
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
    'grant-file': { type: 'string', multiple: true, default: [] },
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
  --mesh-key SECRET    the fleet's mesh key (or MESHDOC_MESH_KEY)
  --grant-file FILE    grants to this device (meshdoc grant … --to <its PeerId>), one a line,
                       or MESHDOC_GRANT=token; kept in --data, so later starts need neither (repeatable)`)
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
const grants = grantTokens(values['grant-file'], process.env.MESHDOC_GRANT)

// the layout of `meshdoc --data DIR`, so `meshdoc id --data DIR` prints this device's PeerId
// (a directory made by an earlier version of this example has its store in docs/)
const legacy = join(dataDir, 'docs')
const storeDir = existsSync(join(legacy, 'meshdoc-fs.json')) ? legacy : dataDir
let node: MeshNode
try {
  node = await createMeshNode({
    storage: new FsStorageAdapter(storeDir),
    privateKey: 'storage',
    bootstrap: values.gateway,
    // presented to every gateway that checks grants, and kept in storage
    grants,
    ...(values['mesh-key'] !== undefined ? { meshKey: values['mesh-key'] } : {})
  })
} catch (err) {
  if (!(err instanceof GrantError)) throw err
  console.error(`device: the grant is refused (${err.reason}): ${err.message}`)
  process.exit(2)
}
const handle = await node.open(`sensors/${name}`)
const doc = handle.doc
describeDevice(doc, { name, sensors, keep })
say(`device ${node.peerId}: ${readingsOf(doc).length} readings stored; recording ${sensors.join(', ')} every ${interval} ms, keeping ${keep} per sensor`)
for (const g of node.grants) say(`grant ${describeGrant(g)}`)
if (node.grants.length === 0) say(`no grant: gateways that check grants (--trust-owner) refuse it until the owner runs meshdoc grant --to ${node.peerId}`)

node.on('peer:connect', (p) => { say(`connected to ${p}`) })
node.on('peer:disconnect', (p) => { say(`disconnected from ${p}`) })
// a peer that refuses the doc, said once per peer and reason: `unavailable` from a gateway that checks
// grants is one where this device holds none valid for the doc (none given, expired, or revoked)
const refusals = new Set<string>()
handle.on('denied', (peer, reason) => {
  if (refusals.has(`${peer} ${reason}`)) return
  refusals.add(`${peer} ${reason}`)
  say(`refused by ${peer}: ${reason}`)
})

let ticks = 0
/** ticks recorded while no gateway held the doc in a session, not yet acknowledged */
let offline = 0
let stopping = false

const tick = (): void => {
  if (ticks >= count) return
  ticks++
  const t = Date.now()
  record(doc, sensors.map((s): Reading => ({ s, t, v: simulatedValue(s, t) })), keep, sensors.length)
  // offline: no gateway holds the doc in a session (none reachable, or none serves it to this device)
  if (handle.status.peers.length === 0) {
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

/** The grants in each --grant-file (one a line, blank lines and # comments skipped, as `meshdoc gateway --grant-file` reads them) and in MESHDOC_GRANT. */
function grantTokens (files: string[], env: string | undefined): string[] {
  const lines: string[] = []
  for (const file of files) {
    try {
      lines.push(...readFileSync(file, 'utf8').split('\n'))
    } catch (err) {
      console.error(`device: cannot read --grant-file ${file}: ${(err as { code?: string }).code ?? (err as Error).message}`)
      process.exit(2)
    }
  }
  if (env !== undefined) lines.push(env)
  return lines.map(l => l.trim()).filter(l => l.length > 0 && !l.startsWith('#'))
}

function describeGrant (g: Grant): string {
  return `${g.id} from ${g.issuer}: ${g.access} on ${g.docs.join(' ')} until ${new Date(g.expiresAt).toISOString()}`
}
