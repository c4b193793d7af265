/**
 * Local and forwarded changes on their way to peers. Each finished
 * transaction is recorded into the doc's outgoing batch (no `update` listener:
 * Yjs never encodes per transaction); the batch is encoded once and sent to
 * every peer holding the doc on the next microtask (as several UPDATEs if it
 * holds more than MAX_UPDATE_ITEMS structs and deletions), at `maxBatch`
 * transactions, or when a transport delivered a read (`delivered`). A peer
 * whose link is not writable is owed the batch instead: it is merged into the
 * session's `owed` ranges and sent as one update when the link drains.
 */
import type * as Y from 'yjs'
import { Access } from '../policy/types.js'
import { MAX_UPDATE_ITEMS, MessageType } from '../protocol/constants.js'
import { logger } from '../log.js'
import { UpdateBatch } from '../yjs/update-batch.js'
import type { SyncContext } from './context.js'
import type { DocSession } from './doc-session.js'
import type { EngineDoc } from './engine-doc.js'
import type { PeerState } from './peers.js'
import { PeerOrigin } from './types.js'

const log = logger('sync')

export class Outbound {
  /** docs whose batch waits for its microtask; `delivered()` sends them sooner */
  private readonly due = new Set<EngineDoc>()

  constructor (private readonly ctx: SyncContext, private readonly maxBatch: number) {}

  /** A transaction finished on `doc`: add it to the outgoing batch and schedule the send. */
  record (doc: EngineDoc, tr: Y.Transaction): void {
    const from = tr.origin instanceof PeerOrigin ? tr.origin.peer : null
    if (!doc.absorb(tr, from)) return
    if (doc.batch.txns >= this.maxBatch) {
      this.sendBatch(doc)
    } else if (!this.due.has(doc)) {
      this.due.add(doc)
      queueMicrotask(() => { this.sendBatch(doc) })
    }
  }

  /** Send the outgoing batch of `doc` to every peer that holds it (except its only origin). */
  sendBatch (doc: EngineDoc): void {
    this.due.delete(doc)
    const taken = doc.takeBatch()
    if (taken === undefined) return
    let updates: Uint8Array[] | undefined
    for (const s of doc.sessions.values()) {
      if (!s.remoteHolds || s.peer === taken.origin) continue
      const peer = this.ctx.peers.get(s.peer)
      if (peer === undefined || peer.closed) continue
      if (this.ctx.access(s.peer, doc) === Access.NONE) continue
      if (s.owed !== null || !peer.link.writable) {
        this.owe(peer, s, taken.batch)
        continue
      }
      updates ??= taken.batch.encodeAll(doc.doc, MAX_UPDATE_ITEMS, this.ctx.structWriter)
      for (const u of updates) this.sendUpdate(peer, doc, s, u)
      if (taken.origin !== null) this.ctx.counters.updatesForwarded++
    }
    doc.notifyStatus()
  }

  /** One UPDATE with the session's next seq. */
  sendUpdate (peer: PeerState, doc: EngineDoc, s: DocSession, update: Uint8Array): void {
    // a seq is used only by a frame that went out: a refused one must not leave a gap the peer waits on
    if (!this.ctx.peers.send(peer, { type: MessageType.UPDATE, docKey: doc.key, seq: s.sentSeq + 1, update })) return
    s.sentSeq++
    this.ctx.counters.updatesSent++
  }

  /** The peer's link is writable again: send what each of its sessions is owed, while it stays writable. */
  drained (peer: PeerState): void {
    for (const s of peer.owing) {
      if (!peer.link.writable || peer.closed) return
      peer.owing.delete(s)
      const doc = this.ctx.doc(s.keyHex)
      const owed = s.owed
      s.owed = null
      if (doc === undefined || owed === null) continue
      for (const u of owed.encodeAll(doc.doc, MAX_UPDATE_ITEMS, this.ctx.structWriter)) this.sendUpdate(peer, doc, s, u)
      doc.notifyStatus()
    }
  }

  /**
   * A transport delivered everything one read carried: send the batches those
   * frames produced (forwards to other peers) and write every link now, rather
   * than on the microtask, so a keystroke crosses a relay without waiting for
   * the transport's own bookkeeping after the delivery (a yamux window update,
   * say). Batching is unchanged within one delivery.
   */
  delivered (): void {
    try {
      for (const doc of this.due) this.sendBatch(doc)
      this.ctx.peers.writeAll()
    } catch (err) {
      log.error('sending after a delivery failed: %e', err)
    }
  }

  private owe (peer: PeerState, s: DocSession, batch: UpdateBatch): void {
    // copy: the same batch object may still be sent to other peers
    s.owed ??= new UpdateBatch()
    s.owed.absorbBatch(batch)
    peer.owing.add(s)
  }
}
