/**
 * A peer's UPDATE, SYNC2 or SYNC2_PART on its way into the Y.Doc: session and
 * write-access checks, admission (size, strict V1 validation, authorship, the
 * writer's quota), the apply with storage told which bytes it carries, the pending-struct cap,
 * receive-side seq bookkeeping, and what follows (a repair SYNC1, the ACK,
 * progress events). Returns what became of the frame.
 */
import * as Y from 'yjs'
import { logger } from '../log.js'
import { Access } from '../policy/types.js'
import type { Sync2Frame, Sync2PartFrame, UpdateFrame } from '../protocol/codec.js'
import { ByeReason, DeniedReason, MessageType } from '../protocol/constants.js'
import type { Acks } from './acks.js'
import { admitUpdate } from './admit.js'
import type { Answers } from './answer.js'
import type { SyncContext } from './context.js'
import type { DocSession } from './doc-session.js'
import type { EngineDoc, DocSyncProgress } from './engine-doc.js'
import type { PeerState } from './peers.js'
import type { Limits } from '../security/limits.js'
import type { PendingCharges } from '../security/pending-charges.js'
import type { WriteQuota } from '../security/quota.js'
import { EMPTY_UPDATE, pendingBytes } from '../yjs/update-batch.js'

const log = logger('sync')

export type UpdateLikeFrame = UpdateFrame | Sync2Frame | Sync2PartFrame

/**
 * - `applied`: in the doc (and on its way to storage and the ACK)
 * - `ignored`: a benign race (outside a session), counted in `ignored`
 * - `refused`: the peer may not write this (read-only, past its quota, a
 *   forged author); counted, DENIED once, the peer stays
 * - `rejected`: a violation; the peer was closed with a reason
 */
export type InboundOutcome = 'applied' | 'ignored' | 'refused' | 'rejected'

export class Inbound {
  constructor (
    private readonly ctx: SyncContext,
    private readonly answers: Pick<Answers, 'sendSync1' | 'resyncAll'>,
    private readonly acks: Pick<Acks, 'schedule'>,
    private readonly quota?: WriteQuota,
    private readonly pendingCharges?: PendingCharges,
    private readonly addsNothing?: (doc: EngineDoc, update: Uint8Array, limits: Limits) => boolean
  ) {}

