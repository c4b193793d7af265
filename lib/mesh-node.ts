/**
 * The platform-independent node: a libp2p node (ours or the app's), the sync
 * engine, the repo of open documents, and the network side (sync transport,
 * bootstrap keeper, discovery dialer), started and stopped together. What is
 * platform-specific (how libp2p is built, how it is bound to the engine, a
 * native SHA-256) comes in a `PlatformPreset`; the presets and the
 * `createMeshNode` of each platform live in `adapters/presets/`.
 */
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import type * as Y from 'yjs'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { ObservableV2 } from 'lib0/observable'
import type { DocHandle, DocStatus } from './doc-handle.js'
import { ClosedError } from './errors.js'
import { loadOrCreateIdentity } from './identity.js'
import { logger } from './log.js'
import type { Policy } from './policy/types.js'
import type { Limits } from './security/limits.js'
import type { AuthorshipOptions } from './security/authorship.js'
import type { QuotaOptions, WriteQuota } from './security/quota.js'
import { DEFAULT_MAX_FRAME_BYTES } from './protocol/constants.js'
import { docKeyHex } from './protocol/doc-key.js'
import type { StorageAdapter } from './storage/types.js'
import { Repo, type RepoOptions } from './repo.js'
import { SyncEngine, type SyncEngineOptions } from './sync/engine.js'
import type { ServeByKey } from './serving-repo.js'
import type { EngineCounters, PeerConnection, PeerLink } from './sync/types.js'
import type { EngineExtension } from './sync/extension.js'
import type { Grant } from './grants/grant.js'
import type { GrantRefused } from './grants/grant-exchange.js'
import type { Revocation } from './grants/revocation.js'

const log = logger('node')

export interface MeshNodeOptions {
  /** where documents live; default: in memory (lost on exit) */
  storage?: StorageAdapter
  /** multiaddrs to listen on, e.g. ['/ip4/127.0.0.1/tcp/0']; default: none (dial-only) */
  listen?: string[]
  /** multiaddrs of peers to keep connected to, redialled with backoff and jitter */
  bootstrap?: string[]
  /** redial backoff for `bootstrap` peers (defaults 500 ms doubling to 30 s, full jitter; at most 4 s for a minute after a connection that lasted dropped) */
  bootstrapBackoff?: { minDelayMs?: number, maxDelayMs?: number }
  /** inbound connections per second accepted from one host (default 20) */
  inboundConnectionThreshold?: number
  /** inbound connections one host may hold open at once (default 128; Node) */
  inboundConnectionsPerHost?: number
  /** connections in all, in and out (default 1,024; Node): a gateway's fleet size, plus its other peers */
  maxConnections?: number
  /** inbound connections in their handshake at once, all hosts together (default 64; Node) */
  maxPendingHandshakes?: number
  /** ... and from one host (default 4; Node): raise it for a fleet behind one NAT */
  pendingHandshakesPerHost?: number
  /** how often each connection is pinged, and how long it has to answer before it is dropped (default 30 s and 15 s; Node) */
  linkPing?: { intervalMs?: number, timeoutMs?: number }
  /** run on this libp2p node instead of creating one (it is not stopped by `stop()`) */
  libp2p?: Libp2p
  /**
   * the node's identity key when we create libp2p; 'storage' keeps one in
   * `storage` (created on first start) so the PeerId survives restarts;
   * default: a fresh Ed25519 key
   */
  privateKey?: PrivateKey | 'storage'
  /** who may read / write which doc; default: everyone everything */
  policy?: Policy
  /** secret that keys doc-id hashes on the wire; peers must share it to sync */
  meshKey?: Uint8Array | string
  /** anti-entropy period in ms (default 30 s; 0 disables) */
  antiEntropyIntervalMs?: number
  /** largest frame accepted (default 16 MiB) */
  maxFrameBytes?: number
  /** compact a doc's store after this many records (default 256) */
  compactAfterRecords?: number
  /** only these PeerIds may connect (checked by libp2p's connection gater, every transport) */
  allowPeers?: string[]
  /** libp2p pnet swarm key file contents: an extra layer, never the only guard */
  swarmKey?: Uint8Array | string
  /** caps on what one peer may send: frame rates, update sizes, nesting, awareness (lib/security/limits.ts) */
  limits?: Partial<Limits>
  /**
   * refuse structs whose clientID belongs to another peer, except from these
   * relays. Node entry only (a gateway's option; the browser entry throws)
   */
  authorship?: AuthorshipOptions
  /**
   * per-peer write quotas: bytes of updates applied and docs created for each
   * peer; past them its writes are refused (DENIED `quota_exceeded`), it stays
   * connected. Usage is kept in `storage`, so it survives restarts. Node entry
   * only (the browser entry throws); default: none (`meshdoc gateway` sets one)
   */
  quota?: QuotaOptions
  /**
   * Gateway mode: serve every doc a peer asks for (and the policy allows), opening
   * it from storage by key even though this node never learns its id. The policy
   * sees such docs as `key:<hex>`. Default false.
   */
  serveAllDocs?: boolean
  /**
   * keep the ids of docs opened by id in `storage` (under `_names/`), so
   * `meshdoc ls` can name them; docs served by key are never named. Node entry
   * only; default true
   */
  keepDocIds?: boolean
  /** unload docs opened for peers (in clear, and encrypted ones held blind) after this long without a session (default 60 s) */
  idleUnloadMs?: number
  /** find peers on the LAN with mDNS and dial them (optionally with a service tag per fleet) */
  mdns?: boolean | { serviceTag?: string, intervalMs?: number }
  /** run a circuit-relay server so peers that cannot reach each other (browsers) connect through us */
  relay?: boolean
  /**
   * With `relay`: tell connected peers which peers hold a reservation on our
   * relay, so browsers find each other for WebRTC (default true; see
   * adapters/libp2p/peer-exchange.ts for what this reveals)
   */
  peerExchange?: boolean
  /**
   * Check grants (docs/SECURITY.md "Grants"): the PeerIds of the owner keys
   * whose grants this node honours. With it, a peer may do with a doc only
   * what its valid grants give it (an owner itself: anything), narrowed by
   * `policy`; a peer with no valid grant gets nothing. Default: no grants
   * checked (the policy alone decides).
   */
  trust?: { owners: string[] }
  /** grants this node holds (`mdg1.…` tokens, its PeerId their audience), presented to every peer that checks grants; kept in `storage` */
  grants?: string[]
  /** revocations (`mdr1.…`, signed by a trusted owner) to put in force at start; kept in `storage` and passed on to peers */
  revocations?: string[]
  /**
   * Fetches a grant for this node (a login bridge: the app's backend turns its
   * own login into a short-lived grant for `peerId`). Called at start and
   * again before the grant expires; sessions go on meanwhile.
   */
  grantProvider?: (peerId: string) => Promise<string | string[]>
}

