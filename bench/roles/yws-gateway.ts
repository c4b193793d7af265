/**
 * A meshdoc gateway with its y-websocket endpoint on (`meshdoc gateway --yws`):
 * serves every doc a peer asks for, by key, with authorship and a write
 * quota as the CLI sets them, in-memory storage (as the y-websocket server it
 * is measured against keeps its docs), the bridge on 127.0.0.1. The clients
 * are `yws-client` roles: `WebsocketProvider`s with the bridge's URL.
 * Options: { limits }: the engine's per-peer limits (default: the gateway's).
 *
 *   info            { url }: the bridge's base URL (the room is appended by the provider)
 *   mark / report   CPU, RSS, socket bytes; the bridge's counters, and the
 *                   engine's refusals (a rate limit shows here), as deltas
 */
import { createMeshNode, type Limits } from '../../adapters/presets/node.js'
import { startYwsBridge } from '../../adapters/y-websocket/index.js'
import { UsageMeter } from './doc-commands.js'
import type { RoleFactory } from './types.js'

const sum = (counters: Record<string, number>): number => Object.values(counters).reduce((n, v) => n + v, 0)

const ywsGateway: RoleFactory = async (opts: { limits?: Partial<Limits> }) => {
  const node = await createMeshNode({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    serveAllDocs: true,
    // what `meshdoc gateway` sets by default (lib/cli/writers.ts)
    authorship: { relays: [] },
    quota: { maxBytes: 1 << 30, maxDocs: 10_000 },
    ...(opts.limits !== undefined ? { limits: opts.limits } : {})
  })
  const bridge = await startYwsBridge(node, { host: '127.0.0.1', port: 0 })
  const meter = new UsageMeter(() => {
    const b = bridge.stats
    return {
      messagesIn: b.messagesIn,
      messagesOut: b.messagesOut,
      bytesIn: b.bytesIn,
      bytesOut: b.bytesOut,
      writesAcknowledged: b.writesAcknowledged,
      socketsAccepted: b.connectionsAccepted,
      socketsClosed: sum(b.connectionsClosed),
      messagesRefused: sum(b.messagesRefused),
      rejected: sum(node.stats.rejected)
    }
  })
  return {
    info: { url: bridge.url, addrs: node.multiaddrs, peerId: node.peerId },
    handlers: {
      mark: async () => { await meter.mark() },
      report: async () => ({ ...await meter.report(), closedBy: bridge.stats.connectionsClosed, rejectedBy: node.stats.rejected })
    },
    close: async () => {
      await bridge.close()
      await node.stop()
    }
  }
}

export default ywsGateway
