/**
 * Per-document sync lag: how long a document has had changes that a connected
 * peer holding it has not yet acknowledged as stored. 0 when every such peer
 * is synced, or when no connected peer holds the document.
 */
import type { DocStatus } from '../doc-handle.js'

export class SyncLagTracker {
  /** docId -> when (ms) it stopped being synced */
  private readonly since = new Map<string, number>()

  constructor (private readonly now: () => number = Date.now) {}

  /** Record a status; call on every `status` event and whenever sampling. */
  observe (docId: string, status: DocStatus): void {
    const lagging = status.peers.some(p => !p.synced)
    if (!lagging) this.since.delete(docId)
    else if (!this.since.has(docId)) this.since.set(docId, this.now())
  }

  /** Seconds `docId` has been behind, 0 if it is not. */
  lagSeconds (docId: string): number {
    const t = this.since.get(docId)
    return t === undefined ? 0 : Math.max(0, (this.now() - t) / 1000)
  }

  forget (docId: string): void {
    this.since.delete(docId)
  }
}