  receive (peer: PeerState, doc: EngineDoc, frame: UpdateLikeFrame): InboundOutcome {
    const { type, seq } = frame
    const s = this.ctx.sessions.get(peer, doc.keyHex)
    // a peer whose SYNC1 waits for its answer (answer.ts) holds the doc already: its updates count
    if (s === undefined || (type === MessageType.UPDATE && !s.remoteHolds && s.deferredSync1 === undefined)) {
      // e.g. in flight while we closed and reopened the doc; the SYNC exchange covers it
      this.ctx.ignore('out_of_session')
      return 'ignored'
    }
    // A read-only peer's update is refused, unless (with `addsNothing`, Node,
    // which validates it) it adds nothing to the doc: its answer to our SYNC1
    // is no write, and is taken as one that holds nothing (acknowledged)
    let update = frame.update
    if (this.ctx.access(peer.id, doc) !== Access.WRITE) {
      if (this.addsNothing?.(doc, update, this.ctx.limits) !== true) {
        this.ctx.countRejection('forbidden')
        return this.refuse(peer, doc, s, frame, DeniedReason.READ_ONLY)
      }
      update = EMPTY_UPDATE
    }
    const admitted = admitUpdate(doc, peer.id, update, this.ctx.limits)
    if (!('bytes' in admitted)) {
      if (admitted.deny === undefined) {
        this.ctx.peers.reject(peer, admitted.code, admitted.reason)
        return 'rejected'
      }
      this.ctx.countRejection(admitted.counter)
      return this.refuse(peer, doc, s, frame, admitted.deny)
    }
    const charge = this.quota?.admit(peer.id, doc, admitted.bytes.length)
    if (charge === false) {
      this.ctx.countRejection('quota_exceeded')
      return this.refuse(peer, doc, s, frame, DeniedReason.QUOTA_EXCEEDED)
    }
    // a write of a peer whose writes were refused for their authors is accepted again
    // (the peer that held its clientID left): a SYNC round brings what was refused
    const healed = admitted.authors.size > 0 && s.deniedWrites === DeniedReason.AUTHORSHIP
    if (admitted.authors.size > 0) s.deniedWrites = undefined
    const pendingBefore = pendingBytes(doc.doc)
    doc.releasing = pendingBefore > 0
    doc.persistence?.expectUpdate(s.origin, admitted.bytes)
    try {
      Y.applyUpdate(doc.doc, admitted.bytes, s.origin)
    } catch (err) {
      // decoded cleanly but failed to integrate: should not happen; never crash for it
      doc.persistence?.applyFailed()
      this.ctx.peers.reject(peer, ByeReason.MALFORMED_UPDATE, `update failed to apply: ${(err as Error).message}`)
      return 'rejected'
    } finally {
      doc.releasing = false
      doc.persistence?.expectUpdate(undefined)
      charge?.()
    }
    if (this.capPending(doc, s, pendingBefore)) return 'rejected'
    this.ctx.counters.updatesApplied++
    let progress: DocSyncProgress | undefined
    if (type === MessageType.SYNC2) {
      const parts = s.partsApplied
      if (s.endAnswer(seq)) {
        s.noteSync2Seq(seq)
        s.gotSync2 = true
        s.resyncInFlight = false
      } else {
        // a part of this answer was dropped or is missing: the SYNC2 cannot
        // stand for everything before it. Ask once more; anti-entropy after that.
        s.noteUpdateSeq(seq)
        this.ctx.ignore('incomplete_answer')
        if (!s.resyncInFlight) {
          s.resyncInFlight = true
          this.answers.sendSync1(peer, doc, s, 0)
        }
      }
      if (parts > 0) progress = { peer: peer.id, parts: parts + 1, partsLeft: 0 }
    } else {
      s.noteUpdateSeq(seq)
      if (type === MessageType.SYNC2_PART) {
        s.notePart(seq, true)
        this.ctx.counters.sync2PartsApplied++
        progress = { peer: peer.id, parts: s.partsApplied, partsLeft: frame.partsLeft }
      }
    }
    if (healed || (type === MessageType.UPDATE && pendingBytes(doc.doc) > 0 && !s.resyncInFlight)) {
      // missing dependencies (or writes refused before): ask this peer for everything
      // we lack. Not after a SYNC2: that already was its whole answer, and asking
      // again would loop.
      s.resyncInFlight = true
      this.answers.sendSync1(peer, doc, s, 0)
    }
    // the parts of an answer are acknowledged with the SYNC2 that ends it: an
    // ACK between parts would only make the next commit wait on a flush
    if (type !== MessageType.SYNC2_PART) this.acks.schedule(peer, doc, s)
    doc.notifyStatus()
    if (progress !== undefined) doc.emit('progress', [progress])
    return 'applied'
  }

  /**
   * Refuse the peer's write and leave it connected: DENIED `reason`, unless
   * that was the last thing it was told. The frame still counts as received,
   * so the peer's acks stay meaningful.
   */
  private refuse (peer: PeerState, doc: EngineDoc, s: DocSession, frame: UpdateLikeFrame, reason: number): InboundOutcome {
    if (s.deniedWrites !== reason) {
      s.deniedWrites = reason
      this.ctx.peers.send(peer, { type: MessageType.DENIED, docKey: doc.key, reason })
    }
    if (frame.type === MessageType.SYNC2_PART) s.notePart(frame.seq, false)
    if (frame.type === MessageType.SYNC2) { s.endAnswer(frame.seq); s.gotSync2 = true; s.resyncInFlight = false }
    return 'refused'
  }

  /**
   * Yjs keeps gapped structs in memory until their dependencies arrive: bound
   * that, then resync. With `pendingCharges` (Node), the peer that brought
   * more than half of them is closed too (true if that is `s`'s peer).
   */
  private capPending (doc: EngineDoc, s: DocSession, before: number): boolean {
    const store = doc.doc.store
    const bytes = pendingBytes(doc.doc)
    this.pendingCharges?.note(doc, s, before, bytes)
    if (bytes <= this.ctx.limits.maxPendingBytes) return false
    log('dropping %d bytes of pending structs for %s; resyncing', bytes, doc.id)
    this.ctx.countRejection('pending_overflow')
    store.pendingStructs = null
    store.pendingDs = null
    doc.persistence?.pendingDropped() // stored records carry them too: compacted away, never loaded again
    this.answers.resyncAll(doc)
    return this.pendingCharges?.overflowed(doc, bytes, s, this.ctx.peers) === true
  }
}
