/**
 * The sync engine: transport-agnostic. It consumes frame bodies from peers and
 * emits frame bodies to them; it owns the per-(peer, doc) sessions, forwarding,
 * acknowledgement and anti-entropy. `docs/PROTOCOL.md` describes the exchange.
 */
import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import { ProtocolError } from '../errors.js'
import { logger } from '../log.js'
import { Access, allowAll, type Policy } from '../policy/types.js'
import { decodeFrame, encodeFrame, type DocFrame, type Frame } from '../protocol/codec.js'
import {
  ByeReason, byeReasonName, DEFAULT_MAX_FRAME_BYTES, DeniedReason, EPOCH_BYTES, Features, MessageType, MIN_MAX_FRAME_BYTES, OUR_FEATURES, Sync1Flags
} from '../protocol/constants.js'
import { docKeyHex } from '../protocol/doc-key.js'
import { encodeUpdateV1, EMPTY_DELETES, UpdateBatch, UpdateParts, type DeleteRanges } from '../yjs/update-batch.js'
import { DEFAULT_LIMITS, type Limits } from '../security/limits.js'
import { TokenBucket } from '../security/token-bucket.js'
import { AuthorRegistry, type AuthorshipOptions } from '../security/authorship.js'
import { DocSession } from './doc-session.js'
import { PeerMemory } from './peer-memory.js'
import { admitAwareness, admitUpdate, pendingBytes } from './admit.js'
import { docDeleteRanges, docDsDigest, docFingerprint, equalBytes } from './fingerprint.js'
import { EngineDoc, type DocSyncProgress } from './engine-doc.js'
import { PeerOrigin, type EngineCounters, type PeerConnection, type PeerLink } from './types.js'

const log = logger('sync')

export interface SyncEngineOptions {
  /** who may read / write which doc; default: everyone everything */
  policy?: Policy
  /** largest frame body we accept and announce (default 16 MiB) */
  maxFrameBytes?: number
  /** run anti-entropy (SYNC1 to every session) this often; 0 disables the timer (default 30 s) */
  antiEntropyIntervalMs?: number
  /** flush the outgoing batch synchronously after this many transactions (default 512) */
  maxBatchTransactions?: number
  /** caps on what one peer may send (see lib/security/limits.ts) */
  limits?: Partial<Limits>
  /** bind clientIDs to the PeerId that first used them; relays may send anyone's structs */
  authorship?: AuthorshipOptions
  /** our own PeerId (authorship binds our clientIDs to it) */
  localPeerId?: string
  /** every this many anti-entropy ticks, SYNC1 every session, synced or not (default 10) */
  fullResyncEvery?: number
  /**
   * Called on SYNC1 for a doc that is not open: may open it (and `addDoc` it)
   * and resolve with it, e.g. a gateway serving every stored doc by key.
   */
  resolveDoc?: (peerId: string, keyHex: string) => Promise<EngineDoc | undefined>
}

interface PeerState {
  readonly id: string
  readonly link: PeerLink
  readonly sessions: Map<string, DocSession>
  /** sessions holding coalesced updates, to send on drain */
  readonly dirty: Set<DocSession>
  helloReceived: boolean
  maxFrameBytes: number
  /** feature bits of the peer's HELLO (0 until it arrives) */
  features: number
  closed: boolean
  readonly frameBucket: TokenBucket
  readonly byteBucket: TokenBucket
  helloTimer: ReturnType<typeof setTimeout> | undefined
  /** doc key -> fingerprint this peer had stored when we last knew (this incarnation) */
  remembered: Map<string, string> | undefined
  /** HELLO arrived; its offers (our SYNC1s) wait until the frames that came with it are handled */
  offersPending: boolean
}

/** a SYNC2 at least this big is written at once, before anything else is computed */
const EAGER_SYNC2_BYTES = 64 * 1024

/**
 * An answer that encodes above this goes to peers that accept parts as
 * SYNC2_PARTs of about PART_BYTES each, so that no frame (and no update a
 * receiver has to admit, 8 MiB by default) has to hold a whole big document. Smaller answers
 * stay whole: measured on the B4 join (311 KB), parts of 64 KiB and up made
 * the join slower, not faster (docs/BENCHMARKS.md).
 */
const SPLIT_ANSWER_BYTES = 4 * 1024 * 1024
const PART_BYTES = 1024 * 1024
/** room for a frame's own fields (version, type, doc key, seq, parts left, length) */
const FRAME_OVERHEAD_BYTES = 64

/** Awareness changes made by the engine itself (peer gone); forwarded to everyone. */
const AWARENESS_CLEANUP = Symbol('meshdoc:awareness-cleanup')

