/**
 * Asking and answering: our SYNC1 (state vector + delete-set digest), and the
 * SYNC2 answer to a peer's. An answer that encodes above SPLIT_ANSWER_BYTES
 * goes to a peer that accepts parts as SYNC2_PARTs ended by the SYNC2, each
 * written at once, so that no frame (and no update a receiver must admit,
 * 8 MiB by default) has to hold a whole big document.
 *
 * What a peer's SYNC1s can make us do is bounded, so a reader cannot turn tiny
 * frames into unbounded queues or encodes:
 * - **One answer outstanding per (peer, doc).** An answer stays outstanding
 *   until, after the tick it was queued in, the link is writable. A SYNC1 that
 *   comes meanwhile (or while the link is not writable) is not answered: it is
 *   kept, the latest one only, and answered once the answer before it is out.
 *   A peer that stops reading therefore holds at most one answer per doc in
 *   our queues, whatever it sends.
 * - **Answers are cached per doc version**: the same state vector against an
 *   unchanged doc is answered from the last encode.
 */
import * as Y from 'yjs'
import { logger } from '../log.js'
import { Access } from '../policy/types.js'
import { ByeReason, Features, MAX_UPDATE_ITEMS, MessageType, Sync1Flags } from '../protocol/constants.js'
import { equals } from 'uint8arrays/equals'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { countItems, encodeUpdateV1, EMPTY_DELETES, UpdateParts, type DeleteRanges } from '../yjs/update-batch.js'
import type { AwarenessRelay } from './awareness-relay.js'
import type { SyncContext } from './context.js'
import type { DocSession } from './doc-session.js'
import type { EngineDoc } from './engine-doc.js'
import { ourStateVector } from './fingerprint.js'
import type { Outbound } from './outbound.js'
import type { PeerState } from './peers.js'

/** a SYNC2 at least this big is written at once, before anything else is computed */
const EAGER_SYNC2_BYTES = 64 * 1024
/**
 * Answers above this are sent in parts of about PART_BYTES (never more than
 * twice that unless one struct is bigger). Smaller answers stay whole: parts
 * made the B4 join slower, not faster (docs/BENCHMARKS.md, "Answers in parts: a capability, not a speed-up").
 */
const SPLIT_ANSWER_BYTES = 4 * 1024 * 1024
const PART_BYTES = 1024 * 1024
/** room for a frame's own fields (version, type, doc key, seq, parts left, length) */
const FRAME_OVERHEAD_BYTES = 64
/** state vectors longer than this are not used as cache keys */
const MAX_CACHE_KEY_BYTES = 4096
/**
 * answers above this are not cached (bigger ones go in parts): the cache holds
 * one answer per open doc, no bigger than the doc's own encoding, so it costs
 * less than the Y.Doc it answers for, and a joiner's whole document (or a
 * reader asking for it again and again) is encoded once per doc version
 */
const MAX_CACHED_ANSWER_BYTES = SPLIT_ANSWER_BYTES

/** the last whole answer encoded for a doc: for this doc version, this state vector and delete choice */
interface CachedAnswer {
  version: number
  key: string
  update: Uint8Array
}

const log = logger('sync')

export class Answers {
  private readonly cache = new WeakMap<EngineDoc, CachedAnswer>()
  /** peers whose outstanding answers are looked at again after this tick */
  private readonly settling = new Set<PeerState>()
  /** peers whose answers wait for their answer budget to refill */
  private readonly waiting = new Map<PeerState, ReturnType<typeof setTimeout>>()

  constructor (
    private readonly ctx: SyncContext,
    private readonly outbound: Pick<Outbound, 'sendBatch'>,
    private readonly awareness: Pick<AwarenessRelay, 'greet'>,
    /** DENIED unavailable, and the peer's memory of the doc forgotten (engine.ts `refuse`) */
    private readonly refuse: (peer: PeerState, docKey: Uint8Array) => void
  ) {}

  /** Ask the peer for what we lack (and tell it what we hold). */
  sendSync1 (peer: PeerState, doc: EngineDoc, s: DocSession, flags: number): void {
    s.sentSync1 = true
    this.ctx.peers.send(peer, {
      type: MessageType.SYNC1,
      docKey: doc.key,
      flags,
      stateVector: Y.encodeStateVector(doc.doc),
      dsDigest: this.ctx.fingerprints.dsDigest(doc)
    })
  }

  /** Ask every peer that holds the doc (after dropping what we held back for it). */
  resyncAll (doc: EngineDoc): void {
    for (const s of doc.sessions.values()) {
      const peer = this.ctx.peers.get(s.peer)
      if (peer !== undefined && !peer.closed && s.remoteHolds) this.sendSync1(peer, doc, s, 0)
    }
  }

