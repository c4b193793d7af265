/**
 * Connected peers: their state, HELLO deadline, rate buckets, frame encoding
 * and decoding, link writes, and closing with a reason (BYE). Knows nothing of
 * documents beyond the sessions list each peer carries; `onGone` lets the
 * engine end those when a peer leaves.
 */
import * as decoding from 'lib0/decoding'
import { ProtocolError } from '../errors.js'
import { logger } from '../log.js'
import { decodeFrame, encodeFrame, type Frame } from '../protocol/codec.js'
import { ByeReason, byeReasonName, MESSAGE_TYPE_NAMES, MessageType, MIN_MAX_FRAME_BYTES } from '../protocol/constants.js'
import type { Limits } from '../security/limits.js'
import { recentEntry, TokenBucket } from '../security/token-bucket.js'
import type { DocSession } from './doc-session.js'
import type { EngineCounters, PeerLink } from './types.js'

const log = logger('sync')

export interface PeerState {
  readonly id: string
  readonly link: PeerLink
  /** doc key -> session; kept by `Sessions` alone */
  readonly sessions: Map<string, DocSession>
  /** sessions whose peer is owed coalesced updates, sent when the link drains */
  readonly owing: Set<DocSession>
  /** sessions with an answer outstanding or a SYNC1 waiting for one (answer.ts) */
  readonly answering: Set<DocSession>
  helloReceived: boolean
  /** the largest frame body the peer accepts (from its HELLO) */
  maxFrameBytes: number
  /** feature bits of the peer's HELLO (0 until it arrives) */
  features: number
  closed: boolean
  readonly frameBucket: TokenBucket
  readonly byteBucket: TokenBucket
  /** the work its SYNC1s cause: answer bytes sent (answer.ts) */
  readonly answerBucket: TokenBucket
  helloTimer: ReturnType<typeof setTimeout> | undefined
  /** doc key -> fingerprint this peer had stored when we last knew (this incarnation) */
  remembered: Map<string, string> | undefined
  /** HELLO arrived; its offers (our SYNC1s) wait until the frames that came with it are handled */
  offersPending: boolean
  /** frame-body bytes handed to the link since the last answer or UPDATE: they wait behind it */
  behind: number
}

export interface PeersOptions {
  readonly counters: EngineCounters
  readonly limits: Limits
  /** the largest frame body we accept */
  readonly maxFrameBytes: number
  /** a frame could not be sent (too big for the peer): tell whoever owns its doc */
  onUnsendable: (frame: Frame, err: Error) => void
  /** the peer is closed and out of the table: end its sessions */
  onGone: (peer: PeerState) => void
}

export class Peers {
  private readonly byId = new Map<string, PeerState>()
  /** rate buckets by PeerId, across connections (`budgetsOf`) */
  private readonly budgets = new Map<string, Pick<PeerState, 'frameBucket' | 'byteBucket' | 'answerBucket'>>()
  /** peers whose link has frames queued since the last `writeAll()` */
  private readonly unwritten = new Set<PeerState>()

  constructor (private readonly opts: PeersOptions) {}

  get (id: string): PeerState | undefined {
    return this.byId.get(id)
  }

  has (id: string): boolean {
    return this.byId.has(id)
  }

  values (): IterableIterator<PeerState> {
    return this.byId.values()
  }

  ids (): string[] {
    return [...this.byId.keys()]
  }

  /** A new connection; an older one from the same peer is closed first. */
  add (id: string, link: PeerLink): PeerState {
    const existing = this.byId.get(id)
    if (existing !== undefined) {
      log('peer %s reconnected; replacing the old link', id)
      this.bye(existing, ByeReason.DUPLICATE_CONNECTION, 'replaced by a newer connection')
    }
    const lim = this.opts.limits
    const peer: PeerState = {
      id,
      link,
      sessions: new Map(),
      owing: new Set(),
      answering: new Set(),
      helloReceived: false,
      maxFrameBytes: MIN_MAX_FRAME_BYTES,
      features: 0,
      closed: false,
      ...this.budgetsOf(id),
      helloTimer: undefined,
      remembered: undefined,
      offersPending: false,
      behind: 0
    }
    peer.helloTimer = setTimeout(() => { this.reject(peer, ByeReason.TIMEOUT, 'no HELLO in time') }, lim.helloTimeoutMs)
    this.byId.set(id, peer)
    this.opts.counters.peersConnected = this.byId.size
    log('peer %s connected', id)
    return peer
  }

  /**
   * The rate buckets of a PeerId: kept across its connections (for the last
   * MAX_REMEMBERED_PEERS peers), so that reconnecting never refills them.
   */
  private budgetsOf (id: string): Pick<PeerState, 'frameBucket' | 'byteBucket' | 'answerBucket'> {
    const lim = this.opts.limits
    return recentEntry(this.budgets, id, () => ({
      frameBucket: new TokenBucket(lim.framesPerSecond, lim.frameBurst),
      byteBucket: new TokenBucket(lim.bytesPerSecond, Math.max(lim.byteBurst, this.opts.maxFrameBytes)),
      answerBucket: new TokenBucket(lim.answerBytesPerSecond, lim.answerByteBurst)
    }))
  }

  /** The link is gone (either side closed it). Idempotent. */
  remove (peer: PeerState): void {
    if (peer.closed) return
    peer.closed = true
    this.unwritten.delete(peer)
    if (peer.helloTimer !== undefined) clearTimeout(peer.helloTimer)
    peer.helloTimer = undefined
    if (this.byId.get(peer.id) === peer) this.byId.delete(peer.id)
    this.opts.counters.peersConnected = this.byId.size
    this.opts.onGone(peer)
    peer.owing.clear()
    peer.answering.clear()
    log('peer %s disconnected', peer.id)
  }

