/**
 * Opening a doc by key for a peer (a gateway serving every stored doc): one
 * path for both reasons a doc is opened, a peer's frame for a doc that is not
 * open, and a returning peer that holds a doc which changed after we closed
 * it. Frames for the doc wait while it opens, at most MAX_WAITING_FRAMES per
 * peer. When the open finishes:
 * - open (and still the same doc): the waiting frames are handled in order,
 *   and a peer whose frames overflowed gets a two-way SYNC round instead, so
 *   nothing it sent is lost for good;
 * - failed, refused or replaced: every peer that asked (SYNC1) gets DENIED
 *   unavailable, the error is logged, and nothing else is done.
 * Overflowing frames are counted (`ignored.open_queue_overflow`).
 *
 * A reader that asks for a doc this node holds nothing of (its SYNC1 names no
 * client, the doc is empty in storage too) costs a watch, not a loaded doc: it
 * is answered with an empty SYNC2 of seq 0, outside any session, and the doc
 * is released again (`ReleaseDoc`). When the doc is opened later (a writer
 * creates it, the app opens it) every peer watching it gets a two-way SYNC
 * round, as a session would have. Watches count against the peer's docs cap
 * and end with its connection. Without it, a reader naming random keys made
 * a gateway hold an empty doc (some 16 KiB) per key, up to its docs cap.
 *
 * Only nodes that serve by key need this (Node gateways): the Node preset
 * hands it to the engine (`SyncEngineOptions.docResolver`, made by
 * `docResolver` below), so browser bundles leave it out.
 */
import * as Y from 'yjs'
import { logger } from '../log.js'
import { Access } from '../policy/types.js'
import type { DocFrame, Sync1Frame } from '../protocol/codec.js'
import { keyOnlyDocId } from '../protocol/doc-key.js'
import { MessageType } from '../protocol/constants.js'
import { recentEntry, TokenBucket } from '../security/token-bucket.js'
import type { SyncContext } from './context.js'
import type { EngineDoc } from './engine-doc.js'
import { EMPTY_DS_DIGEST } from './fingerprint.js'
import { EMPTY_UPDATE } from '../yjs/update-batch.js'
import type { PeerState } from './peers.js'

const log = logger('sync')

/** frames that make a serving node open a doc it does not have open */
const OPENS_DOC = new Set<number>([MessageType.SYNC1, MessageType.SYNC2, MessageType.SYNC2_PART, MessageType.UPDATE])

/** the limits only a node serving by key holds (`Limits`; kept here so that browser bundles leave them out) */
export const SERVING_DEFAULTS = { maxLoadedDocs: 50_000, docOpensPerSecond: 1000, docOpenBurst: 20_000 } as const

/** frames one peer may have waiting on one doc being opened */
export const MAX_WAITING_FRAMES = 64

/**
 * Opens a doc that is not open (and `addDoc`s it); undefined if it will not be
 * opened for this peer. With `ifStored`, null if nothing is stored under the
 * key (nothing is built then: only readers holding nothing asked for it).
 */
export type ResolveDoc = (peerId: string, keyHex: string, ifStored?: boolean) => Promise<EngineDoc | null | undefined>
/** Unloads a doc `ResolveDoc` opened that turned out empty and wanted by readers only (they watch it instead). */
export type ReleaseDoc = (doc: EngineDoc) => void

interface Waiting {
  readonly frames: DocFrame[]
  /** frames beyond MAX_WAITING_FRAMES (or a watch's), not kept: a SYNC round repairs it once the doc is open */
  overflowed: boolean
  /** the doc key as the peer sent it, if it sent any frame */
  docKey: Uint8Array | undefined
  /** the peer asked for the doc (SYNC1): it must get an answer either way */
  asked: boolean
}

