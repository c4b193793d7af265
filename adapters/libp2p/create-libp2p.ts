/**
 * The default libp2p stack for a Node meshdoc node: TCP and WebSockets,
 * always Noise, yamux. Membership guards: an optional allow-list of PeerIds
 * (enforced by the connection gater, for every transport) and an optional
 * swarm key (libp2p pnet: an extra layer only, see docs/SECURITY.md).
 * Inbound connections per host: a rate, and a share of the handshake slots
 * (docs/SECURITY.md, "Sessions").
 */
import type { ConnectionGater, Libp2p, MultiaddrConnection, PrivateKey } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { identify } from '@libp2p/identify'
import { mdns } from '@libp2p/mdns'
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import type { Multiaddr } from '@multiformats/multiaddr'
import { logger } from '../../lib/log.js'
import type { Libp2pPreset } from '../../lib/mesh-node.js'
import { allowListGater } from './allow-list.js'
import { linearGetConnections } from './linear-connections.js'
import { x25519KeyObjects } from './noise-keys.js'
import { monitorLinks, type LinkMonitorOptions } from './link-monitor.js'
import { quietLogger } from './quiet-logger.js'
import { servePeerExchange } from './peer-exchange.js'
import { meshNoise, meshYamux } from './tuning.js'

export interface DefaultLibp2pOptions {
  listen?: string[]
  privateKey?: PrivateKey
  /** only these PeerIds may connect, or be dialled (in or out, every transport) */
  allowPeers?: string[]
  /** hears of each peer the allow-list refused */
  onNotAllowed?: (peer: string) => void
  /** a libp2p pnet swarm key (the `/key/swarm/psk/1.0.0/` text file's bytes) */
  swarmKey?: Uint8Array
  /** inbound connections per second accepted from one host (default 20, see INBOUND_CONNECTIONS_PER_HOST_PER_SECOND) */
  inboundConnectionThreshold?: number
  /** inbound connections one host may hold open at once (default 128, see OPEN_CONNECTIONS_PER_HOST) */
  inboundConnectionsPerHost?: number
  /** connections in all, in and out (default 1,024); past it libp2p refuses new ones */
  maxConnections?: number
  /** inbound connections in their handshake at once, all hosts together (default 64, see MAX_PENDING_HANDSHAKES) */
  maxPendingHandshakes?: number
  /** ... and from one host (default 4, see PENDING_HANDSHAKES_PER_HOST) */
  pendingHandshakesPerHost?: number
  /** find peers on the LAN with mDNS (a serviceTag keeps separate fleets apart) */
  mdns?: boolean | { serviceTag?: string, intervalMs?: number }
  /** run a circuit-relay v2 server, so peers that cannot reach each other (browsers) can via us */
  relayServer?: boolean
  /** how connections are checked for life (link-monitor.ts); default every 30 s, 15 s to answer */
  linkPing?: LinkMonitorOptions
}

const log = logger('libp2p')

/**
 * Inbound connections accepted per second from one host (IP address); more
 * are closed on accept, before any handshake (libp2p's
 * `inboundConnectionThreshold`). Not libp2p's 5: devices behind one NAT share
 * a host, and all of them redial a gateway that restarts.
 */
const INBOUND_CONNECTIONS_PER_HOST_PER_SECOND = 20
/**
 * Inbound connections one host may hold open at once (upgraded or not); more
 * are closed on accept. An eighth of `maxConnections` (1,024), so that one
 * host never takes every slot; a fleet of more devices behind one NAT raises
 * it (`inboundConnectionsPerHost`).
 */
const OPEN_CONNECTIONS_PER_HOST = 128
/**
 * Inbound connections in their handshake (accepted, Noise and yamux not yet
 * done) at once, all hosts together; more are closed on accept. A handshake
 * costs the gateway about a millisecond of CPU, so 64 keep a reconnecting
 * fleet moving (16, libp2p's default-sized slot count we had, made a fleet of
 * 1,000 devices fail 1,450 dials while joining), while a host that opens
 * connections and sends nothing holds at most PENDING_HANDSHAKES_PER_HOST
 * of them for the 10 s upgrade timeout.
 */
