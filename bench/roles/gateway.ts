/**
 * P6 / G2, the gateway's side: a meshdoc gateway as `meshdoc gateway` runs
 * one (serves every doc a peer asks for, by key), in-memory storage, on
 * 127.0.0.1. With `owners`, it checks grants (`trust.owners`): each device
 * must present one.
 *
 * Set for a fleet on one host: every device of the bench dials from
 * 127.0.0.1, where a real fleet's devices have addresses of their own, so
 * the per-host rate of inbound connections is lifted (the per-host share of
 * handshake slots, 4, is not: the fleet dials at most that many at once).
 * No anti-entropy timer, so that nothing but the devices' sessions runs.
 *
 *   mark / report   CPU, RSS, socket bytes, engine counters; with grants, the
 *                   size of the verified-token cache
 */
import { createMeshNode } from '../../adapters/presets/node.js'
import { UsageMeter } from './doc-commands.js'
import type { RoleFactory } from './types.js'

const gateway: RoleFactory = async (opts: { owners?: string[] }) => {
  const node = await createMeshNode({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    serveAllDocs: true,
    antiEntropyIntervalMs: 0,
    inboundConnectionThreshold: 1_000_000,
    inboundConnectionsPerHost: 1024,
    ...(opts.owners !== undefined ? { trust: { owners: opts.owners } } : {})
  })
  // the grant extension's cache of verified tokens (lib/grants/grant-exchange.ts, private): how warm a reconnect finds it
  const verifiedTokens = (): number => (node.grantsHere as unknown as { verified?: Map<string, unknown> } | undefined)?.verified?.size ?? 0
  const meter = new UsageMeter(() => {
    const s = node.stats
    const refused = Object.entries(s.rejected).filter(([k]) => k.startsWith('grant_')).reduce((n, [, v]) => n + v, 0)
    return { framesIn: s.framesIn, framesOut: s.framesOut, bytesIn: s.bytesIn, bytesOut: s.bytesOut, sessionsResumed: s.sessionsResumed, grantsRefused: refused }
  })
  return {
    info: { addrs: node.multiaddrs, peerId: node.peerId },
    handlers: {
      mark: async () => { await meter.mark() },
      report: async () => ({ ...await meter.report(), verifiedTokens: verifiedTokens(), servedDocs: node.servedDocCount, peers: node.peers.length })
    },
    close: async () => { await node.stop() }
  }
}

export default gateway
