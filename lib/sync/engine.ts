/**
 * The sync engine: transport-agnostic. It consumes frame bodies from peers and
 * emits frame bodies to them. This file holds the options, the docs and
 * peers it syncs, and frame dispatch; each concern lives in its own module,
 * built here and handed the `SyncContext` and only the collaborators it calls:
 *
 * | module              | holds                                                      |
 * | ------------------- | ---------------------------------------------------------- |
 * | peers.ts            | peer state, HELLO deadline, rate buckets, frames, BYE       |
 * | sessions.ts         | the (peer, doc) sessions, opened and ended in one place     |
 * | session-start.ts    | HELLO, offers, resumption, fingerprints of closed docs      |
 * | doc-resolver.ts     | opening a doc by key for a peer                             |
 * | outbound.ts         | batches to peers, holding back for a slow peer, drain       |
 * | answer.ts           | SYNC1 out, answering SYNC1 (in parts when big)              |
 * | inbound.ts          | UPDATE/SYNC2/SYNC2_PART into the doc                        |
 * | acks.ts             | ACKs after storage commits, and the peer's ACKs             |
 * | awareness-relay.ts  | presence in, out and on session end                         |
 * | anti-entropy.ts     | the timer and repair rounds                                 |
 *
 * `docs/PROTOCOL.md` describes the exchange, `docs/ARCHITECTURE.md` the paths.
 */
import type * as Y from 'yjs'
import { logger } from '../log.js'
import { Access, allowAll, type Policy } from '../policy/types.js'
import type { DeniedFrame, DocFrame, Frame } from '../protocol/codec.js'
import { ByeReason, byeReasonName, DEFAULT_MAX_FRAME_BYTES, DeniedReason, EPOCH_BYTES, MessageType, Sync1Flags } from '../protocol/constants.js'
import { docKeyHex, keyOnlyDocId } from '../protocol/doc-key.js'
import type { AuthorRegistry } from '../security/authorship.js'
import { DEFAULT_LIMITS, type Limits } from '../security/limits.js'
import type { PendingCharges } from '../security/pending-charges.js'
import type { WriteQuota } from '../security/quota.js'
import type { StructWriter } from '../yjs/flat-struct-writer.js'
import { Acks } from './acks.js'
import { AntiEntropy } from './anti-entropy.js'
import { Answers } from './answer.js'
import { AwarenessRelay } from './awareness-relay.js'
import type { SyncContext } from './context.js'
import type { DocResolver, DocResolverHandlers, MakeDocResolver } from './doc-resolver.js'
import type { EngineDoc } from './engine-doc.js'
import type { EngineExtension, ExtensionApi } from './extension.js'
import { Fingerprints, type Sha256 } from './fingerprint.js'
import { Inbound } from './inbound.js'
import { Outbound } from './outbound.js'
import { Peers, type PeerState } from './peers.js'
import { SessionStart } from './session-start.js'
import { Sessions } from './sessions.js'
import type { EngineCounters, PeerConnection, PeerLink } from './types.js'

const log = logger('sync')

