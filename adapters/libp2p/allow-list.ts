/** Membership: a connection gater that admits only the listed PeerIds (every transport). */
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { logger } from '../../lib/log.js'

const log = logger('libp2p')

/**
 * A gater that refuses every peer not on `allow`: at dial time, once the
 * encryption handshake proved who the peer is, and again once the connection
 * is upgraded (a WebRTC connection authenticates its peer without a separate
 * encryption step, so the upgraded check is the one that covers it).
 * `refused` hears of each refusal (the node counts them as `not_allowed`).
 */
export function allowListGater (allow: Iterable<string>, refused?: (peer: string) => void): ConnectionGater {
  const allowed = new Set(allow)
  const deny = (peer: PeerId): boolean => {
    const id = peer.toString()
    const no = !allowed.has(id)
    if (no) {
      log('refusing peer %s: not on the allow-list', id)
      refused?.(id)
    }
    return no
  }
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny
  }
}