export interface DocResolverHandlers {
  /** handle a frame for a doc that is open now */
  handle: (peer: PeerState, frame: DocFrame) => void
  /** answer a peer's SYNC1 for a doc that will not be served: DENIED unavailable */
  refuse: (peer: PeerState, docKey: Uint8Array) => void
  /** the peer lost frames while the doc opened, or watched it: run a two-way SYNC round with it */
  repair: (peer: PeerState, doc: EngineDoc) => void
}

/** Builds the engine's resolver (`SyncEngineOptions.docResolver`) from its context and handlers. */
export type MakeDocResolver = (ctx: SyncContext, handlers: DocResolverHandlers) => DocResolver

/**
 * The engine's `docResolver`: docs a peer asks for are opened with
 * `resolveDoc`, and released with `releaseDoc` when they turn out empty and
 * wanted by readers only.
 */
export function docResolver (resolveDoc: ResolveDoc, releaseDoc?: ReleaseDoc): MakeDocResolver {
  return (ctx, handlers) => new DocResolver(ctx, { resolveDoc, releaseDoc }, handlers)
}

/** A doc with nothing in it: no structs, nothing pending. */
function isEmpty (doc: EngineDoc): boolean {
  const store = doc.doc.store
  return store.clients.size === 0 && store.pendingStructs === null && store.pendingDs === null
}

/** A frame that brings nothing for a doc: an ACK, presence, an update with nothing in it. */
function carriesNothing (f: DocFrame): boolean {
  if (f.type === MessageType.ACK || f.type === MessageType.AWARENESS) return true
  return (f.type === MessageType.SYNC2 || f.type === MessageType.UPDATE) && f.update.length === 2 && f.update[0] === 0 && f.update[1] === 0
}

/** A SYNC1 from a peer that holds nothing of the doc (its state vector names no client). */
function asksForAll (f: DocFrame): f is Sync1Frame {
  return f.type === MessageType.SYNC1 && f.stateVector.length <= 2 && Y.decodeStateVector(f.stateVector).size === 0
}

/** a state vector naming no client */
const EMPTY_STATE_VECTOR = new Uint8Array([0])

/** watches on one node, all peers together: some 200 B each */
const MAX_WATCHES = 200_000

/** closed docs whose fingerprint we keep (oldest forgotten first) */
const MAX_CLOSED_FINGERPRINTS = 200_000

export class DocResolver {
  private readonly opening = new Map<string, Map<PeerState, Waiting>>()
  /** fingerprint of each doc when it was last closed, so a returning peer learns what changed */
  private readonly closedFingerprints = new Map<string, string>()
  /** docs being opened on behalf of each peer (counted against its docs cap) */
  private readonly perPeer = new Map<PeerState, number>()
  /** the docs each PeerId may make us open, per second (`docOpensPerSecond`), kept across its reconnects */
  private readonly openBudget = new Map<string, TokenBucket>()
  /** the docs (held nowhere here) each reader watches, by key; and the peers watching each key */
  private readonly watching = new Map<PeerState, Set<string>>()
  private readonly watchers = new Map<string, Set<PeerState>>()
  /** watches on the node, all peers together (at most MAX_WATCHES; past it readers get loaded docs, within the loaded-docs cap) */
  private watchCount = 0

  private readonly resolveDoc: ResolveDoc
  /** without it, an empty doc opened for readers stays loaded (and held by their sessions) */
  private readonly releaseDoc: ReleaseDoc | undefined

  constructor (
    private readonly ctx: SyncContext,
    /** how docs are opened and released (see `docResolver`) */
    serving: { resolveDoc: ResolveDoc, releaseDoc?: ReleaseDoc },
    private readonly handlers: DocResolverHandlers
  ) {
    this.resolveDoc = serving.resolveDoc
    this.releaseDoc = serving.releaseDoc
  }

  /** A doc was opened: the peers watching it get a SYNC round, as a session would have. */
  docOpened (doc: EngineDoc): void {
    const peers = this.watchers.get(doc.keyHex)
    if (peers === undefined) return
    this.watchers.delete(doc.keyHex)
    for (const peer of peers) {
      if (this.watching.get(peer)?.delete(doc.keyHex) === true) this.watchCount--
      if (!peer.closed) this.handlers.repair(peer, doc)
    }
  }

