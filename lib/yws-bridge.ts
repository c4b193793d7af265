/**
 * The y-websocket bridge, as the rest of meshdoc sees it: its options, its
 * counters and its handle. Types only; the bridge itself is a network
 * adapter (adapters/y-websocket/, Node only), started by the gateway
 * (`meshdoc gateway --yws`, lib/cli/commands/gateway.ts) through
 * `CliPlatform.ywsBridge`, or by an app on its own node.
 */
import type { Grant } from './grants/grant.js'
import type { PeerConnection, PeerLink } from './sync/types.js'

/** What the bridge uses of a node: `MeshNode` has both. */
export interface YwsBridgeNode {
  /** link one engine peer per socket (MeshNode.attachPeer) */
  attachPeer: (peerId: string, link: PeerLink) => PeerConnection
  /**
   * the node's grants (MeshNode.grantsHere), with `trust`: tokens are
   * checked as bearer tokens (`mdb1.…`) and their grants put in force for the socket's peer
   */
  readonly grantsHere?: BearerGrants | undefined
  /** the node's encrypted docs (MeshNode.e2eHere): a room whose doc is encrypted here is refused */
  readonly e2eHere?: { encrypted: (keyHex: string) => boolean } | undefined
}

/** Grants handed over in bearer tokens, by a client that cannot prove on its connection that it holds the audience's key (lib/grants/grant-exchange.ts). */
export interface BearerGrants {
  /**
   * the grant in a bearer token (`mdb1.…`, lib/grants/bearer.ts), checked as a peer's would be (owners, time,
   * signatures, revocations), the audience's signature over it in place of Noise; rejects with a GrantError
   * (`not_bearer` for a plain grant, `mdg1.…`)
   */
  verifyBearer: (token: string) => Promise<Grant>
  /** put `grants` in force for the connected peer `peerId`, as if it had presented them (ended by expiry and revocation like any) */
  admitGrants: (peerId: string, grants: Grant[]) => void
}

export interface YwsBridgeOptions {
  /** where to listen (port 0: a free one) */
  host: string
  port: number
  /** rooms live under this URL path (default `/`): `ws://host:port/<prefix>/<room>` */
  prefix?: string
  /** the node's mesh key (MeshNodeOptions.meshKey): a room's doc key is computed with it */
  meshKey?: Uint8Array | string
  /** the largest y-websocket message taken, refused before it is buffered (default 8 MiB and 64 B: the engine's largest update, framed) */
  maxMessageBytes?: number
  /** sockets open at once, all hosts together (default 1,024) */
  maxConnections?: number
  /** ... and from one remote address (default 128) */
  maxConnectionsPerHost?: number
  /** a socket with data waiting that takes none of it for this long is closed (default 20 s, `slow_consumer`) */
  writeStallMs?: number
  /** each socket is pinged this often and closed if the pong has not come by the next ping (default 30 s, as @y/websocket-server) */
  pingIntervalMs?: number
  /**
   * a client's messages per second, and burst (default 40,000 and 200,000: 4 times a mesh peer's frames,
   * a message costing far less than a frame); past them its socket is not read until the budget refills
   */
  messagesPerSecond?: number
  messageBurst?: number
}

/** The bridge's counters (`/status` `yws`, and `meshdoc_yws_*` on `/metrics`). */
export interface YwsBridgeStats {
  /** sockets open now */
  connectionsOpen: number
  /** sockets accepted since start */
  connectionsAccepted: number
  /** connections refused at the upgrade (HTTP status) or closed at once after it, by reason */
  connectionsRefused: Record<string, number>
  /** sockets the bridge closed later, by reason (the engine's BYE reason names, `ping_timeout`, `too_large`…) */
  connectionsClosed: Record<string, number>
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
  /** client messages refused or dropped, the socket left open, by reason (`read_only`, `quota_exceeded`, `auth_message`…) */
  messagesRefused: Record<string, number>
  /** the engine's ACKs of clients' writes (durably stored), which y-websocket has no message for */
  writesAcknowledged: number
  /** clients' update messages merged with others of the same socket read into one engine update */
  updatesMerged: number
  /** times a client sent past its message budget and its socket was not read until the budget refilled */
  readsPaused: number
}

export interface YwsBridge {
  /** the base URL a WebsocketProvider is given (`new WebsocketProvider(url, room, doc)`) */
  readonly url: string
  readonly host: string
  readonly port: number
  /** a copy of the counters */
  readonly stats: YwsBridgeStats
  /** Refuse new sockets, close the open ones (1001, the client reconnects later), stop listening. Idempotent. */
  close: () => Promise<void>
}

/** Starts a bridge on a running node (`startYwsBridge` in adapters/y-websocket). */
export type StartYwsBridge = (node: YwsBridgeNode, opts: YwsBridgeOptions) => Promise<YwsBridge>