export interface SyncEngineOptions {
  /** who may read / write which doc; default: everyone everything */
  policy?: Policy
  /** largest frame body we accept and announce (default 16 MiB) */
  maxFrameBytes?: number
  /** run anti-entropy (SYNC1 to every session) this often; 0 disables the timer (default 30 s) */
  antiEntropyIntervalMs?: number
  /** send the outgoing batch synchronously after this many transactions (default 512) */
  maxBatchTransactions?: number
  /** caps on what one peer may send (see lib/security/limits.ts) */
  limits?: Partial<Limits>
  /**
   * Enforce authorship: a doc's author registry, which binds clientIDs to
   * the PeerId that first used them (`authorRegistries` in
   * lib/security/authorship.ts, handed in by the Node preset so that browser
   * bundles leave it out); default: none
   */
  authors?: (keyHex: string, self: string) => AuthorRegistry
  /** our own PeerId (authorship binds our clientIDs to it) */
  localPeerId?: string
  /** every this many anti-entropy ticks, SYNC1 every session, synced or not (default 10) */
  fullResyncEvery?: number
  /**
   * Opens docs that are not open when a peer's frame asks for one, e.g. a
   * gateway serving every stored doc by key: `docResolver(resolveDoc,
   * releaseDoc)` from lib/sync/doc-resolver.ts, handed in so that nodes which
   * never serve by key (browsers) do not bundle it; default: none
   */
  docResolver?: MakeDocResolver
  /** SHA-256 for digests and fingerprints (default: @noble/hashes; the Node preset passes node:crypto's) */
  sha256?: Sha256
  /** writes structs into updates for peers (default: Yjs' own `write`; the Node preset passes the flat writer, lib/yjs/flat-struct-writer.ts) */
  structWriter?: StructWriter
  /** per-peer write quotas (lib/security/quota.ts, Node only); default: none */
  quota?: WriteQuota
  /** who brought a doc's pending structs, to close the peer that fills the cap (lib/security/pending-charges.ts, Node only); default: none */
  pendingCharges?: PendingCharges
  /** does a (validated) update add nothing to the doc? Then a read-only peer's is acknowledged, not refused (lib/security/read-only.ts, Node only); default: every non-empty one is refused */
  addsNothing?: (doc: EngineDoc, update: Uint8Array, limits: Limits) => boolean
  /** grants (lib/grants/grant-exchange.ts): frames of its own, and a say in access; default: none */
  extension?: EngineExtension
}

export class SyncEngine {
  readonly limits: Limits
  readonly counters: EngineCounters = {
    framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, updatesApplied: 0, updatesSent: 0, peersConnected: 0, updatesForwarded: 0, sessionsResumed: 0, sync2PartsSent: 0, sync2PartsApplied: 0, answersCached: 0, rejected: {}, ignored: {}
  }

  /** random per process: peers resume sessions with us only while it is unchanged */
  readonly epoch: Uint8Array
  /** told when a peer's sync session starts (true) or ends (false) */
  onPeer: ((peerId: string, up: boolean) => void) | undefined

  private readonly docs = new Map<string, EngineDoc>()
  /** per open doc: stops its listeners */
  private readonly detach = new Map<string, () => void>()
  private policy: Policy
  private readonly extension: EngineExtension | undefined
  private stopped = false
  private readonly opts: SyncEngineOptions
  private readonly peers: Peers
  private readonly sessions: Sessions
  private readonly fingerprints: Fingerprints
  private readonly outbound: Outbound
  private readonly awareness: AwarenessRelay
  private readonly answers: Answers
  private readonly acks: Acks
  private readonly inbound: Inbound
  private readonly resolver: DocResolver | undefined
  private readonly start: SessionStart
  private readonly antiEntropy: AntiEntropy