/** What a node's grants do for it (`MeshNode.addGrant`…); lib/grants/grant-exchange.ts. */
export interface NodeGrants {
  start: () => Promise<void>
  addGrant: (token: string) => Promise<Grant>
  addRevocation: (record: string) => Promise<Revocation>
  readonly heldGrants: Grant[]
  readonly revocationRecords: string[]
  /** whether an owner revoked `peerId` (every grant to it) */
  peerRevoked: (peerId: string) => boolean
  /** for transports whose clients hand over bearer tokens (`mdb1.…`, the y-websocket bridge): the grant inside, checked with its audience's signature in place of Noise */
  verifyBearer: (token: string) => Promise<Grant>
  /** ... and put in force for one of that transport's peers, connected under `peerId` (MeshNode.attachPeer) */
  admitGrants: (peerId: string, grants: Grant[]) => void
  /** the id a connected peer claimed for a doc key (CLAIM; `peer` first), if any */
  claimedId?: (keyHex: string, peer?: string) => string | undefined
}

/** What a node's grants get besides its options. */
export interface GrantContext {
  self: string
  storage: StorageAdapter
  meshKey: Uint8Array | undefined
  servesByKey: boolean
  /** emit a node event (`grant:refused`, `revoked`) */
  emit: (name: 'grant:refused' | 'revoked', arg: GrantRefused | Revocation) => void
}

/**
 * A member of an encrypted doc: a PeerId and what it may do: `read`; `write`
 * (read and write); `manage` (read, write, and add or remove members: issue
 * the next epoch, offline, without the creator).
 */
export interface EncryptedDocMember { peerId: string, access: 'read' | 'write' | 'manage' }

/**
 * `open(id, { encrypted })`: `true` to join a doc some member created (this
 * node waits for its records from a peer: `whenReady`); `{ members }` to
 * create it if it is new here, with these members besides this node (a manager).
 */