export class SyncEngine {
  private readonly docs = new Map<string, EngineDoc>()
  private readonly peers = new Map<string, PeerState>()
  private readonly detach = new Map<string, () => void>()
  private policy: Policy
  private readonly maxFrameBytes: number
  private readonly maxBatch: number
  private timer: ReturnType<typeof setInterval> | undefined
  private stopped = false
  readonly limits: Limits
  private readonly relays: ReadonlySet<string> | undefined
  private readonly localPeerId: string
  /** random per process: peers resume sessions with us only while it is unchanged */
  readonly epoch: Uint8Array
  private readonly memory = new PeerMemory()
  private readonly fullEvery: number
  private ticks = 0
  private readonly resolveDoc: SyncEngineOptions['resolveDoc']
  /** fingerprint of each doc when it was last closed, so a returning peer learns what changed */
  private readonly closedFingerprints = new Map<string, string>()
  /** ACK loops waiting for storage: a stopping node sends them before BYE */
  private readonly acking = new Set<Promise<void>>()
  /** docs whose outgoing batch waits for its microtask flush; `delivered()` sends them sooner */
  private readonly flushPending = new Set<EngineDoc>()
  /** peers whose link has frames queued since the last `delivered()` */
  private readonly unflushed = new Set<PeerState>()
  /** frames waiting while a doc is being opened for them */
  private readonly resolving = new Map<string, Array<[PeerState, DocFrame]>>()
  /** told when a peer's sync session starts (true) or ends (false) */
  onPeer: ((peerId: string, up: boolean) => void) | undefined
  readonly counters: EngineCounters = {
    framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, updatesApplied: 0, updatesSent: 0, peersConnected: 0, updatesForwarded: 0, sessionsResumed: 0, sync2PartsSent: 0, sync2PartsApplied: 0, rejected: {}, ignored: {}
  }