  /** A peer is gone: its watches end. */
  peerGone (peer: PeerState): void {
    for (const keyHex of this.watching.get(peer) ?? []) {
      const peers = this.watchers.get(keyHex)
      peers?.delete(peer)
      if (peers?.size === 0) this.watchers.delete(keyHex)
      this.watchCount--
    }
    this.watching.delete(peer)
  }

  /** Docs the peer watches (held nowhere here). */
  watchesOf (peer: PeerState): number {
    return this.watching.get(peer)?.size ?? 0
  }

  /** A doc was closed: keep its fingerprint for peers that come back. */
  docClosed (doc: EngineDoc): void {
    // an empty doc has nothing a returning peer could have missed
    if (isEmpty(doc)) return
    if (this.closedFingerprints.size >= MAX_CLOSED_FINGERPRINTS) {
      const oldest = this.closedFingerprints.keys().next().value
      if (oldest !== undefined) this.closedFingerprints.delete(oldest)
    }
    this.closedFingerprints.delete(doc.keyHex)
    this.closedFingerprints.set(doc.keyHex, this.ctx.fingerprints.fingerprint(doc))
  }

  /**
   * Docs a returning peer holds (as we remember: doc key -> fingerprint) that
   * we have since closed, and that changed before we closed them: open them
   * again so the peer hears of it.
   */
  reopenChanged (peer: PeerState, remembered: ReadonlyMap<string, string>): void {
    for (const [keyHex, fp] of remembered) {
      if (this.ctx.doc(keyHex) !== undefined || this.isOpening(keyHex)) continue
      const closed = this.closedFingerprints.get(keyHex)
      if (closed === undefined || closed === fp) continue
      // the node-wide cap holds here too: past it, the peer hears of the change when it next asks (anti-entropy)
      if (this.atLoadedCap()) { this.ctx.countRejection('loaded_docs_cap'); return }
      this.open(peer, keyHex)
    }
  }

  /**
   * A frame for a doc that is not open, which the peer may see (the engine
   * asked the policy about its key form): a SYNC1, SYNC2, SYNC2_PART or
   * UPDATE opens it, within the caps (`refusal`: counted, and a SYNC1 is
   * answered DENIED unavailable); any frame for a doc being opened waits for
   * it. An ACK, AWARENESS or DENIED for a doc not open (it closed meanwhile)
   * is dropped.
   */
  receive (peer: PeerState, keyHex: string, frame: DocFrame): void {
    let repair = false
    if (this.watching.get(peer)?.has(keyHex) === true) {
      // nothing opened it since it was empty: asked again, the same answer
      if (asksForAll(frame)) return this.answerEmpty(peer, frame.docKey)
      // its answer to our SYNC1 (nothing), its ACK of ours, its presence: nothing to keep
      if (carriesNothing(frame)) {
        if (frame.type === MessageType.SYNC2) this.ctx.peers.send(peer, { type: MessageType.ACK, docKey: frame.docKey, seq: frame.seq, stateVector: EMPTY_STATE_VECTOR })
        return
      }
      this.unwatch(peer, keyHex)
      // it closed the doc
      if (frame.type === MessageType.DENIED) return
      // it has something for the doc: taken in a session, by a SYNC round once the doc is open
      repair = true
    }
    if (!OPENS_DOC.has(frame.type) && !this.isOpening(keyHex)) return
    // the caps hold before anything is loaded
    const refusal = this.refusal(peer, keyHex)
    if (refusal === undefined) return repair ? this.open(peer, keyHex, undefined, true) : this.open(peer, keyHex, frame)
    this.ctx.countRejection(refusal)
    if (frame.type === MessageType.SYNC1) this.handlers.refuse(peer, frame.docKey)
  }