export type EncryptedOpenOptions = true | { members?: readonly EncryptedDocMember[] }

/**
 * An end-to-end encrypted doc, as a member holds it (`node.open(id, { encrypted })`):
 * only its members read it; peers and gateways without the key store and
 * forward it blind (docs/SECURITY.md, "Encrypted documents").
 */
export interface EncryptedDocHandle {
  readonly id: string
  readonly encrypted: true
  /** the doc, built from what this member opened; local edits are sealed and sent after each transaction */
  readonly doc: Y.Doc
  /** the latest epoch (key) this node holds, if any */
  readonly epoch: number | undefined
  /** this node's access in the latest epoch; undefined: not a member (yet) */
  readonly access: EncryptedDocMember['access'] | undefined
  /** whether this node may change the members (`setMembers`): a manager of the latest epoch (the creator is one until it is demoted) */
  readonly manages: boolean
  /** the members of the latest epoch */
  members: () => EncryptedDocMember[]
  /** Resolves once this node holds a key of the doc (TimeoutError after `timeout`, default 30 s). */
  whenReady: (opts?: { timeout?: number }) => Promise<void>
  /** Resolves once `peer` said it stored (on its disk) everything this node wrote so far. */
  whenStored: (opts: { peer: string, timeout?: number }) => Promise<void>
  /** Seal and send local edits now; resolves once they are on this node's disk. */
  flush: () => Promise<void>
  /**
   * A new epoch with these members (a key rotation: those left out read
   * nothing written after it). Only the managers of the latest epoch
   * (`manages`); others get an E2eError `not_authorized`. Members an owner
   * revoked are left out.
   * Two managers rotating at once, unaware of each other, split the doc on
   * that epoch (docs/SECURITY.md): let one manager rotate at a time.
   */
  setMembers: (members: readonly EncryptedDocMember[]) => Promise<void>
  /** `setMembers` with `peerId` added, or its access changed (default `write`) */
  addMember: (peerId: string, access?: EncryptedDocMember['access']) => Promise<void>
  removeMember: (peerId: string) => Promise<void>
  /** Seal a snapshot: once another member attests it, blind nodes drop what it covers. False if this node cannot write. */
  snapshot: () => Promise<boolean>
  close: () => Promise<void>
}

/** What a node's encrypted docs get (with the grants' context). */
export interface E2eContext {
  storage: StorageAdapter
  meshKey: Uint8Array | undefined
  servesByKey: boolean
  /** the node's libp2p: its key is what members seal and sign with */
  libp2p: Libp2p
  /** the node's engine (its policy, and the docs it holds in clear) */
  engine: () => SyncEngine
  /** the per-peer write quotas (a gateway's `quota`), if any */
  quota?: WriteQuota | undefined
  /** whether an owner revoked `peerId` (a node with grants) */
  peerRevoked: (peerId: string) => boolean
  /** the node's `idleUnloadMs` */
  idleUnloadMs?: number | undefined
}

/** A node's encrypted docs: an engine extension, and how the node opens one. */
export interface NodeE2e extends EngineExtension {
  open: (docId: string, opts: EncryptedOpenOptions) => Promise<EncryptedDocHandle>
  isEncrypted: (docId: string) => boolean
  /** whether the doc under `keyHex` is held here encrypted */
  encrypted: (keyHex: string) => boolean
  /** throws (TypeError) if `docId` is encrypted here: it is never opened in clear */
  assertClear: (docId: string) => void
  /** load what must be known before peers connect (which keys are encrypted here) */
  start: () => Promise<void>
  /** after `inner` (grants): the one extension the engine gets */
  after: (inner: EngineExtension | undefined) => EngineExtension
  settled: () => Promise<void>
  /** what the node holds of encrypted docs in memory now (idle ones held blind are unloaded): docs, envelopes, their bytes */
  held: () => { docs: number, envelopes: number, bytes: number }
  /** an owner revoked this PeerId: the encrypted docs this node manages rotate it out */
  revoked: (peerId: string) => void
}

/** Builds a node's encrypted docs (the Node entry has it). */
export type E2eSupport = (ctx: E2eContext) => NodeE2e

/** Builds a node's grants (the Node entry has it; browsers import it from `meshdoc/grants`). */
export type GrantSupport = (opts: MeshNodeOptions, ctx: GrantContext) => NodeGrants & EngineExtension

