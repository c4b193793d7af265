/**
 * What we remember about peers across connections, so a reconnect costs what
 * changed, not what is held: per peer incarnation (its HELLO epoch), the
 * fingerprint of each doc's state that the peer acknowledged as stored.
 */
import { recentEntry } from '../security/token-bucket.js'

/** peers remembered (the most recent first) */
const MAX_PEERS = 1024

interface Remembered {
  epoch: string
  synced: Map<string, string>
}

export class PeerMemory {
  private readonly peers = new Map<string, Remembered>()

  /** The peer said HELLO with `epoch`; forget it if it is a new incarnation. */
  hello (peer: string, epoch: string): Map<string, string> {
    const fresh = (): Remembered => ({ epoch, synced: new Map() })
    let m = recentEntry(this.peers, peer, fresh, MAX_PEERS)
    if (m.epoch !== epoch) this.peers.set(peer, (m = fresh()))
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
