/**
 * An existing Yjs app: a shared to-do list on a `WebsocketProvider` from the
 * `y-websocket` package, as it ran against `@y/websocket-server`. Joining a
 * meshdoc mesh changes one thing, the URL it is given:
 *
 *   node --import tsx examples/yjs-app-bridge/app.ts ws://127.0.0.1:1234 todo/shared
 *                                                    ^ meshdoc gateway --yws 127.0.0.1:1234
 *
 * It adds one item once synced, and prints the list and who is here on every
 * change. Nothing in this file knows about meshdoc (it imports yjs and
 * y-websocket only, and uses Node's own WebSocket, as a browser would).
 * SIGINT or SIGTERM disconnects and exits.
 */
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

const [url = 'ws://127.0.0.1:1234', room = 'todo/shared', item = `milk (from the y-websocket app, pid ${process.pid})`] = process.argv.slice(2)

const doc = new Y.Doc()
const provider = new WebsocketProvider(url, room, doc)
const todo = doc.getArray<string>('todo')

provider.awareness.setLocalStateField('user', { name: 'y-websocket app' })
provider.on('status', ({ status }: { status: string }) => { console.log(`provider: ${status} (${url}, room ${room})`) })
provider.once('sync', () => { todo.push([item]) })
todo.observe(() => { console.log(`todo: ${JSON.stringify(todo.toArray())}`) })
provider.awareness.on('change', () => {
  const here = [...provider.awareness.getStates().values()].map(s => (s as { user?: { name?: string } }).user?.name).filter(n => n !== undefined)
  console.log(`here: ${JSON.stringify(here.sort())}`)
})

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    provider.destroy()
    doc.destroy()
    process.exit(0)
  })
}