const MAX_PENDING_HANDSHAKES = 64
/** ... and from one host (an IPv4 address or an IPv6 /64), so that one host can never take every slot. */
const PENDING_HANDSHAKES_PER_HOST = 4
/** connections in all (libp2p's `maxConnections`) */
const MAX_CONNECTIONS = 1024
/**
 * TCP connections the kernel completes and holds for us to accept (the
 * listen backlog; Linux caps it at net.core.somaxconn, 4,096 by default).
 * Node's default is 511: a fleet reconnecting at once overflowed it while
 * the gateway was busy, and every connection past it lost its SYN and waited
 * for the device's kernel to resend it 1, 3, 7 s later (2,491 such drops in
 * one 1,000-device storm of F1). A held connection costs a socket until it is
 * accepted; the limits above then apply to it as to any other.
 */
const LISTEN_BACKLOG = 4096

export async function createDefaultLibp2p (opts: DefaultLibp2pOptions = {}): Promise<Libp2p> {
  const libp2p = await createLibp2p({
    ...(opts.privateKey !== undefined ? { privateKey: opts.privateKey } : {}),
    addresses: { listen: opts.listen ?? [] },
    // no logger objects per connection while libp2p's logging is off (quiet-logger.ts)
    logger: quietLogger(),
    transports: [tcp({ backlog: LISTEN_BACKLOG }), webSockets()],
    // Noise and yamux, tuned for many small frames (see tuning.ts)
    connectionEncrypters: [meshNoise({ crypto: x25519KeyObjects })],
    // dead connections are found by link-monitor.ts: yamux's keep-alive never aborts one
    streamMuxers: [meshYamux({ enableKeepAlive: false })],
    connectionGater: inboundGater(opts.allowPeers, opts.inboundConnectionsPerHost ?? OPEN_CONNECTIONS_PER_HOST, opts.pendingHandshakesPerHost ?? PENDING_HANDSHAKES_PER_HOST, opts.onNotAllowed),
    ...(opts.swarmKey !== undefined ? { connectionProtector: preSharedKey({ psk: opts.swarmKey }) } : {}),
    services: {
      ...(opts.relayServer === true ? { identify: identify(), relay: circuitRelayServer() } : {}),
      // a service rather than `peerDiscovery`, so that answer-dialer.ts hears every answer (see there)
      ...(opts.mdns !== undefined && opts.mdns !== false
        ? { mdns: mdns(typeof opts.mdns === 'object' ? { ...(opts.mdns.serviceTag !== undefined ? { serviceTag: opts.mdns.serviceTag } : {}), ...(opts.mdns.intervalMs !== undefined ? { interval: opts.mdns.intervalMs } : {}) } : {}) }
        : {})
    },
    connectionManager: {
      maxConnections: opts.maxConnections ?? MAX_CONNECTIONS,
      inboundConnectionThreshold: opts.inboundConnectionThreshold ?? INBOUND_CONNECTIONS_PER_HOST_PER_SECOND,
      maxIncomingPendingConnections: opts.maxPendingHandshakes ?? MAX_PENDING_HANDSHAKES
    },
    // one ping stream per connection, all from one timer: replaced by link-monitor.ts
    connectionMonitor: { enabled: false }
  })
  linearGetConnections(libp2p)
  const stopMonitor = monitorLinks(libp2p, opts.linkPing)
  libp2p.addEventListener('stop', stopMonitor, { once: true })
  return libp2p
}

/** The allow-list (if any), one host's share of the handshake slots, and of the connections. */
function inboundGater (allowPeers: string[] | undefined, openPerHost: number, pendingPerHost: number, notAllowed?: (peer: string) => void): ConnectionGater {
  const allow = allowPeers !== undefined ? allowListGater(allowPeers, notAllowed) : {}
  const perHost = pendingUpgradesPerHost(pendingPerHost)
  const open = openConnectionsPerHost(openPerHost)
  return {
    ...allow,
    denyInboundConnection: (maConn) => open(maConn) || perHost.denyInboundConnection(maConn),
    denyInboundUpgradedConnection: async (peer, maConn) => {
      perHost.upgraded(maConn)
      return await allow.denyInboundUpgradedConnection?.(peer, maConn) ?? false
    }
  }
}

/**
 * The host of a TCP or WebSocket connection's remote end, as the handshake
 * share counts hosts (undefined for other transports): an IPv4 address, or an
 * IPv6 /64. One IPv6 host is usually given a whole /64, so counting single
 * IPv6 addresses would let one machine take every slot.
 */
export function hostOf (addr: Multiaddr): string | undefined {
  const ip = addr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')
  if (ip?.value === undefined) return undefined
  return ip.name === 'ip4' ? ip.value : ipv6Prefix64(ip.value)
}

