/**
 * What we remember about peers across connections, so a reconnect costs what
 * changed, not what is held: per peer incarnation (its HELLO epoch), the
 * fingerprint of each doc's state that the peer acknowledged as stored.
 */

interface Remembered {
  epoch: string
  synced: Map<string, string>
}

export class PeerMemory {
  private readonly peers = new Map<string, Remembered>()

  constructor (private readonly maxPeers = 1024) {}

  /** The peer said HELLO with `epoch`; forget it if it is a new incarnation. */
  hello (peer: string, epoch: string): Map<string, string> {
    let m = this.peers.get(peer)
    if (m === undefined || m.epoch !== epoch) {
      m = { epoch, synced: new Map() }
      if (this.peers.size >= this.maxPeers && !this.peers.has(peer)) {
        const oldest = this.peers.keys().next().value
        if (oldest !== undefined) this.peers.delete(oldest)
      }
    }
    // re-insert: most recent last
    this.peers.delete(peer)
    this.peers.set(peer, m)
    return m.synced
  }

  /** Docs the peer had stored at the given fingerprints, as of its current incarnation. */
  syncedWith (peer: string): Map<string, string> | undefined {
    return this.peers.get(peer)?.synced
  }

  record (peer: string, docKey: string, fingerprint: string): void {
    this.peers.get(peer)?.synced.set(docKey, fingerprint)
  }

  forgetDoc (peer: string, docKey: string): void {
    this.peers.get(peer)?.synced.delete(docKey)
  }
}
