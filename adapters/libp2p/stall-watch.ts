/**
 * A `StreamLink` that closes a peer which reads nothing (`slow_consumer`):
 * while anything waits for it (in our queue or the stream's write buffer: its
 * yamux window is spent), some of it must go within every `writeStallMs`
 * (default 20 s, `Limits.writeStallMs`), or the engine is told to close the
 * peer. A slow reader that takes some in each period stays. Without it, such a
 * peer stays connected for as long as what waits for it is under
 * `maxQueuedBytesPerPeer`. Node only (the Node preset's network uses it);
 * browser bundles leave it out.
 */
import type { Stream } from '@libp2p/interface'
import { ByeReason } from '../../lib/protocol/constants.js'
import type { PeerConnection } from '../../lib/sync/types.js'
import { StreamLink, type ReceiveProgress } from './stream-link.js'

/** `Limits.writeStallMs` unless set */
export const DEFAULT_WRITE_STALL_MS = 20_000

/** bytes of the varuint length prefix of a frame body of `n` bytes */
const prefixBytes = (n: number): number => n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5

export class WatchedStreamLink extends StreamLink {
  private conn: PeerConnection | undefined
  /** runs while anything waits for the peer */
  private stallTimer: ReturnType<typeof setTimeout> | undefined
  /** bytes given to this link in all, length prefixes included */
  private given = 0

  constructor (stream: Stream, maxFrameBytes: number, onProgress?: ReceiveProgress, private readonly stallMs = DEFAULT_WRITE_STALL_MS) {
    super(stream, maxFrameBytes, onProgress)
  }

  override attach (conn: PeerConnection): void {
    this.conn = conn
    super.attach(conn)
  }

  override send (body: Uint8Array): void {
    this.given += body.length + prefixBytes(body.length)
    super.send(body)
  }

  /** runs on the microtask after sends, and on every 'drain' */
  override flush (force = false): void {
    super.flush(force)
    this.watch()
  }

  private watch (): void {
    if (this.stallTimer !== undefined || this.queuedBytes === 0) return
    // what has gone to the peer so far (sends add to what waits meanwhile)
    const gone = this.given - this.queuedBytes
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined
      if (this.queuedBytes === 0 || this.stream.status !== 'open') return
      if (this.given - this.queuedBytes > gone) this.watch()
      else this.conn?.fail(ByeReason.SLOW_CONSUMER, `took nothing of the ${this.queuedBytes} bytes waiting for it in ${this.stallMs} ms`)
    }, this.stallMs)
    // never keeps the process alive on its own
    this.stallTimer.unref()
  }
}