  constructor (opts: SyncEngineOptions = {}) {
    this.policy = opts.policy ?? allowAll
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.maxBatch = opts.maxBatchTransactions ?? 512
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits }
    this.relays = opts.authorship !== undefined ? new Set(opts.authorship.relays) : undefined
    this.localPeerId = opts.localPeerId ?? 'local'
    this.epoch = crypto.getRandomValues(new Uint8Array(EPOCH_BYTES))
    this.fullEvery = opts.fullResyncEvery ?? 10
    this.resolveDoc = opts.resolveDoc
    const every = opts.antiEntropyIntervalMs ?? 30_000
    if (every > 0) {
      this.timer = setInterval(() => {
        this.runAntiEntropy({ full: ++this.ticks % this.fullEvery === 0 })
      }, every)
    }
  }

  /** Replace the policy; takes effect at once on every open session. */
  setPolicy (policy: Policy): void {
    this.policy = policy
    for (const peer of this.peers.values()) {
      for (const s of [...peer.sessions.values()]) {
        const doc = this.docs.get(s.keyHex)
        if (doc !== undefined && this.access(peer.id, doc) === Access.NONE) this.endSession(peer, doc, s, true)
      }
    }
  }

  get peerIds (): string[] {
    return [...this.peers.keys()]
  }

  get docCount (): number {
    return this.docs.size
  }

  /** Every doc the engine syncs now (opened by the app or served by key). */
  get openDocs (): EngineDoc[] {
    return [...this.docs.values()]
  }

  // ---------------------------------------------------------------- documents

  /** Start syncing a document. Its persistence (if any) must already be loaded. */
  addDoc (doc: EngineDoc): void {
    if (this.docs.has(doc.keyHex)) throw new Error(`document ${doc.id} is already open`)
    this.docs.set(doc.keyHex, doc)
    if (this.relays !== undefined) {
      doc.authors = new AuthorRegistry(this.relays, this.localPeerId)
      doc.authors.claim(doc.doc.clientID)
    }
    const onTx = (tr: Y.Transaction): void => { this.onTransaction(doc, tr) }
    const onAwareness = (change: { added: number[], updated: number[], removed: number[] }, origin: unknown): void => {
      this.onAwareness(doc, change, origin)
    }
    doc.doc.on('afterTransactionCleanup', onTx)
    doc.awareness.on('update', onAwareness)
    this.detach.set(doc.keyHex, () => {
      doc.doc.off('afterTransactionCleanup', onTx)
      doc.awareness.off('update', onAwareness)
    })
    for (const peer of this.peers.values()) {
      if (peer.helloReceived) this.offerDoc(peer, doc)
    }
  }

  /** Stop syncing a document; peers are told we no longer hold it. */
  removeDoc (doc: EngineDoc): void {
    if (this.docs.get(doc.keyHex) !== doc) return
    this.sendBatch(doc)
    for (const peer of this.peers.values()) {
      const s = peer.sessions.get(doc.keyHex)
      if (s === undefined) continue
      this.send(peer, { type: MessageType.DENIED, docKey: doc.key, reason: DeniedReason.UNAVAILABLE })
      this.endSession(peer, doc, s, false)
    }
    this.detach.get(doc.keyHex)?.()
    this.detach.delete(doc.keyHex)
    this.docs.delete(doc.keyHex)
    if (this.closedFingerprints.size >= MAX_CLOSED_FINGERPRINTS) {
      const oldest = this.closedFingerprints.keys().next().value
      if (oldest !== undefined) this.closedFingerprints.delete(oldest)
    }
    this.closedFingerprints.delete(doc.keyHex)
    this.closedFingerprints.set(doc.keyHex, docFingerprint(doc))
  }

  private onTransaction (doc: EngineDoc, tr: Y.Transaction): void {
    doc.fingerprint = undefined
    doc.deleteRanges = undefined
    if (doc.persistence !== undefined && doc.persistence.absorb(tr) && !doc.saveScheduled) {
      doc.saveScheduled = true
      queueMicrotask(() => {
        doc.saveScheduled = false
        this.save(doc)
      })
    }
    const from = tr.origin instanceof PeerOrigin ? tr.origin.peer : null
    if (!doc.absorb(tr, from)) return
    if (doc.batch.txns >= this.maxBatch) {
      this.sendBatch(doc)
    } else if (!doc.flushScheduled) {
      doc.flushScheduled = true
      this.flushPending.add(doc)
      queueMicrotask(() => { this.sendBatch(doc) })
    }
  }

  private save (doc: EngineDoc): void {
    if (doc.persistence === undefined || doc.closed) return
    doc.persistence.flush().then(() => {
      doc.emit('saved', [])
      doc.emit('status', [doc.status()])
    }, (err: Error) => {
      log.error('storing %s failed: %e', doc.id, err)
      doc.emit('error', [err])
    })
  }

  /** Send the outgoing batch of `doc` to every peer that holds it (except its only origin). */
  sendBatch (doc: EngineDoc): void {
    doc.flushScheduled = false
    this.flushPending.delete(doc)
    const taken = doc.takeBatch()
    if (taken === undefined) return
    let bytes: Uint8Array | undefined
    for (const s of doc.sessions.values()) {
      if (!s.remoteHolds || s.peer === taken.origin) continue
      const peer = this.peers.get(s.peer)
      if (peer === undefined || peer.closed) continue
      if (this.access(s.peer, doc) === Access.NONE) continue
      if (s.owed !== null || !peer.link.writable) {
        this.holdBack(peer, s, taken.batch)
        continue
      }
      bytes ??= taken.batch.encode(doc.doc)
      this.sendUpdate(peer, doc, s, bytes)
      if (taken.origin !== null) this.counters.updatesForwarded++
    }
    doc.notifyStatus()
  }

  private holdBack (peer: PeerState, s: DocSession, batch: UpdateBatch): void {
    // copy: the same batch object may still be sent to other peers
    s.owed ??= new UpdateBatch()
    s.owed.absorbBatch(batch)
    peer.dirty.add(s)
  }

  private sendUpdate (peer: PeerState, doc: EngineDoc, s: DocSession, update: Uint8Array): void {
    // a seq is used only by a frame that went out: a refused one must not leave a gap the peer waits on
    if (!this.send(peer, { type: MessageType.UPDATE, docKey: doc.key, seq: s.sentSeq + 1, update })) return
    s.sentSeq++
    this.counters.updatesSent++
  }

  private onAwareness (doc: EngineDoc, change: { added: number[], updated: number[], removed: number[] }, origin: unknown): void {
    const changed = [...change.added, ...change.updated, ...change.removed]
    if (changed.length === 0) return
    const from = origin instanceof PeerOrigin ? origin.peer : null
    if (from !== null) {
      const s = doc.sessions.get(from)
      if (s !== undefined) {
        for (const c of [...change.added, ...change.updated]) s.awarenessClients.add(c)
        for (const c of change.removed) s.awarenessClients.delete(c)
      }
    }
    let update: Uint8Array | undefined
    for (const s of doc.sessions.values()) {
      if (!s.remoteHolds || s.peer === from) continue
      const peer = this.peers.get(s.peer)
      if (peer === undefined || peer.closed || this.access(s.peer, doc) === Access.NONE) continue
      update ??= awarenessProtocol.encodeAwarenessUpdate(doc.awareness, changed)
      this.send(peer, { type: MessageType.AWARENESS, docKey: doc.key, update })
    }
  }

  // ---------------------------------------------------------------- peers

  /** A transport connected a peer. Returns the callbacks the transport drives. */
  addPeer (peerId: string, link: PeerLink): PeerConnection {
    const existing = this.peers.get(peerId)
    if (existing !== undefined) {
      log('peer %s reconnected; replacing the old link', peerId)
      this.bye(existing, ByeReason.DUPLICATE_CONNECTION, 'replaced by a newer connection')
    }
    const lim = this.limits
    const peer: PeerState = {
      id: peerId,
      link,
      sessions: new Map(),
      dirty: new Set(),
      helloReceived: false,
      maxFrameBytes: MIN_MAX_FRAME_BYTES,
      features: 0,
      closed: false,
      frameBucket: new TokenBucket(lim.framesPerSecond, lim.frameBurst),
      byteBucket: new TokenBucket(lim.bytesPerSecond, Math.max(lim.byteBurst, this.maxFrameBytes)),
      helloTimer: undefined,
      remembered: undefined,
      offersPending: false
    }
    peer.helloTimer = setTimeout(() => { this.reject(peer, ByeReason.TIMEOUT, 'no HELLO in time') }, lim.helloTimeoutMs)
    this.peers.set(peerId, peer)
    this.counters.peersConnected = this.peers.size
    this.send(peer, { type: MessageType.HELLO, maxFrameBytes: this.maxFrameBytes, features: OUR_FEATURES, epoch: this.epoch })
    // The side that opened the link speaks first: a peer we remember nothing of
    // gets our SYNC1s right behind our HELLO (its HELLO could only tell us to
    // resume sessions we do not have), which saves the HELLO round trip on a join.
    if (link.initiator === true && this.memory.syncedWith(peerId) === undefined) {
      for (const doc of this.docs.values()) this.offerDoc(peer, doc)
    }
    log('peer %s connected', peerId)
    this.onPeer?.(peerId, true)
    return {
      receive: (body) => { this.receive(peer, body) },
      delivered: () => { this.delivered() },
      drained: () => { this.drained(peer) },
      closed: () => { this.removePeer(peer) },
      fail: (code, message) => { this.reject(peer, code, message) }
    }
  }

  private removePeer (peer: PeerState): void {
    if (peer.closed) return
    peer.closed = true
    this.unflushed.delete(peer)
    if (peer.helloTimer !== undefined) clearTimeout(peer.helloTimer)
    this.rememberSynced(peer)
    if (this.peers.get(peer.id) === peer) this.peers.delete(peer.id)
    this.counters.peersConnected = this.peers.size
    for (const [key, s] of peer.sessions) {
      const doc = this.docs.get(key)
      if (doc !== undefined) this.endSession(peer, doc, s, false)
    }
    peer.sessions.clear()
    peer.dirty.clear()
    log('peer %s disconnected', peer.id)
    if (!this.peers.has(peer.id)) this.onPeer?.(peer.id, false)
  }

  /**
   * The connection is going: remember, per doc, the state this peer has stored
   * (when it has stored exactly ours), so the next connection can resume. Done
   * here rather than per ACK: a fingerprint costs O(delete set).
   */
  private rememberSynced (peer: PeerState): void {
    if (peer.remembered === undefined) return
    for (const s of peer.sessions.values()) {
      const doc = this.docs.get(s.keyHex)
      if (doc === undefined || !doc.isSyncedWith(peer.id) || s.remoteStateVector === undefined) continue
      if (!equalBytes(s.remoteStateVector, Y.encodeStateVector(doc.doc))) continue
      this.memory.record(peer.id, s.keyHex, docFingerprint(doc))
    }
  }

  private endSession (peer: PeerState, doc: EngineDoc, s: DocSession, notify: boolean): void {
    // the peer ends its side too (DENIED or disconnect): a later session must start with SYNC1
    if (!peer.closed) this.memory.forgetDoc(peer.id, doc.keyHex)
    peer.sessions.delete(doc.keyHex)
    peer.dirty.delete(s)
    if (doc.sessions.get(peer.id) === s) doc.sessions.delete(peer.id)
    if (notify && !peer.closed) this.send(peer, { type: MessageType.DENIED, docKey: doc.key, reason: DeniedReason.UNAVAILABLE })
    const stillKnown = new Set<number>()
    for (const other of doc.sessions.values()) for (const c of other.awarenessClients) stillKnown.add(c)
    const gone = [...s.awarenessClients].filter(c => !stillKnown.has(c) && c !== doc.awareness.clientID)
    if (gone.length > 0) awarenessProtocol.removeAwarenessStates(doc.awareness, gone, AWARENESS_CLEANUP)
    doc.notifyStatus()
  }

  /** Close a peer with a reason: BYE, close the link, forget it. */
  bye (peer: PeerState, reason: number, message: string): void {
    if (peer.closed) return
    this.send(peer, { type: MessageType.BYE, reason, message })
    peer.link.close()
    this.removePeer(peer)
  }

  /** Close every peer (with BYE) and stop timers. Idempotent. */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    for (const doc of this.docs.values()) this.sendBatch(doc)
    for (const peer of [...this.peers.values()]) this.bye(peer, ByeReason.SHUTDOWN, 'node stopping')
    for (const doc of [...this.docs.values()]) this.removeDoc(doc)
  }

  private drained (peer: PeerState): void {
    for (const s of peer.dirty) {
      if (!peer.link.writable || peer.closed) return
      peer.dirty.delete(s)
      const doc = this.docs.get(s.keyHex)
      const owed = s.owed
      s.owed = null
      if (doc === undefined || owed === null) continue
      this.sendUpdate(peer, doc, s, owed.encode(doc.doc))
      doc.notifyStatus()
    }
  }

  /** Frame and send; false if the peer is gone or the frame exceeds its limit. */
  private send (peer: PeerState, frame: Frame): boolean {
    if (peer.closed) return false
    const body = encodeFrame(frame)
    if (body.length > peer.maxFrameBytes && frame.type !== MessageType.HELLO) {
      // SYNC2 answers are split (SYNC2_PART); one UPDATE or struct this big is not
      const err = new Error(`frame of ${body.length} bytes exceeds peer ${peer.id}'s limit of ${peer.maxFrameBytes}`)
      log.error('%s', err.message)
      if ('docKey' in frame) this.docs.get(docKeyHex(frame.docKey))?.emit('error', [err])
      return false
    }
    this.counters.framesOut++
    this.counters.bytesOut += body.length
    log.trace('-> %s %s %d B', peer.id.slice(-6), frameName(frame.type), body.length)
    try {
      peer.link.send(body)
      if (peer.link.flush !== undefined) this.unflushed.add(peer)
      return true
    } catch (err) {
      log.error('send to %s failed: %e', peer.id, err)
      this.removePeer(peer)
      return false
    }
  }

  private reject (peer: PeerState, reason: number, message: string): void {
    const name = byeReasonName(reason)
    this.counters.rejected[name] = (this.counters.rejected[name] ?? 0) + 1
    log('closing %s: %s (%s)', peer.id, name, message)
    this.bye(peer, reason, message)
  }

  private countRejection (name: string): void {
    this.counters.rejected[name] = (this.counters.rejected[name] ?? 0) + 1
  }

  /** benign races (not refusals): counted apart so monitoring can tell them from attacks */
  private ignore (name: string): void {
    this.counters.ignored[name] = (this.counters.ignored[name] ?? 0) + 1
  }

  // ---------------------------------------------------------------- receiving

  /** Write what is queued for this peer now (where the link can). */
  private writeNow (peer: PeerState): void {
    this.unflushed.delete(peer)
    if (!peer.closed) peer.link.flush?.()
  }

  /**
   * A transport delivered everything one read carried: send the batches those
   * frames produced (forwards to other peers) and write every link now, rather
   * than on the microtask, so a keystroke crosses a relay without waiting for
   * the transport's own bookkeeping after the delivery (a yamux window update,
   * say). Batching is unchanged within one delivery.
   */
  private delivered (): void {
    try {
      for (const doc of this.flushPending) this.sendBatch(doc)
      for (const peer of this.unflushed) this.writeNow(peer)
    } catch (err) {
      log.error('sending after a delivery failed: %e', err)
    }
  }

  private receive (peer: PeerState, body: Uint8Array): void {
    if (peer.closed) return
    this.counters.framesIn++
    this.counters.bytesIn += body.length
    if (!peer.frameBucket.take(1) || !peer.byteBucket.take(body.length)) {
      this.reject(peer, ByeReason.RATE_LIMITED, 'too many frames or bytes')
      return
    }
    let frame: Frame
    try {
      frame = decodeFrame(body)
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : ByeReason.PROTOCOL_ERROR
      this.reject(peer, code, (err as Error).message)
      return
    }
    log.trace('<- %s %s %d B', peer.id.slice(-6), frameName(frame.type), body.length)
    if (!peer.helloReceived && frame.type !== MessageType.HELLO) {
      this.reject(peer, ByeReason.PROTOCOL_ERROR, 'expected HELLO first')
      return
    }
    try {
      this.handle(peer, frame)
    } catch (err) {
      log.error('internal error handling frame from %s: %e', peer.id, err)
      this.reject(peer, ByeReason.INTERNAL, 'internal error')
    }
  }

  private handle (peer: PeerState, frame: Frame): void {
    switch (frame.type) {
      case MessageType.HELLO:
        if (peer.helloReceived) { this.reject(peer, ByeReason.PROTOCOL_ERROR, 'second HELLO'); return }
        if (frame.maxFrameBytes < MIN_MAX_FRAME_BYTES) { this.reject(peer, ByeReason.PROTOCOL_ERROR, 'max frame size too small'); return }
        peer.helloReceived = true
        clearTimeout(peer.helloTimer)
        peer.helloTimer = undefined
        peer.maxFrameBytes = Math.min(frame.maxFrameBytes, this.maxFrameBytes)
        peer.features = frame.features
        peer.remembered = this.memory.hello(peer.id, docKeyHex(frame.epoch))
        // Offer after the frames that came with the HELLO: a joiner's SYNC1s
        // often do, and answering them first puts the SYNC2 on the wire before
        // we spend time on our own SYNC1s (see handleDocFrame, runOffers).
        peer.offersPending = true
        queueMicrotask(() => { this.runOffers(peer) })
        return
      case MessageType.BYE:
        log('peer %s said BYE: %s %s', peer.id, byeReasonName(frame.reason), frame.message)
        peer.link.close()
        this.removePeer(peer)
        return
      default:
        this.handleDocFrame(peer, frame)
    }
  }

  /** The offers a HELLO asked for: resume or SYNC1 every doc, reopen docs that changed for this peer. */
  private runOffers (peer: PeerState): void {
    if (!peer.offersPending || peer.closed) return
    peer.offersPending = false
    for (const doc of this.docs.values()) this.offerDoc(peer, doc)
    this.reopenChangedForPeer(peer)
  }

  private handleDocFrame (peer: PeerState, frame: DocFrame): void {
    // only a SYNC1 may overtake the offers its HELLO asked for: anything else
    // (an UPDATE on a session the peer resumed, say) needs the sessions they set up
    if (peer.offersPending && frame.type !== MessageType.SYNC1) this.runOffers(peer)
    const keyHex = docKeyHex(frame.docKey)
    const doc = this.docs.get(keyHex)
    if (doc === undefined && this.resolveDoc !== undefined && (OPENS_DOC.has(frame.type) || this.resolving.has(keyHex))) {
      this.resolveThen(peer, keyHex, frame)
      return
    }
    if (doc === undefined || this.access(peer.id, doc) === Access.NONE) {
      // unknown and forbidden look the same from outside
      if (frame.type === MessageType.SYNC1) this.send(peer, { type: MessageType.DENIED, docKey: frame.docKey, reason: DeniedReason.UNAVAILABLE })
      if (frame.type === MessageType.UPDATE || frame.type === MessageType.SYNC2 || frame.type === MessageType.SYNC2_PART) this.countRejection('unavailable')
      return
    }
    switch (frame.type) {
      case MessageType.SYNC1: return this.onSync1(peer, doc, frame.flags, frame.stateVector, frame.dsDigest)
      case MessageType.SYNC2:
      case MessageType.UPDATE: return this.onUpdate(peer, doc, frame.type, frame.seq, frame.update)
      case MessageType.SYNC2_PART: return this.onUpdate(peer, doc, frame.type, frame.seq, frame.update, frame.partsLeft)
      case MessageType.ACK: {
        const s = peer.sessions.get(keyHex)
        if (s === undefined) return
        // an ACK from an earlier session of this doc (closed and reopened while it was in flight)
        if (frame.seq > s.sentSeq) { this.ignore('stale_ack'); return }
        s.ackedSeq = Math.max(s.ackedSeq, frame.seq)
        s.remoteStateVector = frame.stateVector.slice()
        doc.notifyStatus()
        return
      }
      case MessageType.AWARENESS: {
        const s = peer.sessions.get(keyHex)
        if (s === undefined || !s.remoteHolds) return
        const refused = admitAwareness(s, frame.update, this.limits)
        if (refused !== undefined) {
          this.reject(peer, refused.code, refused.reason)
          return
        }
        try {
          awarenessProtocol.applyAwarenessUpdate(doc.awareness, frame.update, s.origin)
        } catch (err) {
          this.reject(peer, ByeReason.PROTOCOL_ERROR, `malformed awareness update: ${(err as Error).message}`)
        }
        return
      }
      case MessageType.DENIED: {
        const s = peer.sessions.get(keyHex)
        if (frame.reason === DeniedReason.READ_ONLY) {
          if (s !== undefined) s.readOnlyRemote = true
          doc.deniedBy(peer.id, frame.reason)
          return
        }
        if (s !== undefined) this.endSession(peer, doc, s, false)
        this.memory.forgetDoc(peer.id, keyHex)
        doc.deniedBy(peer.id, frame.reason)
      }
    }
  }

  /**
   * Docs this peer holds (as we remember) that we have since closed, and that
   * changed before we closed them: open them again so the peer hears of it.
   */
  private reopenChangedForPeer (peer: PeerState): void {
    if (this.resolveDoc === undefined || peer.remembered === undefined) return
    for (const [keyHex, fp] of peer.remembered) {
      if (this.docs.has(keyHex) || this.resolving.has(keyHex)) continue
      const closed = this.closedFingerprints.get(keyHex)
      if (closed === undefined || closed === fp) continue
      this.resolving.set(keyHex, [])
      this.resolveDoc(peer.id, keyHex).catch(() => undefined).then((doc) => {
        const queued = this.resolving.get(keyHex) ?? []
        this.resolving.delete(keyHex)
        for (const [p, f] of queued) if (!p.closed && doc !== undefined) this.handleDocFrame(p, f)
      }, () => {})
    }
  }

  /** Open a doc we do not have open (via `resolveDoc`), then handle the frames that asked for it. */
  private resolveThen (peer: PeerState, keyHex: string, frame: DocFrame): void {
    let queue = this.resolving.get(keyHex)
    if (queue !== undefined) {
      if (queue.length < 64) queue.push([peer, frame])
      return
    }
    queue = [[peer, frame]]
    this.resolving.set(keyHex, queue)
    const resolve = this.resolveDoc!
    resolve(peer.id, keyHex).catch((err: Error) => {
      log.error('opening %s for %s failed: %e', keyHex, peer.id, err)
      return undefined
    }).then((doc) => {
      this.resolving.delete(keyHex)
      const open = doc !== undefined && this.docs.get(keyHex) === doc
      for (const [p, f] of queue) {
        if (p.closed) continue
        if (open) this.handleDocFrame(p, f)
        else if (f.type === MessageType.SYNC1) this.send(p, { type: MessageType.DENIED, docKey: f.docKey, reason: DeniedReason.UNAVAILABLE })
      }
    }, () => {})
  }

  private session (peer: PeerState, doc: EngineDoc): DocSession | undefined {
    let s = peer.sessions.get(doc.keyHex)
    if (s === undefined) {
      if (peer.sessions.size >= this.limits.maxDocsPerPeer) {
        this.countRejection('too_many_docs')
        return undefined
      }
      s = new DocSession(peer.id, doc.keyHex)
      peer.sessions.set(doc.keyHex, s)
      doc.sessions.set(peer.id, s)
    }
    return s
  }

  /**
   * Start a session: send our SYNC1 if the peer may see the doc — unless this
   * very incarnation of the peer already stored the doc exactly as we hold it,
   * in which case the session resumes silently (reconnects cost what changed).
   */
  private offerDoc (peer: PeerState, doc: EngineDoc): void {
    // a doc opened only to serve peers is offered to peers known to hold it; others ask
    if (doc.servedOnly && peer.remembered?.has(doc.keyHex) !== true) return
    if (this.access(peer.id, doc) === Access.NONE) return
    // already offered in this connection, or the peer's SYNC1 came first and we answered it
    if (peer.sessions.get(doc.keyHex)?.sentSync1 === true) return
    const s = this.session(peer, doc)
    if (s === undefined) return
    const remembered = peer.remembered?.get(doc.keyHex)
    if (remembered !== undefined && remembered === docFingerprint(doc)) {
      s.remoteHolds = true
      s.gotSync2 = true
      this.counters.sessionsResumed++
      return
    }
    this.sendSync1(peer, doc, s, 0)
  }


  private sendSync1 (peer: PeerState, doc: EngineDoc, s: DocSession, flags: number): void {
    s.sentSync1 = true
    this.send(peer, {
      type: MessageType.SYNC1,
      docKey: doc.key,
      flags,
      stateVector: Y.encodeStateVector(doc.doc),
      dsDigest: docDsDigest(doc)
    })
  }

  /**
   * The SYNC2 answer to a state vector. One above SPLIT_ANSWER_BYTES goes to a
   * peer that accepts parts as SYNC2_PARTs ended by the SYNC2, each written at
   * once, so that no single frame (or update the peer must admit) has to hold
   * a whole document.
   */
  private answer (peer: PeerState, doc: EngineDoc, s: DocSession, since: Map<number, number>, deletes: DeleteRanges): void {
    // Nearly every answer is small: encode it whole, and plan parts only when it
    // turns out big (encoding a big one twice costs less than planning every one).
    const whole = encodeUpdateV1(doc.doc, since, deletes)
    const limitBytes = peer.maxFrameBytes - FRAME_OVERHEAD_BYTES
    if ((peer.features & Features.SYNC2_PARTS) === 0 || whole.length <= Math.min(SPLIT_ANSWER_BYTES, limitBytes)) {
      this.sendAnswerPart(peer, doc, s, whole, 0)
      return
    }
    // parts are planned at PART_BYTES and never larger than twice that (unless
    // one struct is): well inside what a receiver admits per update (8 MiB by default)
    const partBytes = Math.min(PART_BYTES, limitBytes)
    const parts = new UpdateParts(doc.doc, since, deletes, { partBytes, limitBytes: Math.min(2 * PART_BYTES, limitBytes) })
    for (let update = parts.next(); update !== undefined; update = parts.next()) {
      if (!this.sendAnswerPart(peer, doc, s, update, parts.left)) return
    }
  }

  /** One frame of an answer (`partsLeft` 0: the SYNC2 that ends it). False if it could not be sent. */
  private sendAnswerPart (peer: PeerState, doc: EngineDoc, s: DocSession, update: Uint8Array, partsLeft: number): boolean {
    const seq = s.sentSeq + 1
    const sent = partsLeft === 0
      ? this.send(peer, { type: MessageType.SYNC2, docKey: doc.key, seq, update })
      : this.send(peer, { type: MessageType.SYNC2_PART, docKey: doc.key, seq, partsLeft, update })
    if (!sent) return false
    s.sentSeq = seq
    this.counters.updatesSent++
    if (partsLeft > 0) this.counters.sync2PartsSent++
    // a whole document (or a part of one) for a joiner: on the wire now, before anything else is computed
    if (partsLeft > 0 || update.length >= EAGER_SYNC2_BYTES) this.writeNow(peer)
    return true
  }

  private onSync1 (peer: PeerState, doc: EngineDoc, flags: number, sv: Uint8Array, digest: Uint8Array): void {
    let since: Map<number, number>
    try {
      since = Y.decodeStateVector(sv)
    } catch {
      this.reject(peer, ByeReason.PROTOCOL_ERROR, 'malformed state vector')
      return
    }
    // send what is queued to everyone else; for this peer the SYNC2 below covers it
    this.sendBatch(doc)
    const s = this.session(peer, doc)
    if (s === undefined) {
      this.send(peer, { type: MessageType.DENIED, docKey: doc.key, reason: DeniedReason.UNAVAILABLE })
      return
    }
    const joined = !s.remoteHolds
    s.remoteHolds = true
    s.owed = null
    peer.dirty.delete(s)
    // A peer with an empty state vector holds no structs, so it has deleted
    // nothing: it needs our whole delete set, and comparing digests is wasted work.
    const deletes = since.size > 0 && equalBytes(docDsDigest(doc), digest) ? EMPTY_DELETES : docDeleteRanges(doc)
    this.answer(peer, doc, s, since, deletes)
    if (!s.sentSync1 || (flags & Sync1Flags.WANT_REPLY) !== 0) this.sendSync1(peer, doc, s, 0)
    if (joined) {
      const clients = [...doc.awareness.getStates().keys()]
      if (clients.length > 0) {
        this.send(peer, { type: MessageType.AWARENESS, docKey: doc.key, update: awarenessProtocol.encodeAwarenessUpdate(doc.awareness, clients) })
      }
    }
    doc.notifyStatus()
  }

  private onUpdate (peer: PeerState, doc: EngineDoc, type: number, seq: number, update: Uint8Array, partsLeft = 0): void {
    const s = peer.sessions.get(doc.keyHex)
    if (s === undefined || (type === MessageType.UPDATE && !s.remoteHolds)) {
      // e.g. in flight while we closed and reopened the doc; the SYNC exchange covers it
      this.ignore('out_of_session')
      return
    }
    if (this.access(peer.id, doc) !== Access.WRITE) {
      this.countRejection('forbidden')
      if (!s.deniedWrites) {
        s.deniedWrites = true
        this.send(peer, { type: MessageType.DENIED, docKey: doc.key, reason: DeniedReason.READ_ONLY })
      }
      // still count the frame as received so the peer's acks stay meaningful
      if (type === MessageType.SYNC2_PART) s.notePart(seq, false)
      if (type === MessageType.SYNC2) { s.endAnswer(seq); s.gotSync2 = true; s.resyncInFlight = false }
      return
    }
    const admitted = admitUpdate(doc, peer.id, update, this.limits)
    if (!('bytes' in admitted)) {
      if (admitted.counter !== undefined) this.countRejection(admitted.counter)
      this.reject(peer, admitted.code, admitted.reason)
      return
    }
    const store = doc.doc.store
    const pendingBefore = store.pendingStructs !== null || store.pendingDs !== null
    doc.releasing = pendingBefore
    doc.persistence?.expectUpdate(s.origin, admitted.bytes)
    try {
      Y.applyUpdate(doc.doc, admitted.bytes, s.origin)
    } catch (err) {
      // decoded cleanly but failed to integrate: should not happen; never crash for it
      doc.persistence?.applyFailed()
      this.reject(peer, ByeReason.MALFORMED_UPDATE, `update failed to apply: ${(err as Error).message}`)
      return
    } finally {
      doc.releasing = false
      doc.persistence?.expectUpdate(undefined)
    }
    this.capPending(doc)
    this.counters.updatesApplied++
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
        this.ignore('incomplete_answer')
        if (!s.resyncInFlight) {
          s.resyncInFlight = true
          this.sendSync1(peer, doc, s, 0)
        }
      }
      if (parts > 0) progress = { peer: peer.id, parts: parts + 1, partsLeft: 0 }
    } else {
      s.noteUpdateSeq(seq)
      if (type === MessageType.SYNC2_PART) {
        s.notePart(seq, true)
        this.counters.sync2PartsApplied++
        progress = { peer: peer.id, parts: s.partsApplied, partsLeft }
      }
    }
    if (type === MessageType.UPDATE && (store.pendingStructs !== null || store.pendingDs !== null) && !s.resyncInFlight) {
      // missing dependencies: ask this peer for everything we lack. Not after a
      // SYNC2: that already was its whole answer, and asking again would loop.
      s.resyncInFlight = true
      this.sendSync1(peer, doc, s, 0)
    }
    // the parts of an answer are acknowledged with the SYNC2 that ends it: an
    // ACK between parts would only make the next commit wait on a flush
    if (type !== MessageType.SYNC2_PART) this.scheduleAck(peer, doc, s)
    doc.notifyStatus()
    if (progress !== undefined) doc.emit('progress', [progress])
  }

  /** Yjs keeps gapped structs in memory until their dependencies arrive: bound that, then resync. */
  private capPending (doc: EngineDoc): void {
    const store = doc.doc.store
    const bytes = pendingBytes(doc)
    if (bytes <= this.limits.maxPendingBytes) return
    log('dropping %d bytes of pending structs for %s; resyncing', bytes, doc.id)
    this.countRejection('pending_overflow')
    store.pendingStructs = null
    store.pendingDs = null
    for (const s of doc.sessions.values()) {
      const peer = this.peers.get(s.peer)
      if (peer !== undefined && !peer.closed && s.remoteHolds) this.sendSync1(peer, doc, s, 0)
    }
  }

  /** ACK once what we applied is durably stored; one ACK loop per session coalesces bursts. */
  private scheduleAck (peer: PeerState, doc: EngineDoc, s: DocSession): void {
    s.ackWanted = Math.max(s.ackWanted, s.recvContig)
    if (s.ackLoop) return
    s.ackLoop = true
    const run = (): void => {
      // seq and state vector are taken now: the flush below covers exactly what they claim
      const target = s.ackWanted
      const stateVector = Y.encodeStateVector(doc.doc)
      const stored = doc.persistence?.flush() ?? Promise.resolve()
      const loop = stored.then(() => {
        if (peer.closed || peer.sessions.get(doc.keyHex) !== s) { s.ackLoop = false; return }
        this.send(peer, { type: MessageType.ACK, docKey: doc.key, seq: target, stateVector })
        if (s.ackWanted > target) run()
        else s.ackLoop = false
      }, (err: Error) => {
        // not stored: acknowledge nothing; anti-entropy retries later
        s.ackLoop = false
        log.error('not acknowledging %s to %s: %e', doc.id, peer.id, err)
        doc.emit('error', [err])
      })
      this.acking.add(loop)
      void loop.finally(() => { this.acking.delete(loop) })
    }
    run()
  }

  /** Wait until every ACK that waits on storage has been sent (or given up). */
  async drainAcks (): Promise<void> {
    while (this.acking.size > 0) await Promise.allSettled([...this.acking])
  }

  // ---------------------------------------------------------------- anti-entropy

  /**
   * Repair anything lost: a two-way SYNC round (SYNC1 with WANT_REPLY) on every
   * session that is not known to be in sync; with `full`, on every doc and
   * peer. The timer runs this every `antiEntropyIntervalMs`, full every
   * `fullResyncEvery` ticks.
   */
  runAntiEntropy (opts: { full?: boolean } = {}): void {
    for (const peer of this.peers.values()) {
      if (!peer.helloReceived || peer.closed) continue
      if (opts.full === true) {
        for (const doc of this.docs.values()) {
          if (this.access(peer.id, doc) === Access.NONE) continue
          const s = this.session(peer, doc)
          if (s !== undefined) this.sendSync1(peer, doc, s, Sync1Flags.WANT_REPLY)
        }
        continue
      }
      for (const s of peer.sessions.values()) {
        const doc = this.docs.get(s.keyHex)
        if (doc === undefined || doc.isSyncedWith(peer.id) || s.readOnlyRemote) continue
        this.sendSync1(peer, doc, s, Sync1Flags.WANT_REPLY)
      }
    }
  }

  /** What the current policy grants `peerId` on `docId` (a throwing policy means none). */
  accessFor (peerId: string, docId: string): Access {
    try {
      return this.policy(peerId, docId)
    } catch (err) {
      log.error('policy threw for %s / %s: %e', peerId, docId, err)
      return Access.NONE
    }
  }

  private access (peerId: string, doc: EngineDoc): Access {
    try {
      return this.policy(peerId, doc.id)
    } catch (err) {
      log.error('policy threw for %s / %s: %e', peerId, doc.id, err)
      return Access.NONE
    }
  }
}

/** frames that make a serving node open a doc it does not have open */
const OPENS_DOC = new Set<number>([MessageType.SYNC1, MessageType.SYNC2, MessageType.SYNC2_PART, MessageType.UPDATE])
const MAX_CLOSED_FINGERPRINTS = 200_000

const frameNames = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]))
const frameName = (type: number): string => frameNames[type] ?? `type${type}`
