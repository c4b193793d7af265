/**
 * The libp2p stack of a browser meshdoc node:
 * - WebSockets to gateways (ws:// on a LAN or localhost, wss:// elsewhere:
 *   browsers block ws:// from https pages);
 * - WebRTC to other browsers, set up through a circuit-relay hop on a gateway
 *   (`meshdoc gateway` runs the relay server) and then direct;
 * - Noise on every WebSockets and relayed connection; a WebRTC connection is
 *   DTLS-encrypted, and the remote PeerId is proven in a Noise handshake over
 *   the connection itself (@libp2p/webrtc);
 * - identify, so the node learns which gateways offer a relay.
 * No Node built-ins anywhere in this graph.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p } from '@libp2p/interface'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import type { Libp2pPreset } from '../../lib/mesh-node.js'
import { allowListGater } from './allow-list.js'
import { browserNoise, meshYamux } from './tuning.js'

export interface BrowserLibp2pOptions {
  /** WebRTC between browsers (default true) */
  webrtc?: boolean
  /**
   * ICE servers and the like for WebRTC. Default: none, so host candidates
   * only (browsers on one LAN). @libp2p/webrtc's own default lists public
   * STUN servers; offline, or on a closed network, waiting for them outlasts
   * the dial timeout. Pass STUN/TURN servers for browsers on different networks.
   */
  rtcConfiguration?: RTCConfiguration
}

/**
 * libp2p's browser default refuses to dial ws:// and private addresses. An
 * offline-first app talks to a gateway on the LAN or on localhost, so we
 * allow every address, and keep the allow-list when one is given.
 * No per-host connection limits as in create-libp2p.ts: a browser listens on
 * no TCP or WebSocket port, and inbound WebRTC connections come through a
 * relay, with no host address to count (libp2p's browser defaults apply).
 */
function browserGater (allowPeers: string[] | undefined): ConnectionGater {
  return { ...(allowPeers !== undefined ? allowListGater(allowPeers) : {}), denyDialMultiaddr: () => false }
}

export function browserLibp2pPreset (browser: BrowserLibp2pOptions = {}): Libp2pPreset {
  const withWebRTC = browser.webrtc !== false
  return async ({ options: opts, privateKey }): Promise<Libp2p> => await createLibp2p({
    ...(privateKey !== undefined ? { privateKey } : {}),
    addresses: {
      // a reservation on every relay we connect to, and WebRTC set up over it
      listen: opts.listen ?? (withWebRTC ? ['/p2p-circuit', '/webrtc'] : [])
    },
    transports: [
      webSockets(),
      ...(withWebRTC ? [webRTC({ rtcConfiguration: browser.rtcConfiguration ?? { iceServers: [] } }), circuitRelayTransport()] : [])
    ],
    connectionEncrypters: [browserNoise()],
    streamMuxers: [meshYamux()],
    connectionGater: browserGater(opts.allowPeers),
    services: { identify: identify() }
  })
}