  /** Open a session if need be and run a two-way SYNC round with the peer. */
  repair (peer: PeerState, doc: EngineDoc): void {
    if (peer.closed || this.ctx.access(peer.id, doc) === Access.NONE) return
    const s = this.ctx.sessions.open(peer, doc)
    if (s !== undefined) this.sendSync1(peer, doc, s, Sync1Flags.WANT_REPLY)
  }

  /** A peer's SYNC1: answer with what it lacks, ask back if we have not, greet a joiner. */
  receiveSync1 (peer: PeerState, doc: EngineDoc, flags: number, sv: Uint8Array, digest: Uint8Array): void {
    const since = this.ctx.peers.readStateVector(peer, sv)
    if (since === undefined) return
    const s = this.ctx.sessions.open(peer, doc)
    if (s === undefined) {
      this.refuse(peer, doc.key)
      return
    }
    // what we keep of the question is never bigger than our own state vector, whatever the peer sent
    const question = ourStateVector(doc, since)
    const wait = peer.answerBucket.waitMs()
    if (s.answerOutstanding || !peer.link.writable || wait > 0) {
      // answered once the answer before it is out (settle / drained) and the
      // peer's answer budget allows: the latest state vector wins
      if (s.deferredSync1 !== undefined) this.ctx.ignore('sync1_coalesced')
      s.deferredSync1 = { flags: flags | (s.deferredSync1?.flags ?? 0), stateVector: question, dsDigest: digest.slice() }
      peer.answering.add(s)
      if (wait > 0) this.settleLater(peer, wait)
      else this.settleSoon(peer)
      return
    }
    // this answer also answers a question still waiting from before (its flags still count)
    if (s.deferredSync1 !== undefined) {
      flags |= s.deferredSync1.flags
      s.deferredSync1 = undefined
    }
    // send what is queued to everyone else; for this peer the SYNC2 below covers it
    this.outbound.sendBatch(doc)
    const joined = !s.remoteHolds
    s.remoteHolds = true
    s.owed = null
    peer.owing.delete(s)
    // A peer with an empty state vector holds no structs, so it has deleted
    // nothing: it needs our whole delete set, and comparing digests is wasted work.
    const fp = this.ctx.fingerprints
    const deletes = since.size > 0 && equals(fp.dsDigest(doc), digest) ? EMPTY_DELETES : fp.deleteRanges(doc)
    this.answer(peer, doc, s, since, sv, deletes)
    s.answered = { version: doc.version, stateVector: question }
    s.answerOutstanding = true
    peer.answering.add(s)
    this.settleSoon(peer)
    if (!s.sentSync1 || (flags & Sync1Flags.WANT_REPLY) !== 0) this.sendSync1(peer, doc, s, 0)
    if (joined) this.awareness.greet(peer, doc)
    doc.notifyStatus()
  }

  /** Settle after this tick (the link may be written out by then). */
  private settleSoon (peer: PeerState): void {
    if (this.settling.has(peer)) return
    this.settling.add(peer)
    queueMicrotask(() => { this.settle(peer) })
  }

  /** The peer's answer budget is spent: settle once it has refilled. */
  private settleLater (peer: PeerState, ms: number): void {
    if (this.waiting.has(peer)) return
    this.ctx.ignore('answer_throttled')
    const timer = setTimeout(() => {
      this.waiting.delete(peer)
      this.settle(peer)
    }, ms)
    // never keeps a process alive on its own (browsers return a number)
    ;(timer as { unref?: () => void }).unref?.()
    this.waiting.set(peer, timer)
  }

