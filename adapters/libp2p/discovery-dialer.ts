/**
 * Dial peers that libp2p's discovery reports, unless we already have a
 * connection. libp2p 3 leaves dialing discovered peers to the application.
 *
 * libp2p's `peer:discovery` event fires only the first time a peer enters
 * the peer store, so this dialer alone never redials a peer it found once.
 * The Node preset uses `AnswerDialer` (answer-dialer.ts), which also hears
 * every answer of the discovery services themselves (mDNS).
 */
import type { Libp2p, PeerInfo } from '@libp2p/interface'
import { logger } from '../../lib/log.js'

const log = logger('discovery')

export class DiscoveryDialer {
  private running = false
  private readonly controller = new AbortController()
  protected readonly onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    const { id, multiaddrs } = evt.detail
    if (!this.running || id.equals(this.libp2p.peerId)) return
    if (this.libp2p.getConnections(id).length > 0) return
    log('discovered %s; dialing', id.toString())
    const target = multiaddrs.length > 0 ? multiaddrs : id
    this.libp2p.dial(target, { signal: this.controller.signal }).catch((err: Error) => {
      log('dial of discovered %s failed: %s', id.toString(), err.message)
    })
  }

  constructor (protected readonly libp2p: Libp2p) {}

  start (): void {
    if (this.running) return
    this.running = true
    this.libp2p.addEventListener('peer:discovery', this.onDiscovery)
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    this.controller.abort()
    this.libp2p.removeEventListener('peer:discovery', this.onDiscovery)
  }
}
