/**
 * Dial peers that libp2p's discovery (mDNS, …) reports, unless we already have
 * a connection. libp2p 3 leaves dialing discovered peers to the application.
 *
 * libp2p's own `peer:discovery` event fires only the first time a peer enters
 * the peer store: a peer found while the node was still starting (before this
 * dialer listened), or found again after its connection dropped, would never
 * be dialed. So the dialer listens to each discovery service's own `peer`
 * event (every mDNS answer, every interval) wherever it can reach the
 * service (a libp2p service with `peerDiscoverySymbol`, as the presets
 * configure mDNS), and to `peer:discovery` for discovery configured the
 * other way. A peer whose dial failed is dialed again after `minRedialMs`.
 */
import { peerDiscoverySymbol, type Libp2p, type PeerDiscovery, type PeerInfo } from '@libp2p/interface'
import { logger } from '../../lib/log.js'

const log = logger('discovery')

/** the least time between two dials of one discovered peer */
const MIN_REDIAL_MS = 5_000

export class DiscoveryDialer {
  private running = false
  private readonly controller = new AbortController()
  private readonly sources: PeerDiscovery[]
  /** when each peer was last dialed (pruned as it grows) */
  private readonly lastDial = new Map<string, number>()
  private readonly onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    const { id, multiaddrs } = evt.detail
    if (!this.running || id.equals(this.libp2p.peerId)) return
    if (this.libp2p.getConnections(id).length > 0) return
    const key = id.toString()
    const now = Date.now()
    if (now - (this.lastDial.get(key) ?? -Infinity) < this.minRedialMs) return
    if (this.lastDial.size >= 4096) for (const [k, at] of this.lastDial) if (now - at >= this.minRedialMs) this.lastDial.delete(k)
    this.lastDial.set(key, now)
    log('discovered %s; dialing', key)
    const target = multiaddrs.length > 0 ? multiaddrs : id
    this.libp2p.dial(target, { signal: this.controller.signal }).then(() => {
      this.lastDial.delete(key) // only failed dials hold the next one back
    }, (err: Error) => {
      log('dial of discovered %s failed: %s', key, err.message)
    })
  }

  constructor (private readonly libp2p: Libp2p, private readonly minRedialMs = MIN_REDIAL_MS) {
    const services = Object.values((libp2p.services ?? {}) as Record<string, unknown>)
    this.sources = services
      .map(s => (s as Partial<Record<typeof peerDiscoverySymbol, PeerDiscovery>> | null)?.[peerDiscoverySymbol])
      .filter((d): d is PeerDiscovery => d != null)
  }

  start (): void {
    if (this.running) return
    this.running = true
    for (const d of this.sources) d.addEventListener('peer', this.onDiscovery)
    this.libp2p.addEventListener('peer:discovery', this.onDiscovery)
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    this.controller.abort()
    for (const d of this.sources) d.removeEventListener('peer', this.onDiscovery)
    this.libp2p.removeEventListener('peer:discovery', this.onDiscovery)
  }
}