export interface SyncProgress {
  peer: string
  /** body bytes of the frame received so far, and its announced size */
  received: number
  expected: number
}

/** Why a peer this node dialled does not sync with it (the `peer:refused` event). */
export interface PeerRefusal {
  /**
   * `unreachable`: a dial to a bootstrap peer failed (nothing listening, no
   * route, a failed handshake, a timeout, or the peer's connection limits).
   * `refused`: the peer closed a connection we dialled before sending any sync
   * frame: its allow-list (`allowPeers`), a connection limit, or it does not
   * run meshdoc. Bootstrap peers are dialled again, with growing delays.
   */
  reason: 'unreachable' | 'refused'
  /** the address dialled */
  addr: string
  /** the peer's PeerId, when known (from the address, or the connection) */
  peer?: string
  /** what happened, for logs */
  message: string
  /** for a bootstrap dial that failed: when the next one is due, in ms */
  retryInMs?: number
}

/** A change durably stored by a node (the `change` event). */
export interface DocChange {
  /**
   * The doc's id when this node knows it (opened by id; on a gateway also a
   * doc named in its store, `_names/`, or by a peer's grant CLAIM), else
   * `key:<hex>` (a doc served by key)
   */
  docId: string
  /** the doc's key (hex), as storage and the wire name it */
  keyHex: string
  /** what was stored: a V1 update (a peer's as it arrived; the local changes of one commit encoded together) */
  update: Uint8Array
  /** the PeerId of the peer the update came from, or `'local'` for the app's own changes */
  origin: string
  /** the document now (it may already hold later changes, whose events follow) */
  doc: Y.Doc
}

export interface MeshNodeEvents {
  'peer:connect': (peerId: string) => void
  'peer:disconnect': (peerId: string) => void
  /** a peer refused us at connection time, or a bootstrap dial failed */
  'peer:refused': (refusal: PeerRefusal) => void
  /** a large frame (64 KiB or more: typically a first sync of a big doc) is arriving */
  'sync:progress': (progress: SyncProgress) => void
  /** a grant a peer presented was refused (with `trust`) */
  'grant:refused': (refused: GrantRefused) => void
  /** a revocation came into force here (given, or from a peer) */
  revoked: (revocation: Revocation) => void
  /**
   * A change to a document is durably stored here (after the commit, before
   * its peer's ACK goes out): one event per peer update and one for the app's
   * local changes of each commit. Node entry only (browsers: a doc's `saved`
   * event). Costs nothing while nobody listens; a listener must be quick (it
   * runs in the commit) and must not throw (a throw is logged).
   */
  change: (change: DocChange) => void
}

export class MeshNode extends ObservableV2<MeshNodeEvents> {
  private stopping: Promise<void> | undefined
  /** @internal stopped with the node, before the engine */
  readonly extras: Array<{ stop: () => void }> = []
  /** @internal with `trust`, `grants` or `grantProvider` */
  grantsHere: NodeGrants | undefined
  /** @internal encrypted docs (the Node entry) */
  e2eHere: NodeE2e | undefined

  /** @internal use createMeshNode */
  constructor (
    readonly libp2p: Libp2p,
    /** @internal the sync engine (Node-side parts reach in: the HTTP document API) */
    readonly engine: SyncEngine,
    /** @internal the repo of open docs (a ServingRepo with `serveAllDocs`) */
    readonly repo: Repo,
    private readonly network: MeshNetwork,
    private readonly storage: StorageAdapter,
    private readonly ownsLibp2p: boolean
  ) {
    super()
  }

  /** This node's PeerId (a public key, proven at connect time by Noise). */
  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  /** Multiaddrs (with /p2p/<id>) other nodes can dial. */
  get multiaddrs (): string[] {
    return this.libp2p.getMultiaddrs().map(String)
  }

  /** Peers we have a sync session with now. */
  get peers (): string[] {
    return this.engine.peerIds
  }

  /** Counters: frames and bytes in/out, updates, refusals by reason. */
  get stats (): EngineCounters {
    return structuredClone(this.engine.counters)
  }

  /** Dial a peer; resolves with its PeerId once connected. */
  async dial (addr: string | Multiaddr, opts: { signal?: AbortSignal } = {}): Promise<string> {
    this.assertRunning()
    const conn = await this.libp2p.dial(typeof addr === 'string' ? multiaddr(addr) : addr, opts)
    return conn.remotePeer.toString()
  }

