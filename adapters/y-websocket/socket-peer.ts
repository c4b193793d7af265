/**
 * One y-websocket socket as an engine peer: a `PeerLink` the engine writes
 * meshdoc frames to, translated into y-websocket messages for the client,
 * and the client's messages translated into the frames a mesh peer would
 * send (docs/PROTOCOL.md §8):
 *
 * | client → engine            | engine → client                                   |
 * | -------------------------- | ------------------------------------------------- |
 * | (open) HELLO, CLAIM with grants | SYNC1 → step 1                               |
 * | step 1 → SYNC1, no digest  | SYNC2 → step 2, then ACK once the socket took it  |
 * | step 2 → SYNC2 (next seq)  | UPDATE, SYNC2_PART → update (UPDATE ACKed too)    |
 * | update → UPDATE (next seq) | AWARENESS → awareness                             |
 * | awareness → AWARENESS, echoed | DENIED read_only / quota / authorship: counted |
 * | query awareness: answered here | DENIED unavailable → close 4403              |
 * | auth: dropped, counted     | BYE → close (code by reason); ACK: counted        |
 *
 * Being an engine peer, the client meets every rule a mesh peer does: strict
 * V1 validation, caps, rate limits, quotas, authorship, policy and grants.
 * The engine's offers of other docs are answered DENIED `unavailable`.
 * Frames the bridge sends the engine in answer to the engine's own (ACKs,
 * DENIEDs) go on a microtask: never re-entrantly from `send`.
 */
import * as encoding from 'lib0/encoding'
import type { WebSocket } from 'ws'
import { logger } from '../../lib/log.js'
import { decodeFrame, encodeFrame, type Frame } from '../../lib/protocol/codec.js'
import { ByeReason, byeReasonName, deniedReasonName, DeniedReason, DEFAULT_MAX_FRAME_BYTES, DS_DIGEST_BYTES, EPOCH_BYTES, Features, MessageType } from '../../lib/protocol/constants.js'
import { ProtocolError } from '../../lib/errors.js'
import { DEFAULT_LIMITS } from '../../lib/security/limits.js'
import { TokenBucket } from '../../lib/security/token-bucket.js'
import type { PeerConnection, PeerLink } from '../../lib/sync/types.js'
import type { YwsBridgeStats } from '../../lib/yws-bridge.js'
import { awarenessMessage, CloseCode, closeCodeFor, closeReason, readClientMessage, syncMessage, type ClientMessage } from './messages.js'
import type { RoomAwareness } from './room-awareness.js'
import { mergeablePart, UpdateMerge } from './update-merge.js'

const log = logger('yws')

/** while this much waits in the socket's buffers, the engine holds updates back (it coalesces them) */
const HIGH_WATER_BYTES = 1024 * 1024
/** the SYNC1 we send for a client names no delete-set digest (the client's is unknown): this one matches none we know */
const NO_DIGEST = new Uint8Array(DS_DIGEST_BYTES)
/** the state vector our ACKs carry: a y-websocket client stores nothing we know of */
const EMPTY_STATE_VECTOR = new Uint8Array([0])
/** auth and awareness-query messages a client may send (handled here, not by the engine): per second, and burst */
const OWN_MESSAGES_PER_SECOND = 20
const OWN_MESSAGE_BURST = 100
/** after losing the room (DENIED unavailable after it joined), ask again at most this often; else the socket is closed */
const REJOIN_EVERY_MS = 10_000
/**
 * Messages per second a client may send, and burst. A message costs the
 * bridge a format check and a share of a merge, far less than an engine
 * frame, so a client gets 4 times a mesh peer's frame rate in messages; past
 * it the bridge stops reading its socket until the budget refills (TCP holds
 * the client back; it is not closed). The engine's own limits still apply to
 * the merged frames and their bytes.
 */
const MESSAGES_PER_SECOND = 4 * DEFAULT_LIMITS.framesPerSecond
const MESSAGE_BURST = 4 * DEFAULT_LIMITS.frameBurst
/** a closed socket whose close handshake has not finished by then is cut */
export const CLOSE_HANDSHAKE_MS = 5000

