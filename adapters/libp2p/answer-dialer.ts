/**
 * A discovery dialer that dials a peer on every discovery answer, not only
 * the first time libp2p's peer store sees it.
 *
 * libp2p's own `peer:discovery` event fires only for a peer new to the peer
 * store: a peer found while the node was still starting (before any dialer
 * listened), or found again after its connection dropped, was never dialed.
 * Two gateways started together on one LAN could both find each other too
 * early and never connect (a CI failure of test/cli-mdns.spec.ts). So this
 * dialer also listens to each discovery service's own `peer` event (every
 * mDNS answer, every interval), for every libp2p service that is a peer
 * discovery (`peerDiscoverySymbol`; the Node preset configures mDNS as one).
 * A peer whose dial has not led to a connection is dialed again only after
 * `minRedialMs`, so a peer that refuses us is not dialed on every answer.
 */
import { peerDiscoverySymbol, type Libp2p, type PeerDiscovery, type PeerId, type PeerInfo } from '@libp2p/interface'
import { DiscoveryDialer } from './discovery-dialer.js'

/** the least time between two dials of a discovered peer that we have not connected to */
const MIN_REDIAL_MS = 5_000

export class AnswerDialer extends DiscoveryDialer {
  private readonly sources: PeerDiscovery[] = []
  /** when each peer we have not connected to since was last dialed */
  private readonly lastDial = new Map<string, number>()
  private readonly onAnswer = (evt: CustomEvent<PeerInfo>): void => {
    const key = evt.detail.id.toString()
    const now = Date.now()
    if (now - (this.lastDial.get(key) ?? -Infinity) < this.minRedialMs) return
    if (this.lastDial.size >= 4096) this.lastDial.clear() // bounded; forgetting only allows an early redial
    this.lastDial.set(key, now)
    this.onDiscovery(evt)
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => { this.lastDial.delete(evt.detail.toString()) }

  constructor (libp2p: Libp2p, private readonly minRedialMs = MIN_REDIAL_MS) {
    super(libp2p)
    for (const s of Object.values(libp2p.services ?? {}) as Array<{ [peerDiscoverySymbol]?: PeerDiscovery } | null>) {
      const d = s?.[peerDiscoverySymbol]
      if (d != null) this.sources.push(d)
    }
  }

  override start (): void {
    super.start()
    this.libp2p.addEventListener('peer:connect', this.onConnect)
    for (const d of this.sources) d.addEventListener('peer', this.onAnswer)
  }

  override stop (): void {
    super.stop()
    this.libp2p.removeEventListener('peer:connect', this.onConnect)
    for (const d of this.sources) d.removeEventListener('peer', this.onAnswer)
  }
}