/** `2001:db8:1:2::/64` for any address in that /64; an IPv4-mapped address is its IPv4 address. */
function ipv6Prefix64 (address: string): string {
  const ip = address.split('%')[0].toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip)
  if (mapped !== null) return mapped[1]
  const [head, tail] = ip.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = (tail === undefined ? left : [...left, ...new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]).map(g => parseInt(g, 16))
  if (groups.length === 8 && groups.slice(0, 6).join() === '0,0,0,0,0,65535') return [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join('.')
  return `${groups.slice(0, 4).map(g => g.toString(16)).join(':')}::/64`
}

/**
 * Slots per host: `take` gives an inbound connection one of its host's `max`
 * slots, or refuses it (false, logged as `what`). The slot is given back once:
 * by the release `take` returns, or when the connection closes, whichever
 * comes first. Connections with no host (other transports) are not counted.
 */
function hostSlots (max: number, what: string): (maConn: MultiaddrConnection) => false | (() => void) {
  const held = new Map<string, number>()
  return (maConn) => {
    const host = hostOf(maConn.remoteAddr)
    if (host === undefined) return () => {}
    const n = held.get(host) ?? 0
    if (n >= max) {
      log('refusing a connection from %s: %d of its connections %s already', host, n, what)
      return false
    }
    held.set(host, n + 1)
    let done = false
    const release = (): void => {
      if (done) return
      done = true
      const left = (held.get(host) ?? 1) - 1
      if (left > 0) held.set(host, left)
      else held.delete(host)
    }
    maConn.addEventListener('close', release, { once: true })
    return release
  }
}

/**
 * libp2p caps the inbound connections still in their handshake for all hosts
 * together (`maxIncomingPendingConnections`), and a connection that never
 * finishes its handshake keeps its slot for the 10 s upgrade timeout: one
 * host opening TCP connections and sending nothing would keep every other
 * peer out. This refuses a host's connection, at accept time, while `max` of
 * its connections are in their handshake; a slot is free again once the
 * connection is upgraded or closed.
 */
function pendingUpgradesPerHost (max: number): { denyInboundConnection: (maConn: MultiaddrConnection) => boolean, upgraded: (maConn: MultiaddrConnection) => void } {
  const take = hostSlots(max, 'are in their handshake')
  const release = new WeakMap<MultiaddrConnection, () => void>()
  return {
    denyInboundConnection: (maConn) => {
      const slot = take(maConn)
      if (slot === false) return true
      release.set(maConn, slot)
      return false
    },
    upgraded: (maConn) => { release.get(maConn)?.() }
  }
}

/**
 * Refuses a host's connection at accept time while it holds `max` inbound
 * connections open (counted from accept to close, upgraded or not).
 */
function openConnectionsPerHost (max: number): (maConn: MultiaddrConnection) => boolean {
  const take = hostSlots(max, 'are open')
  return (maConn) => take(maConn) === false
}

/**
 * The libp2p of the Node preset (adapters/presets/node.ts): maps its
 * options onto `createDefaultLibp2p`; a relay also answers peer exchange
 * (unless `peerExchange: false`), so the browsers it relays for find each
 * other.
 */
export const nodeLibp2pPreset: Libp2pPreset = async ({ options: opts, privateKey, swarmKey, refusing }) => {
  const libp2p = await createDefaultLibp2p({
    ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(opts.allowPeers !== undefined ? { allowPeers: opts.allowPeers } : {}),
    ...(refusing !== undefined ? { onNotAllowed: (peer: string) => { refusing('not_allowed', peer) } } : {}),
    ...(swarmKey !== undefined ? { swarmKey } : {}),
    ...(opts.mdns !== undefined ? { mdns: opts.mdns } : {}),
    ...(opts.relay === true ? { relayServer: true } : {}),
    ...(opts.inboundConnectionThreshold !== undefined ? { inboundConnectionThreshold: opts.inboundConnectionThreshold } : {}),
    ...(opts.inboundConnectionsPerHost !== undefined ? { inboundConnectionsPerHost: opts.inboundConnectionsPerHost } : {}),
    ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
    ...(opts.maxPendingHandshakes !== undefined ? { maxPendingHandshakes: opts.maxPendingHandshakes } : {}),
    ...(opts.pendingHandshakesPerHost !== undefined ? { pendingHandshakesPerHost: opts.pendingHandshakesPerHost } : {}),
    ...(opts.linkPing !== undefined ? { linkPing: opts.linkPing } : {})
  })
  const relay = (libp2p.services as { relay?: CircuitRelayService }).relay
  if (relay !== undefined && opts.peerExchange !== false) await servePeerExchange(libp2p, relay)
  return libp2p
}
