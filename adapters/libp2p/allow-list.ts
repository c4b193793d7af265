/** Membership: a connection gater that admits only the listed PeerIds (every transport). */
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { logger } from '../../lib/log.js'

const log = logger('libp2p')

/**
 * A gater that refuses every peer not on `allow`: at dial time, once the
 * encryption handshake proved who the peer is, and again once the connection
 * is upgraded (a WebRTC connection authenticates its peer without a separate
 * encryption step, so the upgraded check is the one that covers it).
 * `refused` hears of each peer refused when it connected to us (the node
 * counts them as `not_allowed`); our own dials to unlisted peers (a bootstrap
 * or mDNS peer not on the list) are refused too, but not counted.
 */
export function allowListGater (allow: Iterable<string>, refused?: (peer: string) => void): ConnectionGater {
  const allowed = new Set(allow)
  const deny = (inbound: boolean) => (peer: PeerId): boolean => {
    const id = peer.toString()
    const no = !allowed.has(id)
    if (no) {
      log('refusing peer %s (%s): not on the allow-list', id, inbound ? 'it connected to us' : 'we would dial it')
      if (inbound) refused?.(id)
    }
    return no
  }
  return {
    denyDialPeer: deny(false),
    denyInboundEncryptedConnection: deny(true),
    denyOutboundEncryptedConnection: deny(false),
    denyInboundUpgradedConnection: deny(true),
    denyOutboundUpgradedConnection: deny(false)
  }
}
