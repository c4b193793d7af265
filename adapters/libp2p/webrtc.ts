/**
 * WebRTC between browsers, for a browser app that opts in
 * (`meshdoc/webrtc`, built to `dist/webrtc.js`):
 *
 * ```ts
 * import { createMeshNode } from 'meshdoc'       // the browser entry
 * import { webrtc } from 'meshdoc/webrtc'        // npm install @libp2p/webrtc
 * const node = await createMeshNode({ bootstrap: [gatewayWs], webrtc: webrtc() })
 * ```
 *
 * Everything WebRTC needs lives here, so an app that does not import this
 * module bundles none of it: the transport (@libp2p/webrtc, an optional peer
 * dependency of meshdoc), the circuit-relay transport that sets it up through
 * a gateway (`meshdoc gateway` runs the relay server), the listen addresses
 * that take a relay reservation, and peer exchange (asking gateways which
 * other browsers hold a reservation, and dialling them). Sync never runs over
 * the relay hop itself, only over the direct WebRTC connection.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import type { BrowserWebRTC } from './create-browser-libp2p.js'
import { PeerExchangeDialer } from './peer-exchange.js'

export interface WebRTCOptions {
  /**
   * ICE servers and the like. Default: none, so host candidates only
   * (browsers on one LAN). @libp2p/webrtc's own default lists public STUN
   * servers; offline, or on a closed network, waiting for them outlasts the
   * dial timeout. Pass STUN/TURN servers for browsers on different networks.
   */
  rtcConfiguration?: RTCConfiguration
  /** ask connected gateways which other browsers hold a relay reservation, every this many ms (default 10 s; 0: never) */
  peerExchangeIntervalMs?: number
}

/** WebRTC to other browsers, for the browser `createMeshNode({ webrtc: webrtc() })`. */
export function webrtc (opts: WebRTCOptions = {}): BrowserWebRTC {
  return {
    listen: ['/p2p-circuit', '/webrtc'],
    transports: () => [webRTC({ rtcConfiguration: opts.rtcConfiguration ?? { iceServers: [] } }), circuitRelayTransport()],
    start: (libp2p) => {
      if (opts.peerExchangeIntervalMs === 0) return () => {}
      const pex = new PeerExchangeDialer(libp2p, opts.peerExchangeIntervalMs)
      pex.start()
      return () => { pex.stop() }
    }
  }
}