export interface SocketPeerOptions {
  /** the engine peer id: unique among open sockets */
  peerId: string
  room: string
  docKey: Uint8Array
  keyHex: string
  /** the client presented grants: name the room to a gateway serving by key (CLAIM), so the grants' globs apply */
  claims: boolean
  stats: YwsBridgeStats
  rooms: RoomAwareness
  /** the client's message budget (default MESSAGES_PER_SECOND, MESSAGE_BURST) */
  messagesPerSecond?: number
  messageBurst?: number
}

/** why a room whose doc is end-to-end encrypted here is refused */
export const ENCRYPTED_ROOM = 'this room is an end-to-end encrypted doc: a y-websocket client cannot hold its keys'

export class SocketPeer implements PeerLink {
  readonly initiator = false
  private conn: PeerConnection | undefined
  private engineFeatures = 0
  /** seq of the last SYNC2 / UPDATE we sent the engine for the client */
  private seq = 0
  /** the client's state vector from its last step 1 (to ask again with, should the session end) */
  private clientStateVector: Uint8Array | undefined
  /** the engine answered our SYNC1: the client holds the room */
  private joined = false
  private rejoinedAt = -Infinity
  /** highest seq written to the socket and not yet acknowledged to the engine */
  private ackDue = 0
  private ackScheduled = false
  private deliverScheduled = false
  private readonly toEngineLater: Frame[] = []
  /** the engine saw us not writable: tell it when the socket drains */
  private blocked = false
  /** bytes the socket has taken (written out), and when that last moved while data waited */
  private written = 0
  private stallMark = { written: 0, since: 0 }
  private closed = false
  /** counted in the room's awareness (room-awareness.ts) */
  private inRoom = false
  /** a pong came since the last ping */
  alive = true
  private readonly ownMessages = new TokenBucket(OWN_MESSAGES_PER_SECOND, OWN_MESSAGE_BURST)
  /** the client's messages: past the budget, its socket is not read until it refills */
  private readonly messageBudget: TokenBucket
  private paused = false
  /** the client's update messages of this read, waiting to go to the engine as one */
  private readonly merge = new UpdateMerge()

  constructor (private readonly ws: WebSocket, private readonly opts: SocketPeerOptions) {
    this.messageBudget = new TokenBucket(opts.messagesPerSecond ?? MESSAGES_PER_SECOND, opts.messageBurst ?? MESSAGE_BURST)
  }

  get peerId (): string {
    return this.opts.peerId
  }

  /**
   * Link the socket to the engine (`attach`: MeshNode.attachPeer) and greet
   * it; `attached` runs in between (the client's grants go in force there,
   * before the engine reads anything from it).
   */
  start (attach: (peerId: string, link: PeerLink) => PeerConnection, attached?: () => void): void {
    this.opts.rooms.join(this.opts.keyHex)
    this.inRoom = true
    // the engine's HELLO comes to `send` before this returns
    this.conn = attach(this.opts.peerId, this)
    attached?.()
    this.toEngine({ type: MessageType.HELLO, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, features: Features.SYNC2_PARTS, epoch: crypto.getRandomValues(new Uint8Array(EPOCH_BYTES)) })
    if (this.opts.claims && (this.engineFeatures & Features.DOC_CLAIMS) !== 0) {
      // a CLAIM's body: the doc id as a string (PROTOCOL §4.4)
      const body = encoding.createEncoder()
      encoding.writeVarString(body, this.opts.room)
      this.toEngine({ type: MessageType.CLAIM, body: encoding.toUint8Array(body) })
    }
  }

  // ------------------------------------------------------------ PeerLink (engine → client)

  get writable (): boolean {
    const ok = !this.closed && this.ws.bufferedAmount < HIGH_WATER_BYTES
    if (!ok) this.blocked = true
    return ok
  }

  get queuedBytes (): number {
    return this.ws.bufferedAmount
  }

