/**
 * The default libp2p stack for a Node meshdoc node: TCP and WebSockets,
 * always Noise, yamux. Membership guards: an optional allow-list of PeerIds
 * (enforced by the connection gater, for every transport) and an optional
 * swarm key (libp2p pnet: an extra layer only, see docs/SECURITY.md).
 */
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import type { Libp2pPreset } from '../../lib/mesh-node.js'
import { allowListGater } from './allow-list.js'
import { servePeerExchange } from './peer-exchange.js'
import { meshNoise, meshYamux } from './tuning.js'

export interface DefaultLibp2pOptions {
  listen?: string[]
  privateKey?: PrivateKey
  /** only these PeerIds may connect, or be dialled (in or out, every transport) */
  allowPeers?: string[]
  /** a libp2p pnet swarm key (the `/key/swarm/psk/1.0.0/` text file's bytes) */
  swarmKey?: Uint8Array
  /** inbound connections per second accepted from one host (default 20: devices behind one NAT share a host) */
  inboundConnectionThreshold?: number
  /** find peers on the LAN with mDNS (a serviceTag keeps separate fleets apart) */
  mdns?: boolean | { serviceTag?: string, intervalMs?: number }
  /** run a circuit-relay v2 server, so peers that cannot reach each other (browsers) can via us */
  relayServer?: boolean
}

export async function createDefaultLibp2p (opts: DefaultLibp2pOptions = {}): Promise<Libp2p> {
  return await createLibp2p({
    ...(opts.privateKey !== undefined ? { privateKey: opts.privateKey } : {}),
    addresses: { listen: opts.listen ?? [] },
    transports: [tcp(), webSockets()],
    // Noise and yamux, tuned for many small frames (see tuning.ts)
    connectionEncrypters: [meshNoise()],
    streamMuxers: [meshYamux()],
    ...(opts.allowPeers !== undefined ? { connectionGater: allowListGater(opts.allowPeers) } : {}),
    ...(opts.swarmKey !== undefined ? { connectionProtector: preSharedKey({ psk: opts.swarmKey }) } : {}),
    ...(opts.mdns !== undefined && opts.mdns !== false
      ? { peerDiscovery: [mdns(typeof opts.mdns === 'object' ? { ...(opts.mdns.serviceTag !== undefined ? { serviceTag: opts.mdns.serviceTag } : {}), ...(opts.mdns.intervalMs !== undefined ? { interval: opts.mdns.intervalMs } : {}) } : {})] }
      : {}),
    services: {
      ...(opts.relayServer === true ? { identify: identify(), relay: circuitRelayServer() } : {})
    },
    connectionManager: {
      maxConnections: 1024,
      inboundConnectionThreshold: opts.inboundConnectionThreshold ?? 20,
      maxIncomingPendingConnections: 16
    }
  })
}

/**
 * The libp2p of the Node preset (adapters/presets/node.ts): maps its
 * options onto `createDefaultLibp2p`; a relay also answers peer exchange
 * (unless `peerExchange: false`), so the browsers it relays for find each
 * other.
 */
export const nodeLibp2pPreset: Libp2pPreset = async ({ options: opts, privateKey, swarmKey }) => {
  const libp2p = await createDefaultLibp2p({
    ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(opts.allowPeers !== undefined ? { allowPeers: opts.allowPeers } : {}),
    ...(swarmKey !== undefined ? { swarmKey } : {}),
    ...(opts.mdns !== undefined ? { mdns: opts.mdns } : {}),
    ...(opts.relay === true ? { relayServer: true } : {}),
    ...(opts.inboundConnectionThreshold !== undefined ? { inboundConnectionThreshold: opts.inboundConnectionThreshold } : {})
  })
  const relay = (libp2p.services as { relay?: CircuitRelayService }).relay
  if (relay !== undefined && opts.peerExchange !== false) await servePeerExchange(libp2p, relay)
  return libp2p
}
