/**
 * A meshdoc device on the y-websocket app's doc: a Node peer that reaches the
 * gateway over libp2p (TCP, Noise, yamux), not over y-websocket. The app's
 * room is the doc id, so it opens `todo/shared` and sees the same list.
 *
 *   node --import tsx examples/yjs-app-bridge/device.ts /ip4/127.0.0.1/tcp/4001/p2p/<gateway PeerId> todo/shared
 *
 * It adds one item at once (offline first: it is saved before any gateway is
 * reached), prints the list and who is here on every change, and says when
 * the gateway has stored its edits. SIGINT or SIGTERM flushes and stops.
 */
import { createMeshNode } from '../../adapters/presets/node.js'

const [gateway, docId = 'todo/shared', item = `eggs (from the meshdoc device, pid ${process.pid})`] = process.argv.slice(2)
if (gateway === undefined) {
  console.error('usage: device.ts GATEWAY_MULTIADDR [DOC] [ITEM]   (the multiaddr `meshdoc gateway` prints: listening on /ip4/…/p2p/…)')
  process.exit(2)
}

const node = await createMeshNode({ bootstrap: [gateway] })
const h = await node.open(docId)
const todo = h.doc.getArray<string>('todo')

h.awareness.setLocalStateField('user', { name: 'meshdoc device' })
todo.observe(() => { console.log(`todo: ${JSON.stringify(todo.toArray())}`) })
h.awareness.on('change', () => {
  const here = [...h.awareness.getStates().values()].map(s => (s as { user?: { name?: string } }).user?.name).filter(n => n !== undefined)
  console.log(`here: ${JSON.stringify(here.sort())}`)
})
let stored = false
h.on('status', (s) => {
  if (s.synced === stored) return
  stored = s.synced
  if (stored) console.log(`device ${node.peerId}: the gateway stored everything`)
})
todo.push([item])

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void node.stop().finally(() => { process.exit(0) })
  })
}
