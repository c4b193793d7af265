/**
 * Every cap the engine enforces on what a peer may send, with defaults sized
 * for real documents (a cold join of a large doc fits) and small devices.
 */
import { MAX_UPDATE_ITEMS } from '../protocol/constants.js'

export interface Limits {
  /** SYNC2/UPDATE payloads above this are refused before decoding (default 8 MiB) */
  maxUpdateBytes: number
  /**
   * items (structs and delete ranges) in one update (default 16,384, the most
   * a meshdoc sender puts in one, `MAX_UPDATE_ITEMS`): more are refused before
   * they are walked (`limit_exceeded`). Applying 16,384 of the dearest items
   * (map entries) takes some 40 ms; 8 MiB of them, 1 to 2 s
   */
  maxItemsPerUpdate: number
  /**
   * clients one state vector (SYNC1, ACK) may name (default 100,000: a doc
   * edited by that many browser sessions); more is refused before it is
   * decoded (`limit_exceeded`)
   */
  maxStateVectorClients: number
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
   * burst (defaults 8 MiB/s, 64 MiB): past it, its SYNC1s wait (coalesced)
   * until the budget refills; one answer may exceed the burst (a big doc) and
   * is paid back before the next. Encoding is the cost: a 2.4 MiB answer takes
   * some 110 ms of CPU, so 8 MiB/s of answers one peer asks for again and
   * again holds a core about a third of the time. The budget follows the
   * PeerId across reconnects
   */
  answerBytesPerSecond: number
  answerByteBurst: number
  /** a peer must send HELLO within this many ms (default 10 s) */
  helloTimeoutMs: number
  /**
   * on a node serving by key: documents open at once, the app's and those
   * opened for peers (default 50,000). Past it, a peer's SYNC1 for a doc that
   * is not open is answered DENIED unavailable (`rejected.loaded_docs_cap`)
   * until docs opened for peers unload when idle (`idleUnloadMs`)
   */
  maxLoadedDocs?: number
  /**
   * on a node serving by key: docs one peer may make it open (or load) per
   * second, and burst (defaults 1,000 / 20,000: a device holding 10,000 docs
   * joins at once); past it the SYNC1 is answered DENIED unavailable
   * (`rejected.open_rate`)
   */
  docOpensPerSecond?: number
  docOpenBurst?: number
  /**
   * bytes queued for a peer behind the last answer or UPDATE sent to it (default
   * 64 MiB); past it the peer is closed (`slow_consumer`). Answers (SYNC2 and
   * parts, a whole document at once for a joiner) and UPDATEs are sent only
   * while the link is writable and are bounded where they are made (answer.ts,
   * outbound.ts), so they do not count: what counts is the rest (ACKs, DENIEDs,
   * awareness relays, our SYNC1s), which is sent whatever the link's state and
   * piles up only behind a peer that does not read. The largest honest burst
   * is our SYNC1 for every open doc on connect: filling 64 MiB takes 10,000
   * docs whose state vectors hold some 800 clients each. Held only on links
   * that can tell what they queue (`PeerLink.queuedBytes`: libp2p streams).
   */
  maxQueuedBytesPerPeer: number
  /**
   * a peer with data waiting for it (the link needs 'drain') that takes none
   * of it for this long is closed (default 20 s; `slow_consumer`): it does not
   * read, and what waits for it stays held until it does. A slow reader that
   * takes some of it in each period stays. Held by the Node entry's libp2p
   * links (adapters/libp2p/stall-watch.ts, `DEFAULT_WRITE_STALL_MS`)
   */
  writeStallMs?: number
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxUpdateBytes: 8 * 1024 * 1024,
  maxItemsPerUpdate: MAX_UPDATE_ITEMS,
  maxStateVectorClients: 100_000,
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
  answerBytesPerSecond: 8 * 1024 * 1024,
  answerByteBurst: 64 * 1024 * 1024,
  helloTimeoutMs: 10_000,
  maxQueuedBytesPerPeer: 64 * 1024 * 1024
})
