/**
 * The libp2p stack of a browser meshdoc node:
 * - WebSockets to gateways (ws:// on a LAN or localhost, wss:// elsewhere:
 *   browsers block ws:// from https pages);
 * - WebRTC to other browsers, only when the app opts in (`webrtc: webrtc()`
 *   from `meshdoc/webrtc`, see webrtc.ts; nothing here imports it, so a
 *   WebSockets-only app bundles none of it): set up through a circuit-relay
 *   hop on a gateway (`meshdoc gateway` runs the relay server) and then direct;
 * - Noise on every WebSockets and relayed connection; a WebRTC connection is
 *   DTLS-encrypted, and the remote PeerId is proven in a Noise handshake over
 *   the connection itself (@libp2p/webrtc);
 * - identify, so the node learns which gateways offer a relay.
 * No Node built-ins anywhere in this graph.
 */
import { identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p } from '@libp2p/interface'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p, type Libp2pInit } from 'libp2p'
import type { Libp2pPreset } from '../../lib/mesh-node.js'
import { allowListGater } from './allow-list.js'
import { browserNoise, meshYamux } from './tuning.js'

/**
 * WebRTC for a browser node, as `webrtc()` from `meshdoc/webrtc`
 * (adapters/libp2p/webrtc.ts) makes it: the browser preset imports none of
 * it, so an app without WebRTC bundles none.
 */
export interface BrowserWebRTC {
  /** listen addresses: a relay reservation, and WebRTC set up over it */
  listen: string[]
  /** the transports, made for each libp2p node */
  transports: () => NonNullable<Libp2pInit['transports']>
  /** start what runs beside the transports (peer exchange); returns its stop */
  start: (libp2p: Libp2p) => () => void
}

export interface BrowserLibp2pOptions {
  /** WebRTC between browsers: `webrtc()` from `meshdoc/webrtc`. Default: none, WebSockets to gateways only. */
  webrtc?: BrowserWebRTC | false
}

/**
 * The `webrtc` option checked: undefined for none (not given, or false), a
 * TypeError saying what to pass for anything else (`true` included: WebRTC was
 * on by default before it became an opt-in).
 */
export function webrtcOption (webrtc: unknown): BrowserWebRTC | undefined {
  if (webrtc === undefined || webrtc === false) return undefined
  if (typeof (webrtc as BrowserWebRTC | null)?.transports === 'function') return webrtc as BrowserWebRTC
  throw new TypeError(`webrtc: ${String(webrtc)}: WebRTC is opt-in: import { webrtc } from 'meshdoc/webrtc' and pass webrtc: webrtc() (or false)`)
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

/** The browser libp2p preset; throws a TypeError at once on a `webrtc` it cannot use (see `webrtcOption`). */
export function browserLibp2pPreset (browser: BrowserLibp2pOptions = {}): Libp2pPreset {
  const webrtc = webrtcOption(browser.webrtc)
  return async ({ options: opts, privateKey }): Promise<Libp2p> => await createLibp2p({
    privateKey,
    addresses: {
      // with WebRTC: a reservation on every relay we connect to, and WebRTC set up over it
      listen: opts.listen ?? webrtc?.listen ?? []
    },
    transports: [
      webSockets(),
      ...(webrtc?.transports() ?? [])
    ],
    connectionEncrypters: [browserNoise()],
    streamMuxers: [meshYamux()],
    connectionGater: browserGater(opts.allowPeers),
    services: { identify: identify() }
  })
}