  /**
   * Open a document by id; the same handle is returned while it stays open.
   * With `{ encrypted }` (the Node entry), an end-to-end encrypted doc
   * (EncryptedDocHandle): see EncryptedOpenOptions.
   */
  async open (docId: string): Promise<DocHandle>
  async open (docId: string, opts: { encrypted: EncryptedOpenOptions }): Promise<EncryptedDocHandle>
  async open (docId: string, opts?: { encrypted?: EncryptedOpenOptions }): Promise<DocHandle | EncryptedDocHandle> {
    this.assertRunning()
    // encrypted docs: the Node entry's node (lib/e2e/node.ts) opens them
    if (opts?.encrypted !== undefined) unsupported(NO_E2E)
    return await this.repo.open(docId)
  }

  /** Ids of documents the app has open. */
  get openDocs (): string[] {
    return this.repo.openDocIds
  }

  /** Documents open only because a peer asked for them (gateway mode). */
  get servedDocCount (): number {
    return this.repo.servedCount
  }

  /** Status of every loaded doc, whether the app opened it or it is served by key. */
  docStatuses (): Array<{ id: string, keyHex: string, served: boolean, status: DocStatus }> {
    return this.engine.openDocs.map(d => ({ id: d.id, keyHex: d.keyHex, served: d.servedOnly, status: d.status() }))
  }

  /**
   * Dial every `bootstrap` peer that is not connected now, and start its
   * backoff over: call it when the network is back (browsers do it on
   * `online`, and when a page becomes visible after a long sleep). Does
   * nothing once `stop()` began.
   */
  reconnect (): void {
    if (this.stopping === undefined) this.network.redial()
  }

  /** Run anti-entropy now: a two-way SYNC round on every unsynced session (`full`: on all). */
  resync (opts: { full?: boolean } = {}): void {
    this.engine.runAntiEntropy(opts)
  }

  /** The per-process epoch this node announces in HELLO (hex). */
  get epoch (): string {
    return docKeyHex(this.engine.epoch)
  }

  /**
   * Hold a grant (an `mdg1.…` token to this node) and present it to every
   * peer that checks grants, at once and on every later connection; kept in
   * storage. Rejects with a GrantError if it is not for this node, or over.
   */
  async addGrant (token: string): Promise<Grant> {
    return await (this.grantsHere ?? unsupported(NO_GRANTS)).addGrant(token)
  }

  /** Put a revocation (`mdr1.…`, signed by a trusted owner) in force here and pass it on to peers; kept in storage. */
  async addRevocation (record: string): Promise<Revocation> {
    return await (this.grantsHere ?? unsupported(NO_GRANTS)).addRevocation(record)
  }

  /** The grants this node holds and presents. */
  get grants (): Grant[] {
    return this.grantsHere?.heldGrants ?? []
  }

  /**
   * For transport authors: link a peer over a transport of your own (not
   * libp2p; the y-websocket bridge, adapters/y-websocket). Hand it the
   * peer's `PeerLink` and drive the `PeerConnection` it returns (see
   * lib/sync/types.ts); the peer then meets every rule a libp2p peer does.
   * `peerId` must be unique among connected peers: a second link under the
   * same id replaces the first.
   */
  attachPeer (peerId: string, link: PeerLink): PeerConnection {
    return this.engine.addPeer(peerId, link)
  }

  /** Change the access policy; open sessions are re-checked at once. */
  setPolicy (policy: Policy): void {
    this.engine.setPolicy(policy)
  }

  /** Flush every document, say BYE to peers, close streams and timers. Idempotent. */
  async stop (): Promise<void> {
    this.stopping ??= this.doStop()
    await this.stopping
  }

  private async doStop (): Promise<void> {
    log('stopping')
    this.network.stopDialing()
    // acknowledge what we stored before saying BYE, so peers know it is safe here
    await this.engine.drainAcks()
    for (const extra of this.extras.splice(0)) extra.stop()
    this.engine.stop()
    await this.repo.stop()
    await this.network.stop()
    if (this.ownsLibp2p) await this.libp2p.stop()
    await this.storage.close?.()
    this.destroy()
  }

  protected assertRunning (): void {
    if (this.stopping !== undefined) throw new ClosedError('node is stopped')
  }
}