  send (body: Uint8Array): void {
    if (this.closed) return
    let frame: Frame
    try {
      frame = decodeFrame(body)
    } catch (err) {
      log.error('%s: a frame of our own engine did not decode: %e', this.opts.peerId, err)
      return
    }
    if (frame.type === MessageType.HELLO) { this.engineFeatures = frame.features; return }
    if (frame.type === MessageType.BYE) {
      this.closeWith(closeCodeFor(frame.reason), closeReason(frame.reason, frame.message), byeReasonName(frame.reason))
      return
    }
    if (!('docKey' in frame)) return
    if (!sameKey(frame.docKey, this.opts.docKey)) {
      // the engine offers the docs it holds: the client syncs one room only
      if (frame.type === MessageType.SYNC1) this.later({ type: MessageType.DENIED, docKey: frame.docKey, reason: DeniedReason.UNAVAILABLE })
      return
    }
    switch (frame.type) {
      case MessageType.SYNC1: this.write(syncMessage('sync1', frame.stateVector)); return
      case MessageType.SYNC2:
        this.joined = true
        this.write(syncMessage('sync2', frame.update), frame.seq)
        return
      // each part is a complete update: the client applies it as one
      case MessageType.SYNC2_PART: this.write(syncMessage('update', frame.update)); return
      case MessageType.UPDATE: this.write(syncMessage('update', frame.update), frame.seq); return
      case MessageType.ACK: this.opts.stats.writesAcknowledged++; return
      case MessageType.AWARENESS:
        this.opts.rooms.apply(this.opts.keyHex, frame.update)
        this.write(awarenessMessage(frame.update))
        return
      case MessageType.DENIED: this.denied(frame.reason)
    }
  }

  /** After a BYE (sent through `send`, which closed the socket already) or when the engine is done with the peer. */
  close (): void {
    this.closeWith(CloseCode.NORMAL, 'normal: closed by the gateway', 'normal')
  }

  private denied (reason: number): void {
    if (reason === DeniedReason.ENCRYPTED) {
      // the doc became an end-to-end encrypted one here meanwhile: never served in clear
      this.closeWith(CloseCode.FORBIDDEN, closeReason('encrypted', ENCRYPTED_ROOM), 'encrypted', !this.joined)
      return
    }
    if (reason !== DeniedReason.UNAVAILABLE) {
      // read-only, past its quota, a clientID another peer holds: the client keeps syncing down
      this.count(this.opts.stats.messagesRefused, deniedReasonName(reason))
      return
    }
    if (!this.joined) {
      // refused at its first step 1: a refused connection; after a rejoin: access withdrawn
      const first = this.rejoinedAt === -Infinity
      this.closeWith(CloseCode.FORBIDDEN, closeReason('forbidden', first ? 'no access to this room' : 'no access to this room any more'), 'forbidden', first)
      return
    }
    // the session ended: the doc was closed, or access withdrawn (a grant ended, the policy changed). Ask once more.
    this.joined = false
    const now = performance.now()
    if (now - this.rejoinedAt < REJOIN_EVERY_MS || this.clientStateVector === undefined) {
      this.closeWith(CloseCode.FORBIDDEN, closeReason('forbidden', 'no access to this room any more'), 'forbidden')
      return
    }
    this.rejoinedAt = now
    this.later({ type: MessageType.SYNC1, docKey: this.opts.docKey, flags: 0, stateVector: this.clientStateVector, dsDigest: NO_DIGEST })
  }

  // ------------------------------------------------------------ the socket (client → engine)