  constructor (opts: SyncEngineOptions = {}) {
    this.policy = opts.policy ?? allowAll
    this.extension = opts.extension
    const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits }
    this.opts = opts
    this.epoch = crypto.getRandomValues(new Uint8Array(EPOCH_BYTES))
    this.fingerprints = new Fingerprints(opts.sha256)
    this.peers = new Peers({
      counters: this.counters,
      limits: this.limits,
      maxFrameBytes,
      onUnsendable: (frame, err) => { if ('docKey' in frame) this.docs.get(docKeyHex(frame.docKey))?.emit('error', [err]) },
      onGone: (peer) => { this.peerGone(peer) }
    })
    this.sessions = new Sessions({
      limits: this.limits,
      peers: this.peers,
      countRejection: (name) => { this.countRejection(name) },
      onEnd: (peer, doc, s) => {
        this.start.forget(peer, doc.keyHex)
        this.awareness.sessionEnded(doc, s)
        doc.notifyStatus()
      }
    })
    const ctx: SyncContext = {
      limits: this.limits,
      counters: this.counters,
      peers: this.peers,
      sessions: this.sessions,
      fingerprints: this.fingerprints,
      structWriter: opts.structWriter,
      doc: (keyHex) => this.docs.get(keyHex),
      docs: () => this.docs.values(),
      docCount: () => this.docs.size,
      access: (peerId, doc) => this.accessFor(peerId, doc.id),
      countRejection: (name) => { this.countRejection(name) },
      ignore: (name) => { this.counters.ignored[name] = (this.counters.ignored[name] ?? 0) + 1 }
    }
    // what the parts outside (the extension, the doc resolver) may do: one object for both
    const api: ExtensionApi & DocResolverHandlers = {
      peers: this.peers,
      // a doc frame goes the way of every frame (`dispatch` hands it to `handleDocFrame`)
      handle: (peer, frame) => { this.guarded(peer, () => { this.dispatch(peer, frame) }) },
      recheck: (peer) => { this.recheck(peer, true) },
      refuse: (peer, docKey) => { this.refuse(peer, docKey) },
      repair: (peer, doc) => { this.answers.repair(peer, doc) },
      countRejection: ctx.countRejection,
      ignore: ctx.ignore
    }
    this.outbound = new Outbound(ctx, opts.maxBatchTransactions ?? 512)
    this.awareness = new AwarenessRelay(ctx)
    this.answers = new Answers(ctx, this.outbound, this.awareness, api.refuse)
    this.acks = new Acks(ctx)
    this.inbound = new Inbound(ctx, this.answers, this.acks, opts.quota, opts.pendingCharges, opts.addsNothing)
    this.resolver = opts.docResolver?.(ctx, api)
    this.start = new SessionStart(ctx, this.answers, this.resolver, { epoch: this.epoch, maxFrameBytes, extension: this.extension })
    this.antiEntropy = new AntiEntropy(ctx, this.answers, {
      intervalMs: opts.antiEntropyIntervalMs ?? 30_000,
      fullEvery: opts.fullResyncEvery ?? 10
    })
    this.extension?.attach(api)
  }

  /** Replace the policy; takes effect at once on every open session. */
  setPolicy (policy: Policy): void {
    this.policy = policy
    this.recheck()
  }

  /**
   * Access changed: end the sessions it now refuses (the peer is told),
   * and offer docs it now allows, to every peer or to `only`.
   */
  private recheck (only?: PeerState, offer = false): void {
    for (const peer of only !== undefined ? [only] : this.peers.values()) {
      for (const s of [...peer.sessions.values()]) {
        const doc = this.docs.get(s.keyHex)
        if (doc !== undefined && this.accessFor(peer.id, doc.id) === Access.NONE) this.sessions.end(peer, doc, s, true)
      }
      if (offer && peer.helloReceived && !peer.closed) for (const doc of this.docs.values()) this.start.offer(peer, doc)
    }
  }

  /**
   * What `peerId` may do with `docId` now: what the policy grants, narrowed
   * by the extension's say (grants) if any. A throwing policy means none.
   */
  accessFor (peerId: string, docId: string): Access {
    try {
      const policy = this.policy(peerId, docId)
      return this.extension?.access(peerId, docId, policy) ?? policy
    } catch (err) {
      log.error('policy threw for %s / %s: %e', peerId, docId, err)
      return Access.NONE
    }
  }

  get peerIds (): string[] {
    return this.peers.ids()
  }

  /** Every doc the engine syncs now (opened by the app or served by key). */
  get openDocs (): EngineDoc[] {
    return [...this.docs.values()]
  }

  /** The doc open under this key (opened by the app or served by key), if any. */
  doc (keyHex: string): EngineDoc | undefined {
    return this.docs.get(keyHex)
  }

  // ---------------------------------------------------------------- documents

  /** Start syncing a document. Its persistence (if any) must already be loaded. */
  addDoc (doc: EngineDoc): void {
    if (this.docs.has(doc.keyHex)) throw new Error(`document ${doc.id} is already open`)
    this.docs.set(doc.keyHex, doc)
    doc.authors = this.opts.authors?.(doc.keyHex, this.opts.localPeerId ?? 'local')
    doc.authors?.claim(doc.doc.clientID)
    // storage records each transaction before the outgoing batch does (see DocPersistence.autoCommit)
    const stopCommits = doc.persistence?.autoCommit({
      saved: () => {
        if (doc.closed) return
        doc.emit('saved', [])
        doc.emit('status', [doc.status()])
      },
      failed: (err) => {
        log.error('storing %s failed: %e', doc.id, err)
        doc.emit('error', [err])
      }
    })
    const onTransaction = (tr: Y.Transaction): void => {
      doc.version++
      this.fingerprints.invalidate(doc)
      this.outbound.record(doc, tr)
    }
    doc.doc.on('afterTransactionCleanup', onTransaction)
    const stopAwareness = this.awareness.attach(doc)
    this.detach.set(doc.keyHex, () => {
      stopCommits?.()
      doc.doc.off('afterTransactionCleanup', onTransaction)
      stopAwareness()
    })
    this.start.offerToAll(doc)
    this.resolver?.docOpened(doc)
  }

  /** Stop syncing a document; peers are told we no longer hold it. */
  removeDoc (doc: EngineDoc): void {
    if (this.docs.get(doc.keyHex) !== doc) return
    this.outbound.sendBatch(doc)
    for (const peer of this.peers.values()) {
      const s = this.sessions.get(peer, doc.keyHex)
      if (s !== undefined) this.sessions.end(peer, doc, s, true)
    }
    this.detach.get(doc.keyHex)?.()
    this.detach.delete(doc.keyHex)
    this.docs.delete(doc.keyHex)
    this.resolver?.docClosed(doc)
  }

  /** Send the outgoing batch of `doc` now instead of on the next microtask. */
  sendBatch (doc: EngineDoc): void {
    this.outbound.sendBatch(doc)
  }

  // ---------------------------------------------------------------- peers

  /** A transport connected a peer. Returns the callbacks the transport drives. */
  addPeer (peerId: string, link: PeerLink): PeerConnection {
    const peer = this.peers.add(peerId, link)
    this.start.greet(peer)
    this.onPeer?.(peerId, true)
    return {
      receive: (body) => { this.receive(peer, body) },
      delivered: () => { this.outbound.delivered() },
      drained: () => {
        this.answers.settle(peer)
        this.outbound.drained(peer)
      },
      closed: () => { this.peers.remove(peer) },
      fail: (code, message) => { this.peers.reject(peer, code, message) }
    }
  }

  /** A peer is closed and out of the table: remember what it stored, end its sessions. */
  private peerGone (peer: PeerState): void {
    this.extension?.peerGone(peer)
    this.start.peerLeaving(peer)
    this.resolver?.peerGone(peer)
    this.sessions.endAll(peer, (keyHex) => this.docs.get(keyHex))
    if (!this.peers.has(peer.id)) this.onPeer?.(peer.id, false)
  }

  /** Run anti-entropy now (see anti-entropy.ts); `full` includes synced sessions. */
  runAntiEntropy (opts: { full?: boolean } = {}): void {
    this.antiEntropy.run(opts)
  }

  /** Wait until every ACK that waits on storage has been sent (or given up). */
  async drainAcks (): Promise<void> {
    await this.acks.drain()
  }

  /** Close every peer (with BYE) and stop timers. Idempotent. */
  stop (): void {
    if (this.stopped) return
    this.stopped = true
    this.antiEntropy.stop()
    this.extension?.stop()
    for (const doc of this.docs.values()) this.outbound.sendBatch(doc)
    for (const peer of [...this.peers.values()]) this.peers.bye(peer, ByeReason.SHUTDOWN, 'node stopping')
    for (const doc of [...this.docs.values()]) this.removeDoc(doc)
  }

  // ---------------------------------------------------------------- dispatch

  private receive (peer: PeerState, body: Uint8Array): void {
    const frame = this.peers.read(peer, body)
    if (frame === undefined || this.extension?.intercept(peer, frame) === true) return
    this.guarded(peer, () => { this.dispatch(peer, frame) })
  }

  /** Run a frame handler; an internal error closes that peer, never the process. */
  private guarded (peer: PeerState, handle: () => void): void {
    try {
      handle()
    } catch (err) {
      log.error('internal error handling frame from %s: %e', peer.id, err)
      this.peers.reject(peer, ByeReason.INTERNAL, 'internal error')
    }
  }

  private dispatch (peer: PeerState, frame: Frame): void {
    switch (frame.type) {
      case MessageType.HELLO:
        this.start.receiveHello(peer, frame)
        return
      case MessageType.BYE:
        log('peer %s said BYE: %s %s', peer.id, byeReasonName(frame.reason), frame.message)
        peer.link.close()
        this.peers.remove(peer)
        return
      default:
        // an extension's frame (GRANTS…) reaches here only when we have none
        if ('body' in frame) return this.peers.reject(peer, ByeReason.PROTOCOL_ERROR, 'frame of a feature we did not announce')
        this.handleDocFrame(peer, frame)
    }
  }

  private handleDocFrame (peer: PeerState, frame: DocFrame): void {
    // only a SYNC1 may overtake the offers its HELLO asked for: anything else
    // (an UPDATE on a session the peer resumed, say) needs the sessions they set up
    if (peer.offersPending && frame.type !== MessageType.SYNC1) this.start.runOffers(peer)
    const keyHex = docKeyHex(frame.docKey)
    const doc = this.docs.get(keyHex)
    // One path for every doc a peer may not see, held or not, loaded or not:
    // refused here, at once and in the order asked, so that neither the order
    // nor the timing of DENIEDs tells whether this node holds a doc. A node
    // serving by key asks its policy about the key form of a doc it has not open.
    const access = doc !== undefined
      ? this.accessFor(peer.id, doc.id)
      : this.resolver !== undefined ? this.accessFor(peer.id, keyOnlyDocId(keyHex)) : Access.NONE
    if (access === Access.NONE) {
      // a SYNC1 is answered, a write counted
      if (frame.type === MessageType.SYNC1) this.refuse(peer, frame.docKey)
      else if (frame.type === MessageType.UPDATE || frame.type === MessageType.SYNC2 || frame.type === MessageType.SYNC2_PART) this.countRejection('unavailable')
      return
    }
    // a doc not open here: a serving node may open it (doc-resolver.ts)
    if (doc === undefined) return this.resolver?.receive(peer, keyHex, frame)
    switch (frame.type) {
      case MessageType.SYNC1: return this.answers.receiveSync1(peer, doc, frame.flags, frame.stateVector, frame.dsDigest)
      case MessageType.SYNC2:
      case MessageType.SYNC2_PART:
      case MessageType.UPDATE: this.inbound.receive(peer, doc, frame); return
      case MessageType.ACK: return this.acks.receive(peer, doc, frame)
      case MessageType.AWARENESS: return this.awareness.receive(peer, doc, frame.update)
      case MessageType.DENIED: return this.receiveDenied(peer, doc, frame)
    }
  }

  /**
   * DENIED `unavailable` for a doc we do not serve this peer now. The peer ends
   * its session and forgets what we stored, so we forget what it stored too:
   * should we open the doc later on this connection, it must start with a
   * SYNC1, never resume silently (the peer would not know we hold it).
   */
  private refuse (peer: PeerState, docKey: Uint8Array): void {
    this.peers.send(peer, { type: MessageType.DENIED, docKey, reason: DeniedReason.UNAVAILABLE })
    this.start.forget(peer, docKeyHex(docKey))
  }

  /**
   * The peer refused a doc: not at all (`unavailable`: the session ends), or
   * our writes (the session stays): read-only or past our quota there (do not
   * expect ACKs), or structs under a clientID it binds to another peer (a
   * SYNC round follows: what it refused has often reached it by another path).
   */
  private receiveDenied (peer: PeerState, doc: EngineDoc, frame: DeniedFrame): void {
    const s = this.sessions.get(peer, doc.keyHex)
    if (frame.reason === DeniedReason.UNAVAILABLE || frame.reason === DeniedReason.ENCRYPTED) {
      if (s !== undefined) this.sessions.end(peer, doc, s, false)
      this.start.forget(peer, doc.keyHex)
    } else if (frame.reason === DeniedReason.AUTHORSHIP) {
      // one round at a time: DENIEDs that come meanwhile ask for nothing more
      if (s !== undefined && !s.resyncInFlight) {
        s.resyncInFlight = true
        this.answers.sendSync1(peer, doc, s, Sync1Flags.WANT_REPLY)
      }
    } else if (s !== undefined) {
      s.writesRefused = frame.reason
    }
    doc.deniedBy(peer.id, frame.reason)
  }

  /** Count a refusal by name (`rejected`); the network side counts its own (`not_allowed`) here too. */
  countRejection (name: string): void {
    this.counters.rejected[name] = (this.counters.rejected[name] ?? 0) + 1
  }
}