/**
 * What a platform preset's libp2p builder gets (Node:
 * `adapters/libp2p/create-libp2p.ts`, browsers:
 * `adapters/libp2p/create-browser-libp2p.ts`), with the identity and swarm key
 * resolved.
 */
export interface Libp2pPresetInput {
  options: MeshNodeOptions
  privateKey?: PrivateKey
  swarmKey?: Uint8Array
  /** count a peer this node refused at connection time (`reason`: `not_allowed`, its allow-list) */
  refusing?: (reason: 'not_allowed', peer: string) => void
}

/** Builds the (unstarted) libp2p node for `createMeshNode`; each platform has its own. */
export type Libp2pPreset = (input: Libp2pPresetInput) => Promise<Libp2p>

/** What the network side gets to bind the engine to a libp2p node (ours or the app's). */
export interface MeshNetworkInput {
  libp2p: Libp2p
  options: MeshNodeOptions
  /** hand the engine a peer's link; drive the connection it returns */
  addPeer: (peerId: string, link: PeerLink) => PeerConnection
  /** largest frame accepted */
  maxFrameBytes: number
  /** a large frame is arriving from `peer` */
  onProgress: (peer: string, received: number, expected: number) => void
  /** a peer refused us, or a bootstrap dial failed */
  onRefused: (refusal: PeerRefusal) => void
}

/**
 * The network side of a node (libp2p: the sync transport, the bootstrap
 * keeper, the discovery dialer). Built before libp2p starts, started after.
 */
export interface MeshNetwork {
  /** start linking peers and dialling (libp2p is running) */
  start: () => Promise<void>
  /** dial every bootstrap peer not connected now (the network is back) */
  redial: () => void
  /** stop dialling and redialling; the open links stay, for the last ACKs and BYEs */
  stopDialing: () => void
  /** close every link (after the engine said BYE) */
  stop: () => Promise<void>
}

/** @internal What `startMeshNode` needs from a platform (`adapters/presets/`). */
export interface PlatformPreset {
  /** builds the libp2p node, unless the app brings its own (`MeshNodeOptions.libp2p`) */
  libp2p: Libp2pPreset
  /** binds the engine to the libp2p node, ours or the app's */
  network: (input: MeshNetworkInput) => MeshNetwork
  /** SHA-256 for digests and fingerprints, e.g. a native one (default: a portable one) */
  sha256?: (data: Uint8Array) => Uint8Array
  /**
   * what serving stored docs by key for peers takes (lib/serving-repo.ts
   * `serveByKey`), when the options ask for it (`serveAllDocs`); only
   * platforms that serve by key bring it (Node: the browser entry refuses
   * `serveAllDocs` before it starts a node)
   */
  serving?: (opts: MeshNodeOptions) => ServeByKey | undefined
  /** grants (`trust`, `grants`, `grantProvider`): the Node entry's, or a browser app's `grantSupport` from `meshdoc/grants` */
  grants?: GrantSupport | undefined
  /** end-to-end encrypted docs: the Node entry's */
  e2e?: E2eSupport | undefined
  /** the node's class (the Node entry's opens encrypted docs) */
  Node?: typeof MeshNode
}

/** @internal the platform-independent part of `createMeshNode` */
export interface StartOptions {
  /** the storage key slot of the identity (tabs of one browser app each take their own) */
  identitySlot?: number
  /**
   * Extra transports that hand the engine links of their own (the tabs of a
   * browser app). Started after libp2p; stopped before the engine is.
   */
  extraLinks?: (node: MeshNode, addPeer: (peerId: string, link: PeerLink) => PeerConnection) => Promise<{ stop: () => void }>
  /**
   * what the platform adds to the repo: keeping the ids of docs opened by id
   * in storage, for `meshdoc ls` (`names`, Node: storage/doc-names.ts), and
   * hooking each doc as it opens (`opened`, Node: the `change` event, lib/feed/change-feed.ts)
   */
  repo?: Pick<RepoOptions, 'names' | 'opened'>
  /** what a platform adds to the engine: the Node entry's write quotas (`quota`), authorship (`authors`), flat struct writer (`structWriter`), pending charges (`pendingCharges`) and the read-only check (`addsNothing`) */
  engine?: Pick<SyncEngineOptions, 'quota' | 'authors' | 'structWriter' | 'pendingCharges' | 'addsNothing'>
}