  /** A message from the client. */
  receive (data: Uint8Array, isBinary: boolean): void {
    if (this.closed || this.conn === undefined) return
    const stats = this.opts.stats
    stats.messagesIn++
    stats.bytesIn += data.length
    if (!isBinary) {
      // what came before it in this read is the engine's (as it would be without merging), then the client is closed
      this.flushUpdates()
      this.conn.fail(ByeReason.PROTOCOL_ERROR, 'a text message (y-websocket messages are binary)')
      return
    }
    let msg: ClientMessage
    try {
      msg = readClientMessage(data)
    } catch (err) {
      this.flushUpdates()
      this.conn.fail(err instanceof ProtocolError ? err.code : ByeReason.PROTOCOL_ERROR, (err as Error).message)
      return
    }
    this.handle(msg)
    this.budget()
    // ws emits every message of one socket read in a row: the merged updates go to the engine after the last,
    // and the engine sends what they produced once (to the rest of the room as one update, not one message each)
    if (!this.deliverScheduled) {
      this.deliverScheduled = true
      queueMicrotask(() => {
        this.deliverScheduled = false
        this.flushUpdates()
        if (!this.closed) this.conn?.delivered?.()
      })
    }
  }

  /** Take one message from the client's budget; past it, stop reading its socket until the budget refills. */
  private budget (): void {
    this.messageBudget.spend(1)
    const wait = this.messageBudget.waitMs()
    if (wait === 0 || this.paused || this.closed) return
    this.paused = true
    this.opts.stats.readsPaused++
    this.ws.pause()
    setTimeout(() => {
      this.paused = false
      // also once closed: a closing socket must be read for its close handshake (ws ignores it once CLOSED)
      this.ws.resume()
    }, wait).unref()
  }

  /** A client update: merged with the others of this read when it may be (update-merge.ts), else sent alone, in order. */
  private update (update: Uint8Array): void {
    const part = mergeablePart(update)
    if (part === undefined) {
      // what came before it goes first; the engine then takes or refuses this one on its own (reason code, counted)
      this.flushUpdates()
      this.toEngine({ type: MessageType.UPDATE, docKey: this.opts.docKey, seq: ++this.seq, update })
      return
    }
    if (!this.merge.fits(part)) this.flushUpdates()
    this.merge.push(part)
  }

  /** Send the merged updates of this read to the engine. */
  private flushUpdates (): void {
    if (this.merge.empty) return
    const { updates, merged } = this.merge.take()
    this.opts.stats.updatesMerged += merged
    for (const update of updates) this.toEngine({ type: MessageType.UPDATE, docKey: this.opts.docKey, seq: ++this.seq, update })
  }

  private handle (msg: ClientMessage): void {
    const docKey = this.opts.docKey
    if (msg.type === 'update') { this.update(msg.update); return }
    // anything else keeps its place after the updates before it
    this.flushUpdates()
    switch (msg.type) {
      case 'sync1':
        this.clientStateVector = msg.stateVector.slice()
        this.toEngine({ type: MessageType.SYNC1, docKey, flags: 0, stateVector: msg.stateVector, dsDigest: NO_DIGEST })
        return
      case 'sync2':
        this.toEngine({ type: MessageType.SYNC2, docKey, seq: ++this.seq, update: msg.update })
        return
      case 'awareness':
        this.toEngine({ type: MessageType.AWARENESS, docKey, update: msg.update })
        // @y/websocket-server sends every awareness change to every socket, the sender's own too:
        // a client alone in a room hears from the server every 15 s, and does not time out
        if (!this.closed && this.ws.bufferedAmount < HIGH_WATER_BYTES) this.write(awarenessMessage(msg.update))
        return
      case 'auth':
        if (this.ownMessage()) this.count(this.opts.stats.messagesRefused, 'auth_message')
        return
      case 'query_awareness': {
        if (!this.ownMessage()) return
        const states = this.joined ? this.opts.rooms.states(this.opts.keyHex) : undefined
        if (states !== undefined && this.ws.bufferedAmount < HIGH_WATER_BYTES) this.write(awarenessMessage(states))
        else this.count(this.opts.stats.messagesRefused, 'query_unanswered')
      }
    }
  }

  /** The socket closed (either side). Idempotent. */
  socketClosed (): void {
    // what the client sent before it went is the engine's still
    if (!this.closed) this.flushUpdates()
    this.closed = true
    this.conn?.closed()
    if (this.inRoom) {
      this.inRoom = false
      this.opts.rooms.leave(this.opts.keyHex)
    }
  }

