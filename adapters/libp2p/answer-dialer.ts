/**
 * A discovery dialer that dials a peer on every mDNS answer, not only the
 * first time libp2p's peer store sees it.
 *
 * libp2p's own `peer:discovery` event fires only for a peer new to the peer
 * store: a peer found while the node was still starting (before any dialer
 * listened), or found again after its connection dropped, was never dialed.
 * Two gateways started together on one LAN could both find each other too
 * early and never connect (a CI failure of test/cli-mdns.spec.ts). So this
 * dialer also listens to the mDNS service's own `peer` event (every answer),
 * which the Node preset configures as the libp2p service `mdns` (an app on
 * its own libp2p node gets this only with mDNS configured the same way;
 * other discovery services, a DHT's for one, are left to `peer:discovery`).
 *
 * A peer that does not stay connected is not dialed on every answer: each
 * peer has its own backoff (from `minRedialMs`, doubling to MAX_REDIAL_MS),
 * which starts over only after a connection to it lasted STABLE_MS. A peer
 * that refuses us (its allow-list) is dialed less and less often.
 */
import { peerDiscoverySymbol, type Libp2p, type PeerDiscovery, type PeerId, type PeerInfo } from '@libp2p/interface'
import { DiscoveryDialer } from './discovery-dialer.js'

/** the first hold-back after a dial of a discovered peer */
const MIN_REDIAL_MS = 5_000
/** ... doubling to this */
const MAX_REDIAL_MS = 5 * 60_000
/** a connection that lasts this long starts the peer's backoff over */
const STABLE_MS = 10_000
/** peers whose backoff is remembered (the oldest is forgotten past it: it may then be dialed early) */
const MAX_PEERS = 4096

interface Backoff { next: number, delay: number }

export class AnswerDialer extends DiscoveryDialer {
  private readonly source: PeerDiscovery | undefined
  private readonly backoff = new Map<string, Backoff>()
  /** when each connected peer's connection opened */
  private readonly since = new Map<string, number>()
  private readonly onAnswer = (evt: CustomEvent<PeerInfo>): void => {
    const { id } = evt.detail
    if (this.libp2p.getConnections(id).length > 0) return
    const key = id.toString()
    const now = Date.now()
    const b = this.backoff.get(key)
    if (b !== undefined && now < b.next) return
    const delay = b === undefined ? this.minRedialMs : Math.min(MAX_REDIAL_MS, b.delay * 2)
    this.backoff.delete(key)
    if (this.backoff.size >= MAX_PEERS) this.backoff.delete(this.backoff.keys().next().value!)
    this.backoff.set(key, { next: now + delay, delay })
    this.onDiscovery(evt)
  }

  private readonly onConnect = (evt: CustomEvent<PeerId>): void => { this.since.set(evt.detail.toString(), Date.now()) }
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const key = evt.detail.toString()
    const at = this.since.get(key)
    this.since.delete(key)
    if (at !== undefined && Date.now() - at >= STABLE_MS) this.backoff.delete(key)
  }

  constructor (libp2p: Libp2p, private readonly minRedialMs = MIN_REDIAL_MS) {
    super(libp2p)
    this.source = (libp2p.services as { mdns?: { [peerDiscoverySymbol]?: PeerDiscovery } } | undefined)?.mdns?.[peerDiscoverySymbol]
  }

  override start (): void {
    super.start()
    this.libp2p.addEventListener('peer:connect', this.onConnect)
    this.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    this.source?.addEventListener('peer', this.onAnswer)
  }

  override stop (): void {
    super.stop()
    this.libp2p.removeEventListener('peer:connect', this.onConnect)
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    this.source?.removeEventListener('peer', this.onAnswer)
  }
}