/** @internal Create and start a node on the given platform preset (use `createMeshNode`). */
export async function startMeshNode (opts: MeshNodeOptions, preset: PlatformPreset, start: StartOptions = {}): Promise<MeshNode> {
  const maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const storage = opts.storage ?? unsupported('startMeshNode needs a storage adapter')
  const meshKey = typeof opts.meshKey === 'string' ? new TextEncoder().encode(opts.meshKey) : opts.meshKey
  const ownsLibp2p = opts.libp2p === undefined
  let countRefusal = (_reason: string): void => {}
  // the identity in storage is loaded only for a libp2p node we create
  const libp2p = opts.libp2p ?? await preset.libp2p({
    options: opts,
    privateKey: opts.privateKey === 'storage' ? await loadOrCreateIdentity(storage, start.identitySlot) : opts.privateKey,
    swarmKey: typeof opts.swarmKey === 'string' ? new TextEncoder().encode(opts.swarmKey) : opts.swarmKey,
    refusing: (reason) => { countRefusal(reason) }
  })
  // serving stored docs by key is a gateway's job: the Node preset brings its parts
  const serving = preset.serving?.(opts)
  let node: MeshNode | undefined
  // grants: always on a platform that has them (Node), else only if asked for (a browser's `grantSupport`)
  if (preset.grants === undefined && (opts.trust ?? opts.grants ?? opts.grantProvider ?? opts.revocations) !== undefined) unsupported(NO_GRANTS)
  // what the platform's parts (grants, encrypted docs) get besides the options
  const parts: GrantContext & E2eContext = {
    self: libp2p.peerId.toString(),
    storage,
    meshKey,
    servesByKey: serving !== undefined,
    emit: (name, arg) => { node?.emit(name, [arg as never]) },
    libp2p,
    engine: () => engine,
    quota: start.engine?.quota,
    peerRevoked: (peerId) => grants?.peerRevoked(peerId) ?? false,
    idleUnloadMs: opts.idleUnloadMs
  }
  const grants = preset.grants?.(opts, parts)
  const e2e: NodeE2e | undefined = preset.e2e?.(parts)
  const engine: SyncEngine = new SyncEngine({
    extension: e2e?.after(grants) ?? grants,
    maxFrameBytes,
    localPeerId: libp2p.peerId.toString(),
    sha256: preset.sha256,
    limits: opts.limits,
    ...start.engine,
    ...serving?.engine,
    policy: opts.policy,
    antiEntropyIntervalMs: opts.antiEntropyIntervalMs
  })
  countRefusal = (reason) => { engine.countRejection(reason) }
  const repoOptions = {
    engine,
    storage,
    ...start.repo,
    idleUnloadMs: opts.idleUnloadMs,
    meshKey,
    compactAfterRecords: opts.compactAfterRecords
  }
  const repo = serving?.repo(repoOptions) ?? new Repo(repoOptions)
  const addPeer = (peer: string, link: PeerLink): PeerConnection => engine.addPeer(peer, link)
  const network = preset.network({
    libp2p,
    options: opts,
    addPeer,
    maxFrameBytes,
    onProgress: (peer, received, expected) => { node?.emit('sync:progress', [{ peer, received, expected }]) },
    // logged where it is found (meshdoc:bootstrap, meshdoc:libp2p)
    onRefused: (refusal) => { node?.emit('peer:refused', [refusal]) }
  })
  node = new (preset.Node ?? MeshNode)(libp2p, engine, repo, network, storage, ownsLibp2p)
  node.grantsHere = grants
  node.e2eHere = e2e
  // a revoked peer is rotated out of the encrypted docs this node manages (its grants no longer let it in; this takes its key)
  if (e2e !== undefined) node.on('revoked', (r) => { if (r.kind === 'peer') e2e.revoked(r.target) })
  // our grants and revocations in force (the provider asked) before the first peer connects
  await grants?.start()
  await e2e?.start()
  engine.onPeer = (peer, up) => { node.emit(up ? 'peer:connect' : 'peer:disconnect', [peer]) }
  if (ownsLibp2p) await libp2p.start()
  await network.start()
  if (start.extraLinks !== undefined) node.extras.push(await start.extraLinks(node, addPeer))
  return node
}

const NO_GRANTS = "grants need grantSupport from 'meshdoc/grants'"
const NO_E2E = 'encrypted docs need the Node entry'

function unsupported (what: string): never {
  throw new TypeError(what)
}