  /**
   * May `peer` make us open a doc that is not open? Its docs cap (sessions and
   * opens under way), the node's cap on loaded docs, and its open rate are
   * checked before anything is loaded. Returns the refusal's counter name, or
   * undefined if the doc may be opened. A frame for a doc already opening
   * joins that open and costs nothing.
   */
  refusal (peer: PeerState, keyHex: string): string | undefined {
    if (this.isOpening(keyHex)) return undefined
    const limits = this.ctx.limits
    if (peer.sessions.size + this.openingFor(peer) + this.watchesOf(peer) >= limits.maxDocsPerPeer) return 'too_many_docs'
    if (this.atLoadedCap()) return 'loaded_docs_cap'
    const budget = recentEntry(this.openBudget, peer.id, () => new TokenBucket(limits.docOpensPerSecond ?? SERVING_DEFAULTS.docOpensPerSecond, limits.docOpenBurst ?? SERVING_DEFAULTS.docOpenBurst))
    return budget.take(1) ? undefined : 'open_rate'
  }

  /** The node holds as many docs as it may (open, and being opened): `maxLoadedDocs`. */
  private atLoadedCap (): boolean {
    return this.ctx.docCount() + this.opening.size >= (this.ctx.limits.maxLoadedDocs ?? SERVING_DEFAULTS.maxLoadedDocs)
  }

  /** How many docs are being opened for this peer now. */
  openingFor (peer: PeerState): number {
    return this.perPeer.get(peer) ?? 0
  }

  /** Is this doc being opened now? Frames for it must wait (`open`). */
  isOpening (keyHex: string): boolean {
    return this.opening.has(keyHex)
  }

  /**
   * Open the doc for `peer`, then handle `frame` (if any), or run a SYNC round
   * with the peer (`repair`). Joins an opening already running for the doc.
   */
  open (peer: PeerState, keyHex: string, frame?: DocFrame, repair = false): void {
    let waiting = this.opening.get(keyHex)
    const first = waiting === undefined
    if (waiting === undefined) {
      waiting = new Map()
      this.opening.set(keyHex, waiting)
    }
    let w = waiting.get(peer)
    if (w === undefined) {
      w = { frames: [], overflowed: false, docKey: undefined, asked: false }
      waiting.set(peer, w)
      this.perPeer.set(peer, this.openingFor(peer) + 1)
    }
    if (repair) w.overflowed = true
    if (frame !== undefined) {
      w.docKey ??= frame.docKey
      if (frame.type === MessageType.SYNC1) w.asked = true
      if (w.frames.length < MAX_WAITING_FRAMES) {
        w.frames.push(frame)
      } else {
        if (!w.overflowed) log('%s sent more than %d frames for %s while it opened; will resync', peer.id, MAX_WAITING_FRAMES, keyHex)
        w.overflowed = true
        this.ctx.ignore('open_queue_overflow')
      }
    }
    if (first) void this.run(peer.id, keyHex)
  }

  /**
   * Did only readers that hold nothing of the doc ask for it (each only with
   * SYNC1s naming no client, and room for a watch under its docs cap)? Then
   * they may watch it, if it turns out empty. False when watches are off (no
   * `releaseDoc`).
   */
  private onlyWatchersWait (keyHex: string, waiting = this.opening.get(keyHex)): boolean {
    if (this.releaseDoc === undefined || waiting === undefined || this.watchCount >= MAX_WATCHES) return false
    // the key form is what the policy is asked about for a doc not open (its id when served)
    const served = { id: keyOnlyDocId(keyHex) }
    for (const [peer, w] of waiting) {
      if (peer.closed) continue
      if (w.overflowed || w.frames.length === 0 || !w.frames.every(asksForAll) || this.ctx.access(peer.id, served) !== Access.READ) return false
      if (this.watchesOf(peer) + peer.sessions.size >= this.ctx.limits.maxDocsPerPeer) return false
    }
    return true
  }