  /**
   * After the tick an answer went out in, and whenever the link drains: the
   * answers that are out are no longer outstanding, and a SYNC1 that waited
   * for one is answered now (while the link stays writable).
   */
  settle (peer: PeerState): void {
    this.settling.delete(peer)
    if (peer.closed || !peer.link.writable) return
    for (const s of [...peer.answering]) {
      if (!peer.link.writable || peer.closed) return
      if (s.deferredSync1 !== undefined) {
        const wait = peer.answerBucket.waitMs()
        if (wait > 0) { s.answerOutstanding = false; this.settleLater(peer, wait); continue }
      }
      s.answerOutstanding = false
      peer.answering.delete(s)
      const waiting = s.deferredSync1
      s.deferredSync1 = undefined
      const doc = this.ctx.doc(s.keyHex)
      if (waiting === undefined || doc === undefined || this.ctx.sessions.get(peer, s.keyHex) !== s) continue
      try {
        // the policy may have changed while the question waited
        if (this.ctx.access(peer.id, doc) === Access.NONE) { this.refuse(peer, doc.key); continue }
        const last = s.answered
        if (last !== undefined && last.version === doc.version && equals(last.stateVector, waiting.stateVector)) {
          // the answer already sent answers this one too (same question, same doc)
          this.ctx.ignore('sync1_answered')
          if ((waiting.flags & Sync1Flags.WANT_REPLY) !== 0) this.sendSync1(peer, doc, s, 0)
          continue
        }
        this.receiveSync1(peer, doc, waiting.flags, waiting.stateVector, waiting.dsDigest)
      } catch (err) {
        // as a frame handler would: this peer is closed, the process keeps serving the others
        log.error('answering %s for %s failed: %e', doc.id, peer.id, err)
        this.ctx.peers.reject(peer, ByeReason.INTERNAL, 'internal error')
        return
      }
    }
  }

  private answer (peer: PeerState, doc: EngineDoc, s: DocSession, since: Map<number, number>, sv: Uint8Array, deletes: DeleteRanges): void {
    // Nearly every answer is small: encode it whole, and plan parts only when it
    // turns out big (encoding a big one twice costs less than planning every one).
    // An answer with more items than a receiver applies in one go is planned in parts at once.
    const partsOk = (peer.features & Features.SYNC2_PARTS) !== 0
    const manyItems = partsOk && countItems(doc.doc, since, deletes) > MAX_UPDATE_ITEMS
    const limitBytes = peer.maxFrameBytes - FRAME_OVERHEAD_BYTES
    if (!manyItems) {
      const whole = this.encodeWhole(doc, since, sv, deletes)
      if (!partsOk || whole.length <= Math.min(SPLIT_ANSWER_BYTES, limitBytes)) {
        this.sendPart(peer, doc, s, whole, 0)
        return
      }
    }
    // parts are planned at PART_BYTES and never larger than twice that (unless
    // one struct is), with at most MAX_UPDATE_ITEMS items each: well inside
    // what a receiver admits per update
    const partBytes = Math.min(PART_BYTES, limitBytes)
    const parts = new UpdateParts(doc.doc, since, deletes, { partBytes, limitBytes: Math.min(2 * PART_BYTES, limitBytes), maxItems: MAX_UPDATE_ITEMS, writer: this.ctx.structWriter })
    for (let update = parts.next(); update !== undefined; update = parts.next()) {
      if (!this.sendPart(peer, doc, s, update, parts.left)) return
    }
  }

  /** The whole answer to `since`, from the cache when the doc has not changed since the same question. */
  private encodeWhole (doc: EngineDoc, since: Map<number, number>, sv: Uint8Array, deletes: DeleteRanges): Uint8Array {
    if (sv.length > MAX_CACHE_KEY_BYTES) return encodeUpdateV1(doc.doc, since, deletes, false, this.ctx.structWriter)
    const key = `${deletes === EMPTY_DELETES ? 'n' : 'd'}${uint8ArrayToString(sv, 'base64')}`
    const cached = this.cache.get(doc)
    if (cached !== undefined && cached.version === doc.version && cached.key === key) {
      this.ctx.counters.answersCached++
      return cached.update
    }
    const update = encodeUpdateV1(doc.doc, since, deletes, false, this.ctx.structWriter)
    if (update.length <= MAX_CACHED_ANSWER_BYTES) this.cache.set(doc, { version: doc.version, key, update })
    else this.cache.delete(doc)
    return update
  }

  /** One frame of an answer (`partsLeft` 0: the SYNC2 that ends it). False if it could not be sent. */
  private sendPart (peer: PeerState, doc: EngineDoc, s: DocSession, update: Uint8Array, partsLeft: number): boolean {
    const seq = s.sentSeq + 1
    const sent = partsLeft === 0
      ? this.ctx.peers.send(peer, { type: MessageType.SYNC2, docKey: doc.key, seq, update })
      : this.ctx.peers.send(peer, { type: MessageType.SYNC2_PART, docKey: doc.key, seq, partsLeft, update })
    if (!sent) return false
    peer.answerBucket.spend(update.length)
    s.sentSeq = seq
    this.ctx.counters.updatesSent++
    if (partsLeft > 0) this.ctx.counters.sync2PartsSent++
    // a whole document (or a part of one) for a joiner: on the wire now, before anything else is computed
    if (partsLeft > 0 || update.length >= EAGER_SYNC2_BYTES) this.ctx.peers.writeNow(peer)
    return true
  }
}
