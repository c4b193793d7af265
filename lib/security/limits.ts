/**
 * Every cap the engine enforces on what a peer may send, with defaults sized
 * for real documents (a cold join of a large doc fits) and small devices.
 */
export interface Limits {
  /** SYNC2/UPDATE payloads above this are refused before decoding (default 8 MiB) */
  maxUpdateBytes: number
  /** nesting of Yjs types, and of JSON-like values inside them (default 64) */
  maxNestingDepth: number
  /** bytes Yjs may hold as pending (gapped) structs before we drop them and resync (default 4 MiB) */
  maxPendingBytes: number
  /** documents one peer may hold sessions for at once (default 10,000) */
  maxDocsPerPeer: number
  /**
   * awareness clients one peer may speak for per document (default 1,024);
   * entries past it are left out and counted, the peer stays
   */
  maxAwarenessClientsPerPeer: number
  /**
   * awareness clients one document holds, and the most one awareness update may
   * name (default 4,096): past it new clients are left out; an update naming more is refused
   */
  maxAwarenessClientsPerDoc: number
  /** bytes of one awareness state (default 16 KiB) */
  maxAwarenessStateBytes: number
  /**
   * token bucket per peer: sustained frames per second, and burst (defaults
   * 10,000 / 50,000: a device holding 10,000 docs sends a SYNC1 for each on connect)
   */
  framesPerSecond: number
  frameBurst: number
  /** token bucket per peer: sustained bytes per second, and burst (defaults 32 MiB / 64 MiB) */
  bytesPerSecond: number
  byteBurst: number
  /**
   * answer bytes (SYNC2 and parts) a peer's SYNC1s may cost per second, and
   * burst (defaults 64 MiB/s, 256 MiB): past it, its SYNC1s wait (coalesced)
   * until the budget refills; one answer may exceed the burst (a big doc) and
   * is paid back before the next
   */
  answerBytesPerSecond: number
  answerByteBurst: number
  /** a peer must send HELLO within this many ms (default 10 s) */
  helloTimeoutMs: number
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxUpdateBytes: 8 * 1024 * 1024,
  maxNestingDepth: 64,
  maxPendingBytes: 4 * 1024 * 1024,
  maxDocsPerPeer: 10_000,
  maxAwarenessClientsPerPeer: 1024,
  maxAwarenessClientsPerDoc: 4096,
  maxAwarenessStateBytes: 16 * 1024,
  framesPerSecond: 10_000,
  frameBurst: 50_000,
  bytesPerSecond: 32 * 1024 * 1024,
  byteBurst: 64 * 1024 * 1024,
  answerBytesPerSecond: 64 * 1024 * 1024,
  answerByteBurst: 256 * 1024 * 1024,
  helloTimeoutMs: 10_000
})
