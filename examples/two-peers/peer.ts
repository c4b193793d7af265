/**
 * One peer of the two-peer demo. Run two of these in two terminals:
 *
 *   node --import tsx examples/two-peers/peer.ts --name alice --listen /ip4/127.0.0.1/tcp/4001
 *   node --import tsx examples/two-peers/peer.ts --name bob --dial <alice's multiaddr>
 *
 * Each peer appends a line to a shared Y.Array every second and prints the
 * document whenever it changes. Ctrl-C (SIGINT) or SIGTERM stops it cleanly.
 */
import { parseArgs } from 'node:util'
import { createMeshNode } from '../../adapters/presets/node.js'

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'peer' },
    listen: { type: 'string', multiple: true, default: [] },
    dial: { type: 'string', multiple: true, default: [] },
    doc: { type: 'string', default: 'demo/shopping-list' },
    lines: { type: 'string', default: '3' },
    'exit-when-seen': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (values.help) {
  console.log(`usage: peer.ts --name NAME [--listen MULTIADDR]... [--dial MULTIADDR]... [--doc ID] [--lines N] [--exit-when-seen N]
  Appends N lines to a shared list, one a second, prints the list as it changes.
  --exit-when-seen N   exit once the list holds N lines (used by demo.ts)`)
  process.exit(0)
}

const node = await createMeshNode({ listen: values.listen, bootstrap: values.dial })
for (const a of node.multiaddrs) console.log(`[${values.name}] listening on ${a}`)
node.on('peer:connect', (p) => { console.log(`[${values.name}] connected to ${p.slice(-8)}`) })

const handle = await node.open(values.doc)
const list = handle.doc.getArray<string>('items')
list.observe(() => {
  console.log(`[${values.name}] sees: ${JSON.stringify(list.toArray())}`)
  maybeExit()
})

let stopping = false
const stop = async (code = 0): Promise<void> => {
  if (stopping) return
  stopping = true
  await handle.flush()
  await node.stop()
  process.exitCode = code
}
process.once('SIGINT', () => { void stop() })
process.once('SIGTERM', () => { void stop() })

const target = values['exit-when-seen'] !== undefined ? Number(values['exit-when-seen']) : undefined
let written = 0
let exiting = false
function maybeExit (): void {
  if (exiting || target === undefined || written < Number(values.lines) || list.length < target) return
  exiting = true
  // let our last writes reach the other side before leaving
  handle.whenSynced({ timeout: 10_000 }).then(() => stop(0), (err: Error) => {
    console.error(`[${values.name}] not synced: ${err.message}`)
    void stop(1)
  })
}

const timer = setInterval(() => {
  if (written >= Number(values.lines) || stopping) { clearInterval(timer); maybeExit(); return }
  written++
  list.push([`${values.name} #${written}`])
}, 1000)
