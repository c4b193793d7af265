/**
 * Who brought a doc's pending (gapped) structs: each session is charged what
 * its updates add to them, and all charges on a doc end when nothing is
 * pending there any more. When the pending structs pass the cap
 * (`limits.maxPendingBytes`) they are dropped and the peer that brought more
 * than half of them is closed (`limit_exceeded`): an honest sender's structs
 * rarely wait at all, so whoever fills the cap is sending structs whose
 * dependencies never come. Node only (the Node preset hands it to the
 * engine, `SyncEngineOptions.pendingCharges`); a browser node drops them and
 * resyncs, and closes no one for them.
 */
import { ByeReason } from '../protocol/constants.js'
import type { DocSession } from '../sync/doc-session.js'
import type { EngineDoc } from '../sync/engine-doc.js'
import type { Peers } from '../sync/peers.js'

export class PendingCharges {
  private readonly charged = new WeakMap<DocSession, number>()

  /** `s`'s update was applied: the doc's pending structs went from `before` to `after` bytes. */
  note (doc: EngineDoc, s: DocSession, before: number, after: number): void {
    if (after > before) this.charged.set(s, (this.charged.get(s) ?? 0) + after - before)
    else if (after === 0 && before > 0) this.reset(doc)
    else if (after < before) {
      // some resolved: every charge shrinks in proportion, so what was resolved long ago is not held against anyone
      for (const other of doc.sessions.values()) {
        const c = this.charged.get(other)
        if (c !== undefined) this.charged.set(other, c * after / before)
      }
    }
  }

  /**
   * The doc's `bytes` of pending structs were dropped (past the cap): the peer
   * whose session brought more than half of them, if one did, is closed
   * (`limit_exceeded`). True if that is `s`'s. Charges on the doc end.
   */
  overflowed (doc: EngineDoc, bytes: number, s: DocSession, peers: Peers): boolean {
    let most: DocSession | undefined
    let charge = 0
    for (const other of doc.sessions.values()) {
      const c = this.charged.get(other) ?? 0
      if (c > charge) { most = other; charge = c }
    }
    this.reset(doc)
    if (most === undefined || charge * 2 <= bytes) return false
    const peer = peers.get(most.peer)
    if (peer !== undefined) peers.reject(peer, ByeReason.LIMIT_EXCEEDED, `${charge} bytes of structs whose dependencies never came, past the pending cap`)
    return most === s
  }

  private reset (doc: EngineDoc): void {
    for (const s of doc.sessions.values()) this.charged.delete(s)
  }
}
