/**
 * How sessions start (PROTOCOL §3.1): HELLO both ways, then offers (our SYNC1
 * per doc the peer may see), or silent resumption when this very incarnation
 * of the peer already stored a doc exactly as we hold it. Also what makes
 * resumption possible: the fingerprints a leaving peer had stored
 * (`PeerMemory`), and those of docs we closed, so a returning peer hears of
 * docs that changed while they were closed.
 */
import * as Y from 'yjs'
import { equals } from 'uint8arrays/equals'
import { Access } from '../policy/types.js'
import type { HelloFrame } from '../protocol/codec.js'
import { ByeReason, MessageType, MIN_MAX_FRAME_BYTES, OUR_FEATURES } from '../protocol/constants.js'
import { docKeyHex } from '../protocol/doc-key.js'
import type { Answers } from './answer.js'
import type { SyncContext } from './context.js'
import type { DocResolver } from './doc-resolver.js'
import type { EngineDoc } from './engine-doc.js'
import { PeerMemory } from './peer-memory.js'
import type { PeerState } from './peers.js'
import type { EngineExtension } from './extension.js'

/** remembered for a doc the peer holds in a state other than ours: equals no fingerprint */
const NOT_IN_SYNC = ''

export interface SessionStartOptions {
  /** grants and the like (extension.ts): feature bits, frames before our offers */
  readonly extension?: EngineExtension | undefined
  /** random per process: peers resume sessions with us only while it is unchanged */
  readonly epoch: Uint8Array
  /** the largest frame body we accept, announced in HELLO */
  readonly maxFrameBytes: number
}

export class SessionStart {
  private readonly memory = new PeerMemory()

  constructor (
    private readonly ctx: SyncContext,
    private readonly answers: Pick<Answers, 'sendSync1'>,
    private readonly resolver: Pick<DocResolver, 'reopenChanged'> | undefined,
    private readonly opts: SessionStartOptions
  ) {}

  /** A new connection: our HELLO, and from the dialer, SYNC1s right behind it. */
  greet (peer: PeerState): void {
    const ext = this.opts.extension
    this.ctx.peers.send(peer, { type: MessageType.HELLO, maxFrameBytes: this.opts.maxFrameBytes, features: OUR_FEATURES | (ext?.features ?? 0), epoch: this.opts.epoch })
    // The side that opened the link speaks first: a peer we remember nothing of
    // gets our SYNC1s right behind our HELLO (its HELLO could only tell us to
    // resume sessions we do not have), which saves the HELLO round trip on a join.
    // Not when we hold grants: they go first, once the peer's HELLO says it checks them.
    if (peer.link.initiator === true && this.memory.syncedWith(peer.id) === undefined && ext?.presentsFirst() !== true) {
      for (const doc of this.ctx.docs()) this.offer(peer, doc)
    }
  }

  /** The peer's HELLO. */
  receiveHello (peer: PeerState, frame: HelloFrame): void {
    if (peer.helloReceived) { this.ctx.peers.reject(peer, ByeReason.PROTOCOL_ERROR, 'second HELLO'); return }
    if (frame.maxFrameBytes < MIN_MAX_FRAME_BYTES) { this.ctx.peers.reject(peer, ByeReason.PROTOCOL_ERROR, 'max frame size too small'); return }
    peer.helloReceived = true
    clearTimeout(peer.helloTimer)
    peer.helloTimer = undefined
    peer.maxFrameBytes = Math.min(frame.maxFrameBytes, this.opts.maxFrameBytes)
    peer.features = frame.features
    peer.remembered = this.memory.hello(peer.id, docKeyHex(frame.epoch))
    this.opts.extension?.hello(peer)
    // Offer after the frames that came with the HELLO: a joiner's SYNC1s
    // often do, and answering them first puts the SYNC2 on the wire before
    // we spend time on our own SYNC1s (see `runOffers`).
    peer.offersPending = true
    queueMicrotask(() => { this.runOffers(peer) })
  }

  /**
   * The offers a HELLO asked for: resume or SYNC1 every doc, reopen docs that
   * changed for this peer. Any frame but a SYNC1 runs them first, so an
   * UPDATE on a resumed session is never mistaken for one outside a session.
   */
  runOffers (peer: PeerState): void {
    if (!peer.offersPending || peer.closed) return
    peer.offersPending = false
    for (const doc of this.ctx.docs()) this.offer(peer, doc)
    if (peer.remembered !== undefined) this.resolver?.reopenChanged(peer, peer.remembered)
  }

  /** A doc was opened: offer it to every peer past HELLO. */
  offerToAll (doc: EngineDoc): void {
    for (const peer of this.ctx.peers.values()) {
      if (peer.helloReceived) this.offer(peer, doc)
    }
  }

  /**
   * Start a session: send our SYNC1 if the peer may see the doc — unless this
   * very incarnation of the peer already stored the doc exactly as we hold it,
   * in which case the session resumes silently (reconnects cost what changed).
   */
  offer (peer: PeerState, doc: EngineDoc): void {
    // a doc opened only to serve peers is offered to peers known to hold it; others ask
    if (doc.servedOnly && peer.remembered?.has(doc.keyHex) !== true) return
    if (this.ctx.access(peer.id, doc) === Access.NONE) return
    // already offered in this connection, or the peer's SYNC1 came first and we answered it
    if (this.ctx.sessions.get(peer, doc.keyHex)?.sentSync1 === true) return
    this.opts.extension?.offering(peer, doc)
    const s = this.ctx.sessions.open(peer, doc)
    if (s === undefined) return
    const remembered = peer.remembered?.get(doc.keyHex)
    if (remembered !== undefined && remembered === this.ctx.fingerprints.fingerprint(doc)) {
      s.remoteHolds = true
      s.gotSync2 = true
      this.ctx.counters.sessionsResumed++
      return
    }
    this.answers.sendSync1(peer, doc, s, 0)
  }

  /**
   * The connection is going (its sessions not yet ended): remember, per doc
   * the peer holds, the state it has stored when that is exactly ours, so the
   * next connection can resume. A doc it holds in some other state is
   * remembered too, as held and not in sync: the peer may resume its side
   * (it stored all we acknowledged), so we must offer the doc again, by key
   * if need be, never leave it out. Done here rather than per ACK: a
   * fingerprint costs O(delete set).
   */
  peerLeaving (peer: PeerState): void {
    if (peer.remembered === undefined) return
    for (const s of peer.sessions.values()) {
      if (!s.remoteHolds) continue
      const doc = this.ctx.doc(s.keyHex)
      const stored = doc !== undefined && doc.isSyncedWith(peer.id) && s.remoteStateVector !== undefined &&
        equals(s.remoteStateVector, Y.encodeStateVector(doc.doc))
      this.memory.record(peer.id, s.keyHex, stored ? this.ctx.fingerprints.fingerprint(doc) : NOT_IN_SYNC)
    }
  }

  /** A session ended while the peer stays: a later session must start with SYNC1. */
  forget (peer: PeerState, keyHex: string): void {
    if (!peer.closed) this.memory.forgetDoc(peer.id, keyHex)
  }
}
