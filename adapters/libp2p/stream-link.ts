/**
 * One libp2p stream as a `PeerLink`: length-prefixes outgoing frame bodies,
 * coalesces all frames produced in one tick into a single `send()` (a flood of
 * tiny sends made libp2p 3 streams time out), honours backpressure via the
 * 'drain' event (not `onDrain()`, which can resolve early), and reassembles
 * incoming frames with a size cap checked before buffering.
 *
 * While the stream waits for 'drain', what is sent stays in our queue, in one
 * buffer: the stream's write buffer keeps every write as its own chunk, which
 * for a flood of tiny frames to a peer that does not read cost some 250 B of
 * heap per 20 B frame.
 *
 * On Node, a peer that reads nothing is closed (`WatchedStreamLink`,
 * stall-watch.ts).
 */
import type { Stream } from '@libp2p/interface'
import * as encoding from 'lib0/encoding'
import { ProtocolError } from '../../lib/errors.js'
import { logger } from '../../lib/log.js'
import { ByeReason } from '../../lib/protocol/constants.js'
import { FrameReader } from '../../lib/protocol/framing.js'
import type { PeerConnection, PeerLink } from '../../lib/sync/types.js'

const log = logger('libp2p')

/** frames at least this big report receive progress */
const PROGRESS_MIN_BYTES = 64 * 1024

/** A large frame arriving: `received` of `expected` body bytes so far. */
export type ReceiveProgress = (received: number, expected: number) => void

/** how long a closing stream may take to flush before it is reset */
const CLOSE_GRACE_MS = 2000

export class StreamLink implements PeerLink {
  /** length-prefixed frames not yet handed to the stream */
  private queue = encoding.createEncoder()
  private scheduled = false
  private readonly reader: FrameReader
  protected closed = false

  constructor (readonly stream: Stream, maxFrameBytes: number, private readonly onProgress?: ReceiveProgress) {
    this.reader = new FrameReader(maxFrameBytes)
  }

  /** we opened the stream (the dialing side does) */
  get initiator (): boolean {
    return this.stream.direction === 'outbound'
  }

  /** Wire the stream to the engine's callbacks for this peer. */
  attach (conn: PeerConnection): void {
    const stream = this.stream
    stream.addEventListener('message', (evt) => {
      if (this.closed) return
      let bodies: Uint8Array[]
      const before = this.reader.expecting
      try {
        bodies = this.reader.push(evt.data)
      } catch (err) {
        const code = err instanceof ProtocolError ? err.code : ByeReason.PROTOCOL_ERROR
        conn.fail(code, (err as Error).message)
        // a hostile length prefix: do not wait politely for the rest
        stream.abort(err as Error)
        return
      }
      this.reportProgress(before, bodies)
      if (bodies.length === 0) return
      for (const body of bodies) conn.receive(body)
      // send what these frames produced (a forward) now: yamux writes a window
      // update right after this handler returns, and the forward should not wait for it
      conn.delivered?.()
    })
    stream.addEventListener('drain', () => {
      this.flush()
      conn.drained()
    })
    stream.addEventListener('close', () => {
      this.closed = true
      conn.closed()
    })
  }

  /** `before`: the announced size of the frame that was pending before this chunk (-1: none) */
  private reportProgress (before: number, bodies: Uint8Array[]): void {
    if (this.onProgress === undefined) return
    // a large frame that just completed
    if (before >= PROGRESS_MIN_BYTES && bodies.length > 0) this.onProgress(before, before)
    // only a large frame in progress needs the (allocating) `partial`
    if (this.reader.expecting < PROGRESS_MIN_BYTES) return
    const now = this.reader.partial
    if (now !== undefined) this.onProgress(now.received, now.expected)
  }

  get writable (): boolean {
    return !this.closed && this.stream.writeStatus === 'writable' && !this.stream.writableNeedsDrain
  }

  /**
   * What waits to go to the peer: our queue (until the end of the tick, or
   * until 'drain') and the stream's write buffer, the rest of the write that
   * ran out of yamux send window (the peer does not read) or found the
   * connection below saturated. Not counted: what yamux already handed to the
   * connection, at most the part of that one write that still fitted.
   */
  get queuedBytes (): number {
    return encoding.length(this.queue) + this.stream.writeBufferLength
  }

  send (body: Uint8Array): void {
    if (this.closed) return
    encoding.writeVarUint(this.queue, body.length)
    encoding.writeUint8Array(this.queue, body)
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(() => { this.flush() })
    }
  }

  /**
   * Write what is queued now (also runs on the microtask `send` schedules, and
   * on 'drain'). While the stream waits for 'drain' it stays queued, unless
   * `force` (closing).
   */
  flush (force = false): void {
    this.scheduled = false
    if (!encoding.hasContent(this.queue) || this.closed || (this.stream.writableNeedsDrain && !force)) return
    const data = encoding.toUint8Array(this.queue)
    this.queue = encoding.createEncoder()
    try {
      this.stream.send(data)
    } catch (err) {
      log.error('stream send failed: %e', err)
      this.stream.abort(err as Error)
    }
  }

  /**
   * Flush what is queued (a BYE, typically), then close both directions: a
   * peer we are done with must not keep the stream half-open.
   */
  close (): void {
    if (this.closed) return
    this.flush(true)
    this.closed = true
    const stream = this.stream
    const timer = setTimeout(() => { stream.abort(new Error('close timed out')) }, CLOSE_GRACE_MS)
    stream.close().then(async () => { await stream.closeRead() }).catch((err: Error) => { stream.abort(err) }).finally(() => {
      clearTimeout(timer)
      if (stream.status !== 'closed' && stream.status !== 'aborted' && stream.status !== 'reset') stream.abort(new Error('closed by meshdoc'))
    })
  }
}