  /** Every waiting peer watches the doc (held nowhere here), and is answered so. */
  private watchAll (keyHex: string, waiting: Map<PeerState, Waiting>): void {
    for (const [peer, w] of waiting) {
      if (peer.closed || w.docKey === undefined) continue
      this.watch(peer, keyHex)
      this.answerEmpty(peer, w.docKey)
    }
  }

  private watch (peer: PeerState, keyHex: string): void {
    let keys = this.watching.get(peer)
    if (keys === undefined) this.watching.set(peer, keys = new Set())
    if (!keys.has(keyHex)) this.watchCount++
    keys.add(keyHex)
    let peers = this.watchers.get(keyHex)
    if (peers === undefined) this.watchers.set(keyHex, peers = new Set())
    peers.add(peer)
  }

  private unwatch (peer: PeerState, keyHex: string): void {
    if (this.watching.get(peer)?.delete(keyHex) === true) this.watchCount--
    const peers = this.watchers.get(keyHex)
    peers?.delete(peer)
    if (peers?.size === 0) this.watchers.delete(keyHex)
  }

  /**
   * The answer to a watcher's SYNC1 (PROTOCOL §3.2): an empty SYNC2 of seq 0,
   * outside any session, and our SYNC1 naming no client, so that the peer
   * tells us if it holds something after all (its answer is acknowledged if it
   * holds nothing: a reader of an empty doc is in sync with us).
   */
  private answerEmpty (peer: PeerState, docKey: Uint8Array): void {
    this.ctx.peers.send(peer, { type: MessageType.SYNC2, docKey, seq: 0, update: EMPTY_UPDATE })
    this.ctx.peers.send(peer, { type: MessageType.SYNC1, docKey, flags: 0, stateVector: EMPTY_STATE_VECTOR, dsDigest: EMPTY_DS_DIGEST })
    this.ctx.ignore('sync1_watched')
  }

  private async run (peerId: string, keyHex: string): Promise<void> {
    let doc: EngineDoc | null | undefined
    try {
      // nothing is built for a key nothing is stored under, while only readers holding nothing ask
      doc = await this.resolveDoc(peerId, keyHex, this.onlyWatchersWait(keyHex))
      // someone else asked meanwhile (a writer): open it after all
      if (doc === null && !this.onlyWatchersWait(keyHex)) doc = await this.resolveDoc(peerId, keyHex)
    } catch (err) {
      doc = undefined
      log.error('opening %s for %s failed: %e', keyHex, peerId, err)
    }
    // the app opened it meanwhile: the waiting frames go to that doc
    if (doc === null) doc = this.ctx.doc(keyHex) ?? null
    const waiting = this.opening.get(keyHex)
    this.opening.delete(keyHex)
    if (waiting === undefined) return
    for (const peer of waiting.keys()) {
      const n = this.openingFor(peer) - 1
      if (n > 0) this.perPeer.set(peer, n)
      else this.perPeer.delete(peer)
    }
    if (doc === null) return this.watchAll(keyHex, waiting)
    // the doc may have been closed (or replaced) again while the open finished
    const open = doc !== undefined && this.ctx.doc(keyHex) === doc ? doc : undefined
    if (open !== undefined && this.releaseDoc !== undefined && open.servedOnly && open.sessions.size === 0 && isEmpty(open) && this.onlyWatchersWait(keyHex, waiting)) {
      this.watchAll(keyHex, waiting)
      this.releaseDoc(open)
      return
    }
    for (const [peer, w] of waiting) {
      if (peer.closed) continue
      try {
        if (open === undefined) {
          if (w.asked && w.docKey !== undefined) this.handlers.refuse(peer, w.docKey)
          continue
        }
        for (const f of w.frames) {
          if (peer.closed) break
          this.handlers.handle(peer, f)
        }
        if (w.overflowed && !peer.closed) this.handlers.repair(peer, open)
      } catch (err) {
        log.error('handling frames for %s from %s failed: %e', keyHex, peer.id, err)
      }
    }
  }
}