  /** Close a peer with a reason: BYE, close the link, forget it. */
  bye (peer: PeerState, reason: number, message: string): void {
    if (peer.closed) return
    this.send(peer, { type: MessageType.BYE, reason, message })
    peer.link.close()
    this.remove(peer)
  }

  /** Close a peer for a violation: counted under the reason's name, then BYE. */
  reject (peer: PeerState, reason: number, message: string): void {
    const name = byeReasonName(reason)
    const rejected = this.opts.counters.rejected
    rejected[name] = (rejected[name] ?? 0) + 1
    log('closing %s: %s (%s)', peer.id, name, message)
    this.bye(peer, reason, message)
  }

  /**
   * Frame and send; false if the peer is gone or the frame exceeds its limit.
   * A peer whose queue this frame would take past `maxQueuedBytesPerPeer` is
   * closed instead. Answers and UPDATEs do not count: they are sent only while
   * the link is writable (answer.ts, outbound.ts). The rest is sent whatever
   * the link's state, so what counts is the part of the link's queue sent
   * after the last of them (the queue drains oldest first).
   */
  send (peer: PeerState, frame: Frame): boolean {
    if (peer.closed) return false
    const body = encodeFrame(frame)
    const type = frame.type
    const bulk = type === MessageType.SYNC2 || type === MessageType.SYNC2_PART || type === MessageType.UPDATE
    if (!bulk && type !== MessageType.BYE && Math.min(peer.link.queuedBytes ?? -Infinity, peer.behind) + body.length > this.opts.limits.maxQueuedBytesPerPeer) {
      this.reject(peer, ByeReason.SLOW_CONSUMER, 'send queue full')
      return false
    }
    if (body.length > peer.maxFrameBytes && type !== MessageType.HELLO) {
      // SYNC2 answers are split (SYNC2_PART); one UPDATE or struct this big is not
      const err = new Error(`frame of ${body.length} bytes exceeds peer ${peer.id}'s limit of ${peer.maxFrameBytes}`)
      log.error('%s', err.message)
      this.opts.onUnsendable(frame, err)
      return false
    }
    const counters = this.opts.counters
    counters.framesOut++
    counters.bytesOut += body.length
    log.trace('-> %s %s %d B', peer.id.slice(-6), frameName(frame.type), body.length)
    try {
      peer.link.send(body)
      peer.behind = bulk ? 0 : peer.behind + body.length
      if (peer.link.flush !== undefined) this.unwritten.add(peer)
      return true
    } catch (err) {
      log.error('send to %s failed: %e', peer.id, err)
      this.remove(peer)
      return false
    }
  }

  /** Write what is queued for this peer now (where the link can). */
  writeNow (peer: PeerState): void {
    this.unwritten.delete(peer)
    if (!peer.closed) peer.link.flush?.()
  }

  /** Write every link that has frames queued. */
  writeAll (): void {
    for (const peer of this.unwritten) this.writeNow(peer)
  }

  /**
   * A frame body from the peer: charged to its rate buckets, decoded, and
   * checked to be HELLO if none came yet. Undefined if the peer was closed
   * for it (or already was).
   */
  read (peer: PeerState, body: Uint8Array): Frame | undefined {
    if (peer.closed) return undefined
    const counters = this.opts.counters
    counters.framesIn++
    counters.bytesIn += body.length
    if (!peer.frameBucket.take(1) || !peer.byteBucket.take(body.length)) {
      this.reject(peer, ByeReason.RATE_LIMITED, 'too many frames or bytes')
      return undefined
    }
    let frame: Frame
    try {
      frame = decodeFrame(body)
    } catch (err) {
      const code = err instanceof ProtocolError ? err.code : ByeReason.PROTOCOL_ERROR
      this.reject(peer, code, (err as Error).message)
      return undefined
    }
    log.trace('<- %s %s %d B', peer.id.slice(-6), frameName(frame.type), body.length)
    if (!peer.helloReceived && frame.type !== MessageType.HELLO) {
      this.reject(peer, ByeReason.PROTOCOL_ERROR, 'expected HELLO first')
      return undefined
    }
    return frame
  }

  /**
   * A state vector the peer sent (SYNC1, ACK; `frame` names it in the
   * reason), decoded, or undefined after closing the peer for it: when it
   * names more than `maxStateVectorClients` clients (told by its first
   * varint, before anything else is read), or does not decode.
   */
  readStateVector (peer: PeerState, sv: Uint8Array, frame = ''): Map<number, number> | undefined {
    let code: number = ByeReason.PROTOCOL_ERROR
    let reason = 'malformed state vector'
    try {
      const decoder = decoding.createDecoder(sv)
      const n = decoding.readVarUint(decoder)
      if (n <= this.opts.limits.maxStateVectorClients) {
        const clocks = new Map<number, number>()
        for (let i = 0; i < n; i++) clocks.set(decoding.readVarUint(decoder), decoding.readVarUint(decoder))
        return clocks
      }
      code = ByeReason.LIMIT_EXCEEDED
      reason = 'state vector of too many clients'
    } catch {
      // malformed
    }
    this.reject(peer, code, reason + frame)
    return undefined
  }
}

const frameName = (type: number): string => MESSAGE_TYPE_NAMES[type] ?? `type${type}`