  /** A socket-level violation (a message over the size cap, a malformed WebSocket frame): the engine closes us. */
  fail (code: number, message: string): void {
    if (this.closed) return
    this.flushUpdates()
    this.conn?.fail(code, message)
  }

  /**
   * Called every few seconds: true if the socket has had data waiting for
   * `stallMs` and taken none of it (the caller closes it).
   */
  stalled (stallMs: number, now: number): boolean {
    if (this.closed || this.ws.bufferedAmount === 0 || this.written !== this.stallMark.written) {
      this.stallMark = { written: this.written, since: now }
      return false
    }
    return now - this.stallMark.since >= stallMs
  }

  /** Close the socket with `code` (the bridge is stopping, say) and tell the engine the peer is gone (counted under `counter`; `refused`: it never joined). */
  closeWith (code: number, reason: string, counter: string, refused = false): void {
    if (this.closed) return
    this.closed = true
    // a socket over its budget is read again, for the client's side of the close handshake
    if (this.paused) this.ws.resume()
    const stats = this.opts.stats
    this.count(refused ? stats.connectionsRefused : stats.connectionsClosed, counter)
    log('closing %s: %d %s', this.opts.peerId, code, reason)
    try {
      this.ws.close(code, reason)
    } catch (err) {
      log.error('closing %s failed: %e', this.opts.peerId, err)
      this.ws.terminate()
    }
    // the engine is told on a microtask: this may run inside its own send (a BYE, a DENIED), and after a BYE it has let go already
    queueMicrotask(() => { this.conn?.closed() })
    // a client that does not answer the close (or reads nothing) is cut, rather than held for ws's 30 s
    setTimeout(() => { this.ws.terminate() }, CLOSE_HANDSHAKE_MS).unref()
  }

  // ------------------------------------------------------------ helpers

  private toEngine (frame: Frame): void {
    if (!this.closed) this.conn?.receive(encodeFrame(frame))
  }

  /** A frame for the engine in answer to one of its own: on a microtask, never from inside `send`. */
  private later (frame: Frame): void {
    if (this.toEngineLater.push(frame) > 1) return
    queueMicrotask(() => {
      for (const f of this.toEngineLater.splice(0)) this.toEngine(f)
    })
  }

  /** Write to the client; `ackSeq`: acknowledge that engine seq once the socket took it. */
  private write (message: Uint8Array, ackSeq?: number): void {
    const stats = this.opts.stats
    stats.messagesOut++
    stats.bytesOut += message.length
    this.ws.send(message, { binary: true }, (err) => {
      if (err != null || this.closed) return
      this.written += message.length
      if (ackSeq !== undefined) this.ack(ackSeq)
      if (this.blocked && this.ws.bufferedAmount < HIGH_WATER_BYTES / 2) {
        this.blocked = false
        this.conn?.drained()
      }
    })
  }

  /**
   * The engine's SYNC2 / UPDATE `seq` was written to the socket. y-websocket
   * has no acknowledgement, so the bridge gives the engine one (coalesced):
   * without it the client would never count as synced (`whenSynced` on the
   * gateway would wait forever, sync lag would grow, anti-entropy would run a
   * round with it every 30 s).
   */
  private ack (seq: number): void {
    this.ackDue = Math.max(this.ackDue, seq)
    if (this.ackScheduled) return
    this.ackScheduled = true
    queueMicrotask(() => {
      this.ackScheduled = false
      this.toEngine({ type: MessageType.ACK, docKey: this.opts.docKey, seq: this.ackDue, stateVector: EMPTY_STATE_VECTOR })
    })
  }

  /** Take one of the client's auth / query messages from its budget; past it, the engine closes the peer. */
  private ownMessage (): boolean {
    if (this.ownMessages.take(1)) return true
    this.conn?.fail(ByeReason.RATE_LIMITED, 'too many auth or awareness-query messages')
    return false
  }

  private count (counters: Record<string, number>, name: string): void {
    counters[name] = (counters[name] ?? 0) + 1
  }
}

function sameKey (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}
