/**
 * libp2p 3's `ConnectionManager.getConnections()` (no peer) builds its answer
 * with `conns = conns.concat(c)` once per peer: a copy of everything so far
 * for each peer, O(N²) in the connections. libp2p itself calls it twice for
 * every inbound connection (`acceptIncomingConnection` compares its length
 * with `maxConnections`; the connection pruner does on every
 * `connection:open`), so a gateway admitting 1,000 devices spent about 1.5 s
 * of CPU and much of its garbage-collection time in those copies (issue 18,
 * F1 profile of the connect window). `linearGetConnections` swaps in the same
 * answer built in one pass, O(N), on a libp2p node we created.
 *
 * It reaches into libp2p's components (not public API): `test/linear-connections.spec.ts`
 * checks that the swap took and answers as before, so a libp2p release that
 * moves this fails a test instead of silently going slow again. libp2p's
 * major version is pinned in package.json.
 */
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { logger } from '../../lib/log.js'

const log = logger('libp2p')

interface ConnectionManagerInternals {
  getConnections: (peerId?: PeerId) => Connection[]
  /** a PeerMap: a Map of { key, value } entries by PeerId string inside (`map`) */
  getConnectionsMap: () => { values: () => Iterable<Connection[]>, map?: Map<string, { value: Connection[] }> }
}

/** Whether the node's connection manager now answers in one pass. */
export function linearGetConnections (libp2p: Libp2p): boolean {
  const cm = (libp2p as unknown as { components?: { connectionManager?: Partial<ConnectionManagerInternals> } }).components?.connectionManager
  if (typeof cm?.getConnections !== 'function' || typeof cm.getConnectionsMap !== 'function') {
    log('connection manager not as expected; getConnections() left as it is')
    return false
  }
  const original = cm.getConnections.bind(cm)
  const byPeer = cm.getConnectionsMap.bind(cm)
  cm.getConnections = (peerId?: PeerId): Connection[] => {
    if (peerId != null) return original(peerId)
    const all: Connection[] = []
    const peers = byPeer()
    // the PeerMap's own Map when it has one: its values() wraps every entry in an iterator step
    if (peers.map instanceof Map) {
      for (const entry of peers.map.values()) for (const c of entry.value) all.push(c)
    } else {
      for (const conns of peers.values()) for (const c of conns) all.push(c)
    }
    return all
  }
  return true
}
