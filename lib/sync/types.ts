/**
 * The transport seam. The engine never sees sockets or streams: a transport
 * hands it a `PeerLink` per connected peer and feeds received frame bodies to
 * the `PeerConnection` it gets back. libp2p (adapters/libp2p) and the seeded
 * in-memory network (lib/testing) are both just transports.
 */

export interface PeerLink {
  /** Queue one frame body for the peer. The link adds framing and coalesces writes. */
  send: (body: Uint8Array) => void
  /**
   * False while the transport wants us to hold back. The engine then coalesces
   * document updates instead of queueing them, and resumes on `drained()`.
   */
  readonly writable: boolean
  /**
   * Optional: bytes queued for the peer and not yet handed to the socket: the
   * link's own queue and the transport's write buffers. A link that reports it
   * is held to `maxQueuedBytesPerPeer` (peers.ts); one that cannot tell is not.
   */
  readonly queuedBytes?: number
  /** Close the channel, after flushing what was queued where possible. */
  close: () => void
  /**
   * Optional: write what is queued now instead of at the end of the tick. The
   * engine calls it from `PeerConnection.delivered()`, so a forwarded update
   * leaves before whatever the transport does after delivering (a yamux window
   * update, for instance).
   */
  flush?: () => void
  /**
   * Optional: true on the side that opened the channel (the dialer). That side
   * sends its SYNC1s to a peer it has no memory of right behind its HELLO.
   */
  readonly initiator?: boolean
}

/** What the engine gives a transport for one peer. */
export interface PeerConnection {
  /** A complete frame body arrived from the peer. Never throws. */
  receive: (body: Uint8Array) => void
  /**
   * Optional for transports: everything that arrived in one read has been
   * passed to `receive`. The engine then sends what those frames produced
   * (forwarded updates) at once, through `PeerLink.flush`, instead of on the
   * next microtask. Never throws.
   */
  delivered?: () => void
  /** The link became writable again. */
  drained: () => void
  /** The link is gone (closed by either side). Idempotent. */
  closed: () => void
  /**
   * The transport found a violation below the frame level (an oversize length
   * prefix, say): count it, say BYE with `code`, close the link.
   */
  fail: (code: number, message: string) => void
}

/**
 * The origin of every transaction the engine applies for a remote peer.
 * Apps can test `tr.origin instanceof PeerOrigin` to tell remote edits apart.
 */
export class PeerOrigin {
  constructor (readonly peer: string) {}
}

export interface EngineCounters {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  updatesApplied: number
  updatesSent: number
  /** of those, updates that came from another peer and were passed on */
  updatesForwarded: number
  peersConnected: number
  /** doc sessions resumed on reconnect without any SYNC exchange (nothing had changed) */
  sessionsResumed: number
  /** SYNC2_PART frames sent and applied: answers too big for one frame, sent in parts */
  sync2PartsSent: number
  sync2PartsApplied: number
  /** SYNC1 answers served from the per-doc cache (the doc had not changed since the same question) */
  answersCached: number
  /** violations and refusals, by reason name (e.g. `malformed_update`) */
  rejected: Record<string, number>
  /** benign races that were dropped, by name (`stale_ack`, `out_of_session`) */
  ignored: Record<string, number>
}
