/**
 * meshdoc/adapters/y-websocket: a y-websocket endpoint on a meshdoc node, so
 * an unchanged `WebsocketProvider` (the `y-websocket` package) joins the
 * mesh. Node only (it listens with `node:http` and `ws`).
 *
 * ```ts
 * import { createMeshNode } from 'meshdoc'
 * import { startYwsBridge } from 'meshdoc/adapters/y-websocket'
 * const node = await createMeshNode({ serveAllDocs: true, listen: ['/ip4/0.0.0.0/tcp/4001'] })
 * const bridge = await startYwsBridge(node, { host: '0.0.0.0', port: 1234 })
 * // a browser: new WebsocketProvider('ws://gateway:1234', 'notes/plan', doc)
 * ```
 *
 * `meshdoc gateway --yws HOST:PORT` runs one. docs/PROTOCOL.md, "The
 * y-websocket bridge", says how the two protocols map.
 */
export { startYwsBridge } from './server.js'
export { CloseCode } from './messages.js'
export type { YwsBridge, YwsBridgeNode, YwsBridgeOptions, YwsBridgeStats, BearerGrants } from '../../lib/yws-bridge.js'
