/**
 * The state of one (peer, document) pair inside one connection. Pure data plus
 * small predicates; the engine drives it.
 */
import type { UpdateBatch } from '../yjs/update-batch.js'
import { PeerOrigin } from './types.js'

export interface DeferredSync1 {
  /** the flags of every SYNC1 it stands for, OR-ed */
  flags: number
  stateVector: Uint8Array
  dsDigest: Uint8Array
}

export class DocSession {
  readonly origin: PeerOrigin
  /** the peer sent us SYNC1 for this doc: it holds it, updates flow to it */
  remoteHolds = false
  /** we sent our SYNC1 in this connection */
  sentSync1 = false
  /** the peer answered one of our SYNC1s: we have its state as of then */
  gotSync2 = false
  /** a SYNC1 asking for missing dependencies is outstanding */
  resyncInFlight = false
  /** seq of the last UPDATE/SYNC2 we sent, and the highest the peer acknowledged as stored */
  sentSeq = 0
  ackedSeq = 0
  /** the state vector the peer last said it has stored */
  remoteStateVector: Uint8Array | undefined
  /** highest seq s such that every frame <= s from the peer is applied */
  recvContig = 0
  readonly recvAhead = new Set<number>()
  /** seq we will acknowledge next; the ACK loop runs while this is ahead of what was sent */
  ackWanted = 0
  ackLoop = false
  /** updates coalesced while the link is not writable */
  owed: UpdateBatch | null = null
  /** awareness clientIDs this peer speaks for (it introduced them; see admitAwareness) */
  readonly awarenessClients = new Set<number>()
  /** present clientIDs another peer speaks for that this one announced too (a second path) */
  readonly awarenessSeen = new Set<number>()
  /** the DENIED reason last sent for refused writes, until a write of the peer is applied again (avoid DENIED storms) */
  deniedWrites: number | undefined
  /** SYNC2_PARTs of the answer now arriving, applied so far */
  partsApplied = 0
  /** seq the next part (or the SYNC2 ending them) must carry; 0: no parts arriving */
  private partsNextSeq = 0
  /** a part of this answer was not applied (refused, or its seq skipped) */
  private partsGap = false
  /** the peer told us our writes are refused, and why (DENIED read_only or quota_exceeded): do not expect ACKs */
  writesRefused: number | undefined
  /** our answer to the peer's SYNC1 may still be on its way out (see answer.ts) */
  answerOutstanding = false
  /** the latest SYNC1 that came while an answer was outstanding, answered once it is not */
  deferredSync1: DeferredSync1 | undefined
  /** what our last answer answered: the doc version and the peer's state vector */
  answered: { version: number, stateVector: Uint8Array } | undefined

  constructor (readonly peer: string, readonly keyHex: string) {
    this.origin = new PeerOrigin(peer)
  }

  /** Note an applied UPDATE seq; keeps `recvContig` contiguous under reordering. */
  noteUpdateSeq (seq: number): void {
    if (seq <= this.recvContig) return
    if (seq === this.recvContig + 1) {
      this.recvContig = seq
      while (this.recvAhead.delete(this.recvContig + 1)) this.recvContig++
    } else if (this.recvAhead.size < 4096) {
      this.recvAhead.add(seq)
    }
  }

  /** A SYNC2_PART arrived: `applied` false if it was dropped (refused writes). */
  notePart (seq: number, applied: boolean): void {
    if (this.partsNextSeq !== 0 && seq !== this.partsNextSeq) this.partsGap = true
    this.partsNextSeq = seq + 1
    if (applied) this.partsApplied++
    else this.partsGap = true
  }

  /**
   * The SYNC2 `seq` ends an answer. True if it may stand for the whole answer:
   * no parts came before it, or all of them were applied, in sequence, right
   * up to it. Starts afresh for the next answer.
   */
  endAnswer (seq: number): boolean {
    const whole = this.partsNextSeq === 0 || (!this.partsGap && seq === this.partsNextSeq)
    this.partsNextSeq = 0
    this.partsGap = false
    this.partsApplied = 0
    return whole
  }

  /** A SYNC2 carries everything the sender had: it covers every seq up to its own. */
  noteSync2Seq (seq: number): void {
    if (seq > this.recvContig) {
      this.recvContig = seq
      for (const s of this.recvAhead) if (s <= seq) this.recvAhead.delete(s)
      while (this.recvAhead.delete(this.recvContig + 1)) this.recvContig++
    }
  }

  /** The peer holds the doc, answered us, has stored all we sent, and nothing is held back. */
  get acknowledgedAll (): boolean {
    return this.remoteHolds && this.gotSync2 && this.owed === null && this.ackedSeq >= this.sentSeq
  }
}
