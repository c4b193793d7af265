/**
 * The network side of a meshdoc node on libp2p, for `PlatformPreset.network`:
 * the sync transport (one link per peer, handed to the engine's `addPeer`),
 * the bootstrap keeper and the discovery dialer, on any libp2p node (the
 * preset's or the app's own). Shared by the Node and browser presets.
 */
import type { MeshNetwork, MeshNetworkInput } from '../../lib/mesh-node.js'
import { DiscoveryDialer } from './discovery-dialer.js'
import { KeepConnected } from './keep-connected.js'
import { Libp2pSyncTransport, type SyncTransportOptions } from './sync-transport.js'

/** `Discovery`: how discovered peers are dialed (the Node preset's AnswerDialer redials on every mDNS answer) */
export function libp2pNetwork ({ libp2p, options, addPeer, maxFrameBytes, onProgress, onRefused }: MeshNetworkInput, Link?: SyncTransportOptions['Link'], Discovery = DiscoveryDialer): MeshNetwork {
  const transport = new Libp2pSyncTransport(libp2p, addPeer, {
    maxFrameBytes,
    onProgress,
    onRefused: (peer, addr) => { onRefused({ reason: 'refused', addr, peer, message: 'closed by the peer before any sync' }) },
    Link
  })
  const keeper = new KeepConnected(libp2p, options.bootstrap ?? [], {
    ...options.bootstrapBackoff,
    onDialFailed: ({ addr, peer, message, retryInMs }) => { onRefused({ reason: 'unreachable', addr, ...(peer !== undefined ? { peer } : {}), message, retryInMs }) }
  })
  const discovery = new Discovery(libp2p)
  return {
    start: async () => {
      await transport.start()
      keeper.start()
      discovery.start()
    },
    redial: () => { keeper.redial() },
    stopDialing: () => {
      keeper.stop()
      discovery.stop()
    },
    stop: async () => { await transport.stop() }
  }
}
