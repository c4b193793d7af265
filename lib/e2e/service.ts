/**
 * End-to-end encrypted docs on the sync protocol: the engine extension that
 * speaks E2E frames (wire.ts) with every peer announcing Features.E2E, for
 * members (who hold the key and a Y.Doc) and blind nodes (who store and
 * forward what they cannot read) alike.
 *
 * Per doc and peer, a *session*: each side sends OPEN (its epoch record
 * count and version vector) for the docs it holds; the other answers what
 * it lacks: RECORDS from where it stands, then ATTEST and ENVELOPES in the
 * order of version-vector.ts. From then on, whatever a node accepts (or a
 * member seals) goes to every other session of the doc, so members who are
 * never online together converge through any chain of blind nodes. ENVELOPES
 * carry a seq; the receiver answers STORED (seq, its VV) once what it
 * accepted is on its disk, never before: `whenStored({ peer })` on a member
 * means "on that peer's disk". What a node refuses is counted (`rejected`,
 * `e2e_<reason>`) and told (REFUSED, reason and count); a gap (a forward
 * that overtook a catch-up) asks for the catch-up again (OPEN).
 *
 * A node serving docs by key (a gateway) takes any encrypted doc a peer
 * OPENs that its policy lets the peer see (`key:<hex>`), as a blind replica.
 * The engine refuses plaintext frames for every doc held here encrypted
 * (DENIED `encrypted`): such a doc is never sent in clear.
 */
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { logger } from '../log.js'
import { Access } from '../policy/types.js'
import { docKeyHex, keyOnlyDocId } from '../protocol/doc-key.js'
import { DeniedReason, Features, MessageType } from '../protocol/constants.js'
import type { Frame } from '../protocol/codec.js'
import type { WriteQuota } from '../security/quota.js'
import type { StorageAdapter } from '../storage/types.js'
import type { EngineExtension, ExtensionApi } from '../sync/extension.js'
import type { PeerState } from '../sync/peers.js'
import { equalBytes } from './codec.js'
import { writes } from './epoch.js'
import { E2eError } from './errors.js'
import { idOf, ownRawKey, rawKeyOf } from './keys.js'
import { E2eReplica, type ReceivedEnvelopes } from './replica.js'
import type { Envelope, MemberAccess, VersionVector } from './types.js'
import { vvDecode, vvEncode } from './version-vector.js'
import { decodeE2e, E2eKind, E2E_WIRE_LIMITS, encodeE2e, type E2eMessage } from './wire.js'

const log = logger('e2e')
const byteLength = (items: readonly Uint8Array[]): number => items.reduce((n, b) => n + b.length, 0)
const sameMembers = (a: MemberList, b: MemberList): boolean => a.length === b.length && a.every(m => b.some(o => o.peerId === m.peerId && o.access === m.access))

/** room left in a frame for its header and the list's length prefixes */
const FRAME_OVERHEAD = 1024
/** a catch-up waits while this much is queued for the peer (the engine closes a peer past its queue cap) */
const PACE_QUEUED_BYTES = 16 * 1024 * 1024
/** a catch-up goes in frames of about this size: the receiver works on one while the next arrive */
const CATCH_UP_FRAME_BYTES = 128 * 1024
/** the storage bucket that lists the keys of the docs held encrypted: ['_e2e', keyHex] */
const INDEX_BUCKET = '_e2e'
/** a member writing fast seals its edits at most this often (an idle one at once) */
const SEAL_EVERY_MS = 5
/** a member's upkeep (attesting, snapshots) runs once the doc's envelopes pause this long, or at most this late */
const UPKEEP_QUIET_MS = 250
const UPKEEP_MAX_WAIT_MS = 1000
/** a writer whose edits pause this long seals a snapshot if what it wrote since its last is worth it (at least this many bytes) */
const IDLE_SNAPSHOT_MS = 2000
const IDLE_SNAPSHOT_MIN_BYTES = 16 * 1024
/** a manager other than the doc's creator rotates a revoked member out after (1 + its rank) × this, if no one did (`#rotateOutLater`) */
export const REVOCATION_STAGGER_MS = 5000
/** the least a manager waits before rotating out a member revoked while the doc is open: the peers' newer records come first */
export const REVOCATION_SETTLE_MS = 1000
/**
 * a member seals a snapshot once its log took about this many envelopes since the last one (± SNAPSHOT_JITTER / 2),
 * or more bytes than the last snapshot's size and at least SNAPSHOT_MIN_BYTES (a snapshot costs a whole doc to make,
 * send and check: B4 typed live through a blind gateway ran at 0.77x of the doc in clear with 64 KiB)
 */
export const SNAPSHOT_EVERY = 1024
const SNAPSHOT_JITTER = 128
const SNAPSHOT_MIN_BYTES = 256 * 1024
/** encrypted docs one peer may make a serving node take, per connection */
const MAX_NEW_DOCS_PER_PEER = 1024
/** default idleUnloadMs: as for docs in clear served by key (serving-repo.ts) */
const IDLE_UNLOAD_MS = 60_000

interface Session {
  peer: PeerState
  /** we sent OPEN on this session */
  opened: boolean
  /** the VV the last OPEN we sent asked from, the epoch records we held then, and the doc's `unknownEpochs` then */
  openVv?: Uint8Array | undefined
  openRecords?: number
  openUnknownEpochs?: number
  /** the peer's OPEN arrived: it holds the doc, and takes forwards */
  live: boolean
  /** a catch-up asked again after a gap, not answered yet */
  reopening: boolean
  /** a catch-up to it is being sent; another OPEN meanwhile asks for one more after it */
  catchingUp: boolean
  catchUpAgain: boolean
  /** ENVELOPES frames sent to it */
  sent: number
  /** its VV as of its last OPEN or STORED */
  theirs: VersionVector
  /** resolved on each STORED */
  waiters: Set<() => void>
}

type MemberList = ReadonlyArray<{ peerId: string, access: MemberAccess }>

interface Entry {
  replica: E2eReplica
  /** the id, when a member opened it by id; blind: `key:<hex>` */
  docId: string
  sessions: Map<string, Session>
  /** everything done to the replica, one at a time */
  queue: Promise<void>
  /** a member's handle is open on it */
  handles: number
  /** the local edits wait for a flush */
  flushScheduled: boolean
  /** saving again what failed to save */
  retry?: ReturnType<typeof setTimeout> | undefined
  /** a member's doc is watched for local edits */
  watched: boolean
  /** performance.now() of the last seal of local edits */
  lastSeal: number
  /** envelopes refused for an epoch not held (records that come later take them) */
  unknownEpochs: number
  /** a writer's snapshot once its edits pause (#snapshotWhenIdle) */
  idle?: ReturnType<typeof setTimeout> | undefined
  /** a member's upkeep (attest what it received, snapshot if due) waits for the doc's envelopes to pause */
  upkeep?: { timer: ReturnType<typeof setTimeout>, since: number } | undefined
  /** rotations of revoked members scheduled, by member id (a manager waits its turn: `#rotateOutLater`) */
  rotations: Map<string, ReturnType<typeof setTimeout>>
  /** tasks queued or running */
  tasks: number
  /** Date.now() when it was last seen busy (a session, a task, a write): a blind doc idle for idleUnloadMs is unloaded */
  idleSince: number
}

/** What a node holds of encrypted docs (E2eService.held). */
export interface E2eHeld {
  docs: number
  envelopes: number
  /** the envelopes' bytes */
  bytes: number
}

export interface E2eServiceOptions {
  storage: StorageAdapter
  /** whether the doc under `keyHex` is held here in clear: it never becomes an encrypted one */
  heldInClear: (keyHex: string) => Promise<boolean>
  /** this node's key: needed to be a member (a node without it is blind for every doc) */
  key: PrivateKey | undefined
  /** take docs peers OPEN (a gateway serving by key) */
  servesByKey: boolean
  /** what the policy (and grants) let `peerId` do with `docId` */
  access: (peerId: string, docId: string) => Access
  /** a member seals a snapshot after this many envelopes (default SNAPSHOT_EVERY, a little more or less per member) */
  snapshotEvery?: number
  /** whether an owner revoked `peerId` (grants): checked for the members of a doc this node opens and manages */
  peerRevoked?: (peerId: string) => boolean
  /** a doc held blind that no session held for this long is unloaded: kept on disk, loaded again on the next OPEN (default 60 s) */
  idleUnloadMs?: number
  /** per-peer write quotas (a gateway's `quota`): the envelopes and records a peer sends are charged to it, a doc its first record creates too */
  quota?: Pick<WriteQuota, 'reserve' | 'refund'> | undefined
}

export class E2eService implements EngineExtension {
  readonly features = Features.E2E
  readonly #opts: E2eServiceOptions
  readonly #snapshotAfter: number
  readonly #entries = new Map<string, Entry>()
  /** keys of the docs held here encrypted (with an epoch record on disk): never served in clear */
  readonly #known = new Set<string>()
  /** encrypted docs each peer's OPENs made this node take (on this connection) */
  readonly #madeBy = new WeakMap<PeerState, number>()
  /** unloads idle blind docs (`sweep`), while there are any */
  #sweeper: ReturnType<typeof setInterval> | undefined
  #api: ExtensionApi | undefined
  #stopped = false

  constructor (opts: E2eServiceOptions) {
    this.#opts = opts
    // each member its own threshold, from its key: two members online together seldom snapshot at once
    const id = opts.key === undefined ? undefined : idOf(ownRawKey(opts.key))
    this.#snapshotAfter = opts.snapshotEvery ?? SNAPSHOT_EVERY + (id === undefined ? 0 : parseInt(id.slice(0, 2), 16) % SNAPSHOT_JITTER - SNAPSHOT_JITTER / 2)
  }

  // ---------------------------------------------------------------- EngineExtension

  presentsFirst (): boolean { return false }
  attach (api: ExtensionApi): void { this.#api = api }
  offering (): void {}
  access (): undefined { return undefined }

  /** A member offers the docs it opened (a blind node answers, and offers nothing: its peers name what they hold). */
  hello (peer: PeerState): void {
    if ((peer.features & Features.E2E) === 0) return
    for (const entry of this.#entries.values()) if (entry.handles > 0) this.#offer(entry, peer)
  }

  /** Whether the doc under `keyHex` is held here encrypted (the engine refuses it in clear). */
  encrypted (keyHex: string): boolean {
    return this.#known.has(keyHex)
  }

  /** Learn which keys are held here encrypted (an index in storage), before peers connect. */
  async start (): Promise<void> {
    for (const c of await this.#opts.storage.loadRange([INDEX_BUCKET])) if (c.key.length === 2) this.#known.add(c.key[1])
  }

  intercept (peer: PeerState, frame: Frame): boolean {
    // a doc held here encrypted is never synced in clear, whoever asks: a SYNC1 is DENIED `encrypted`, the rest refused and counted
    if ('docKey' in frame) {
      if (this.#known.size === 0 || !this.#known.has(docKeyHex(frame.docKey))) return false
      if (frame.type === MessageType.SYNC1) this.#api?.peers.send(peer, { type: MessageType.DENIED, docKey: frame.docKey, reason: DeniedReason.ENCRYPTED })
      else if (frame.type !== MessageType.DENIED) this.#api?.countRejection('encrypted_doc')
      return true
    }
    if (frame.type !== MessageType.E2E) return false
    if ((peer.features & Features.E2E) === 0 || !('body' in frame)) {
      this.#api?.peers.reject(peer, 2 /* PROTOCOL_ERROR */, 'an E2E frame before announcing E2E')
      return true
    }
    let m: E2eMessage
    try {
      m = decodeE2e(frame.body)
    } catch (err) {
      this.#count(err instanceof E2eError ? err.reason : 'malformed')
      this.#api?.peers.reject(peer, 2 /* PROTOCOL_ERROR */, `a malformed E2E frame: ${(err as Error).message}`)
      return true
    }
    this.#receive(peer, m)
    return true
  }

  peerGone (peer: PeerState): void {
    for (const entry of [...this.#entries.values()]) {
      const s = entry.sessions.get(peer.id)
      if (s !== undefined && s.peer === peer) this.#endSession(entry, peer)
    }
  }

  stop (): void {
    this.#stopped = true
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper)
    this.#sweeper = undefined
    for (const e of this.#entries.values()) {
      clearTimeout(e.retry)
      clearTimeout(e.upkeep?.timer)
      clearTimeout(e.idle)
      for (const t of e.rotations.values()) clearTimeout(t)
    }
  }

  // ---------------------------------------------------------------- members

  /**
   * The replica of a doc this member opens by id (loaded from storage, or
   * new), offered to every E2E peer. `create`: issue epoch 0 with these
   * members (this node included, as a manager) if the doc is new here.
   */
  async openMember (docId: string, docKey: Uint8Array, create?: ReadonlyArray<{ peerId: string, access: MemberAccess }>): Promise<E2eReplica> {
    if (this.#opts.key === undefined) throw new TypeError('an encrypted doc needs the node\'s own key (a libp2p node meshdoc created)')
    const keyHex = docKeyHex(docKey)
    let entry = this.#entries.get(keyHex)
    if (entry !== undefined && !entry.replica.member) throw new TypeError(`the doc ${docId} is held here blind`)
    if (entry === undefined) {
      const replica = new E2eReplica({ docKey, storage: this.#opts.storage, key: this.#opts.key })
      await replica.load()
      const added = this.#entries.get(keyHex) === undefined
      entry = this.#entries.get(keyHex) ?? this.#add(replica, docId)
      // snapshots loaded that this member has not attested yet (it stopped first): attested once things pause
      if (added && replica.member) this.#upkeepLater(entry)
    }
    entry.handles++
    const e = entry
    if (create !== undefined && e.replica.recordCount === 0) {
      try {
        await this.#call(e, async () => {
          if (e.replica.recordCount > 0) return
          const self = this.#selfId()
          const members = [{ peerId: self, access: 'manage' as const }, ...create.filter(m => m.peerId !== self && this.#opts.peerRevoked?.(m.peerId) !== true)]
          const { stored } = await e.replica.issueEpoch(members)
          await Promise.all([stored, this.#remember(e)])
        })
      } catch (err) {
        this.closeMember(keyHex)
        throw err
      }
    }
    this.#watch(e)
    for (const peer of this.#api?.peers.values() ?? []) if (peer.helloReceived && (peer.features & Features.E2E) !== 0) this.#offer(e, peer)
    // members revoked while the doc was not open here: rotated out once peers had the time to send newer records
    // (a manager rotating from a stale chain would split the doc), each manager in its turn
    this.#rotateOutRevoked(e, REVOCATION_STAGGER_MS)
    return e.replica
  }

  /** A member closed its handle: the doc stays held (and served) until the node stops. */
  closeMember (keyHex: string): void {
    const entry = this.#entries.get(keyHex)
    if (entry !== undefined) entry.handles = Math.max(0, entry.handles - 1)
  }

  /** Seal and send what the member wrote; resolves once it is on this node's disk. */
  async flush (keyHex: string): Promise<void> {
    const entry = this.#entries.get(keyHex)
    if (entry === undefined) return
    // every task of the queue waits for what it stored: once this one ran, all before it are on disk
    await this.#call(entry, async () => { await this.#sealPendingAndSend(entry) })
  }

  /**
   * A new epoch with these members (a rotation: removed members read
   * nothing written after it). `members` may be a function of the members
   * of the latest epoch, called in the doc's queue (when the rotation
   * runs, after any rotation queued before it): how to add or remove one
   * without undoing another. Members an owner revoked are left out.
   */
  async setMembers (keyHex: string, members: MemberList | ((latest: MemberList) => MemberList)): Promise<void> {
    const entry = this.#entries.get(keyHex)
    if (entry === undefined) throw new TypeError('no such encrypted doc open')
    await this.#call(entry, async () => {
      const from = entry.replica.recordCount
      const latest = (entry.replica.chain.latest?.members ?? []).map(m => ({ peerId: m.peerId, access: m.access }))
      const next = (typeof members === 'function' ? members(latest) : members).filter(m => this.#opts.peerRevoked?.(m.peerId) !== true)
      // a change computed from the members when it runs that changes nothing (another rotation did it first): no new epoch
      if (typeof members === 'function' && sameMembers(next, latest)) return
      const issued = await entry.replica.issueEpoch(next)
      await issued.stored
      this.#rotated(entry)
      this.#broadcast(entry, undefined, { kind: E2eKind.RECORDS, docKey: entry.replica.docKey, from, records: [issued.record] })
      // what was sealed again in the new epoch (own edits the rotation voided), and what waited
      await this.#sealPendingAndSend(entry)
    })
  }

  /**
   * An owner revoked `peerId` (a REVOKE of kind peer reached this node):
   * each encrypted doc held here that this node manages and that names it
   * a member rotates it out (`#rotateOutLater`), after REVOCATION_SETTLE_MS
   * at least: a revocation often comes right after a (re)connection, before
   * the peers' newer records.
   */
  revoked (peerId: string): void {
    let id: string
    try { id = idOf(rawKeyOf(peerId)) } catch { return }
    for (const entry of this.#entries.values()) this.#rotateOutLater(entry, id, REVOCATION_SETTLE_MS)
  }

  /** Schedule the rotation of every member of the doc's latest epoch an owner revoked (opened here, or new records taken). */
  #rotateOutRevoked (entry: Entry, atLeast: number): void {
    if (this.#opts.peerRevoked === undefined || !entry.replica.member || !entry.replica.manages) return
    for (const m of entry.replica.chain.latest?.members ?? []) if (this.#opts.peerRevoked(m.peerId)) this.#rotateOutLater(entry, m.id, atLeast)
  }

  /**
   * Rotate member `id` out of `entry`'s doc, if this node manages it and
   * `id` is a member of its latest epoch: the doc's creator after `atLeast`
   * ms; any other manager after `atLeast` + (1 + its rank among the
   * managers, by key) × REVOCATION_STAGGER_MS, and only if no one did
   * meanwhile, so that managers online together rotate once (two rotating
   * at once would split the doc on that epoch: epoch.ts, `epoch_conflict`).
   * The new members are those of the latest epoch when the rotation runs,
   * less every revoked one.
   */
  #rotateOutLater (entry: Entry, id: string, atLeast: number): void {
    const r = entry.replica
    const latest = r.chain.latest
    if (!r.member || !r.manages || latest?.memberOf.has(id) !== true || entry.rotations.has(id)) return
    const me = this.#writerId()!
    const rank = latest.members.filter(m => m.access === 'manage').map(m => m.id).sort().indexOf(me)
    const wait = atLeast + (r.chain.get(0)!.issuerId === me ? 0 : (1 + Math.max(0, rank)) * REVOCATION_STAGGER_MS)
    const rotate = (): void => {
      entry.rotations.delete(id)
      const now = r.chain.latest
      if (this.#stopped || !r.manages || now?.memberOf.has(id) !== true) return
      const peerId = now.memberOf.get(id)!.peerId
      log('rotating %s out of %s: revoked', peerId, entry.docId)
      // the list is made when the rotation runs (in the doc's queue): one queued before it is not undone
      this.setMembers(r.keyHex, members => members.filter(m => m.peerId !== peerId)).catch((err: unknown) => { log.error('rotating %s out of %s failed: %e', peerId, entry.docId, err) })
    }
    const timer = setTimeout(rotate, wait)
    timer.unref?.()
    entry.rotations.set(id, timer)
  }

  /** Seal a snapshot (other members attest it; then blind nodes may drop what it covers). */
  async snapshot (keyHex: string): Promise<boolean> {
    const entry = this.#entries.get(keyHex)
    if (entry === undefined) return false
    let made = false
    await this.#call(entry, async () => {
      await this.#sealPendingAndSend(entry, false)
      made = await this.#sealSnapshot(entry)
    })
    return made
  }

  /** Seal a snapshot of the member's log, store it, send it (inside the doc's queue). False if it may not, or cannot yet. */
  async #sealSnapshot (entry: Entry): Promise<boolean> {
    let s: Awaited<ReturnType<E2eReplica['sealSnapshot']>>
    try {
      s = await entry.replica.sealSnapshot()
    } catch (err) {
      // covered updates whose dependencies are not here yet: after the next catch-up
      if (err instanceof E2eError && err.reason === 'cannot_check') return false
      throw err
    }
    if (s === undefined) return false
    await s.stored
    this.#forward(entry, [s.envelope], undefined)
    return true
  }

  /**
   * A member that may write seals a snapshot once its log took SNAPSHOT_EVERY
   * envelopes since the last one (anyone's; a little more or less per member,
   * so that two members online together seldom both do), or more bytes than
   * that snapshot's size: once another member attests it, every node drops
   * what it covers, and a joiner gets it in one.
   */
  /**
   * Seal a snapshot if one is due. After its own writing a member seals at
   * its threshold; after taking others' envelopes (`received`) only at twice
   * that, so that the member writing them, which seals at its own, usually
   * does it first: two members sealing at once both cost a whole doc, and a
   * snapshot that misses the other's is not attested by it.
   */
  async #maybeSnapshot (entry: Entry, received = false): Promise<void> {
    const r = entry.replica
    if (!r.member || !writes(r.access) || !r.snapshotDue(this.#snapshotAfter, SNAPSHOT_MIN_BYTES, received ? 2 : 1)) return
    await this.#sealSnapshot(entry)
  }

  /** Resolves when `peer` has said it stored everything this member wrote so far (or is gone: false). */
  async whenStored (keyHex: string, peer: string, signal?: AbortSignal): Promise<boolean> {
    const entry = this.#entries.get(keyHex)
    if (entry === undefined) return false
    // a local write that failed is saved again (#storeFailed): what counts is the peer's STORED
    await this.flush(keyHex).catch((err: unknown) => { log('flushing %s before waiting for %s: %e', keyHex.slice(0, 8), peer, err) })
    if (entry.replica.pendingEdits > 0) throw new TypeError('this node may not write to the doc (no write access in its latest epoch): its edits wait')
    const self = entry.replica.member ? this.#writerId() : undefined
    const target = self === undefined ? 0 : entry.replica.log.tip(self).seq
    for (;;) {
      signal?.throwIfAborted()
      const s = entry.sessions.get(peer)
      if (s === undefined) return false
      if (s.live && self !== undefined && (s.theirs.get(self) ?? 0) >= target) return true
      await new Promise<void>(resolve => {
        const done = (): void => { s.waiters.delete(done); signal?.removeEventListener('abort', done); resolve() }
        s.waiters.add(done)
        signal?.addEventListener('abort', done, { once: true })
      })
    }
  }

  /** Peers with a live session of the doc. */
  sessionPeers (keyHex: string): string[] {
    return [...(this.#entries.get(keyHex)?.sessions.values() ?? [])].filter(s => s.live).map(s => s.peer.id)
  }

  /** What this node holds of encrypted docs (blind or as a member): docs, envelopes and their bytes. */
  held (): E2eHeld {
    const out = { docs: 0, envelopes: 0, bytes: 0 }
    for (const e of this.#entries.values()) {
      out.docs++
      out.envelopes += e.replica.log.size
      out.bytes += e.replica.log.bytes
    }
    return out
  }

  /** Seal and store what members wrote; resolves once every write started is done. */
  async settled (): Promise<void> {
    await Promise.all([...this.#entries.values()].map(async e => {
      if (e.replica.member) await this.#enqueue(e, async () => { await this.#sealPendingAndSend(e) })
      // an upkeep still waiting for a pause runs now: what was received is attested before the node stops
      if (e.upkeep !== undefined) {
        clearTimeout(e.upkeep.timer)
        e.upkeep = undefined
        await this.#enqueue(e, async () => { await this.#upkeep(e) })
      }
      await e.queue
      await e.replica.settled()
    }))
  }

  // ---------------------------------------------------------------- receiving

  #receive (peer: PeerState, m: E2eMessage): void {
    const keyHex = docKeyHex(m.docKey)
    const entry = this.#entries.get(keyHex)
    if (m.kind === E2eKind.REFUSED) {
      this.#api?.ignore(`e2e_refused_by_peer_${m.reason}`)
      log('%s refused %d of %s: %s', peer.id, m.count, keyHex.slice(0, 8), m.reason)
      if (entry !== undefined && (m.reason === 'unavailable' || m.reason === 'held_in_clear')) this.#endSession(entry, peer)
      return
    }
    if (entry === undefined) {
      if (m.kind !== E2eKind.OPEN) return this.#count('e2e_not_open')
      void this.#serveNew(peer, keyHex, m)
      return
    }
    const access = this.#opts.access(peer.id, entry.docId)
    if (access === Access.NONE) {
      this.#refuse(peer, m.docKey, 'unavailable', 1)
      return
    }
    // records, envelopes and attestations are stored: a peer with read access only sends none (as with writes in clear)
    if (access !== Access.WRITE && (m.kind === E2eKind.RECORDS || m.kind === E2eKind.ENVELOPES || m.kind === E2eKind.ATTEST)) {
      this.#refuse(peer, m.docKey, 'read_only', 1)
      return
    }
    // envelopes' signatures are checked from now on, beside the frames queued before them
    const received = m.kind === E2eKind.ENVELOPES ? entry.replica.receiveEnvelopes(m.envelopes) : undefined
    void this.#enqueue(entry, async () => { await this.#handle(entry, peer, m, received) })
  }

  /** An OPEN for a doc not held here: a node serving by key takes it as a blind replica, if the peer may see it. */
  async #serveNew (peer: PeerState, keyHex: string, m: E2eMessage & { kind: typeof E2eKind.OPEN }): Promise<void> {
    if (!this.#opts.servesByKey || this.#opts.access(peer.id, keyOnlyDocId(keyHex)) === Access.NONE) {
      this.#refuse(peer, m.docKey, 'unavailable', 1)
      return
    }
    // one peer makes this node hold at most so many new docs (as for docs in clear: limits.maxDocsPerPeer's
    // role); loading again one held on disk (unloaded while idle) is not new
    if (!this.#known.has(keyHex)) {
      const made = this.#madeBy.get(peer) ?? 0
      if (made >= MAX_NEW_DOCS_PER_PEER) {
        this.#refuse(peer, m.docKey, 'full', 1)
        return
      }
      this.#madeBy.set(peer, made + 1)
    }
    const replica = new E2eReplica({ docKey: m.docKey.slice(), storage: this.#opts.storage })
    await replica.load()
    const entry = this.#entries.get(keyHex) ?? this.#add(replica, keyOnlyDocId(keyHex))
    await this.#enqueue(entry, async () => { await this.#handle(entry, peer, m) })
  }

  async #handle (entry: Entry, peer: PeerState, m: E2eMessage, received?: ReceivedEnvelopes): Promise<void> {
    if (peer.closed || this.#stopped) return
    const r = entry.replica
    const s = this.#session(entry, peer)
    switch (m.kind) {
      case E2eKind.OPEN: {
        let theirs: VersionVector
        try {
          theirs = vvDecode(m.vv)
        } catch (err) {
          this.#refused(entry, peer, new Map([[(err as E2eError).reason, 1]]))
          return
        }
        s.theirs = theirs
        s.live = true
        // an OPEN says what is on the peer's disk, as a STORED does
        for (const w of [...s.waiters]) w()
        if (!s.opened) this.#open(entry, peer)
        if (m.records < r.recordCount) this.#send(peer, { kind: E2eKind.RECORDS, docKey: r.docKey, from: m.records, records: r.records(m.records) })
        // sent outside the queue (paced by the peer's reading), so that a slow reader holds up no one else
        void this.#catchUp(entry, s)
        break
      }
      case E2eKind.RECORDS: {
        const from = r.recordCount
        if (from === 0 && !this.#known.has(r.keyHex) && await this.#opts.heldInClear(r.keyHex)) {
          // a doc held here in clear never becomes an encrypted one (nor the other way round)
          this.#refuse(peer, m.docKey, 'held_in_clear', 1)
          this.#endSession(entry, peer)
          return
        }
        // a blind replica's first record creates the doc here: charged to the peer, with the records' bytes
        const fresh = byteLength(m.records.slice(Math.max(0, from - m.from)))
        const creates = from === 0 && !r.member ? 1 : 0
        if (this.#opts.quota?.reserve(peer.id, fresh, creates) === false) {
          this.#refused(entry, peer, new Map([['quota_exceeded', m.records.length]]))
          return
        }
        const taken = await r.takeRecords(m.from, m.records).catch((err: unknown) => {
          this.#opts.quota?.refund(peer.id, fresh, creates)
          throw err
        })
        this.#opts.quota?.refund(peer.id, fresh - byteLength(taken.accepted.map(rec => rec.bytes)), creates === 1 && taken.accepted[0]?.epoch === 0 ? 0 : creates)
        this.#refused(entry, peer, taken.refused)
        await Promise.all([taken.stored, this.#remember(entry)])
        if (taken.accepted.length > 0) {
          this.#rotated(entry)
          this.#broadcast(entry, peer, { kind: E2eKind.RECORDS, docKey: r.docKey, from, records: r.records(from) })
          // a member with a key now (or a new one): what waited is sealed; what it lacks, asked for
          await this.#sealPendingAndSend(entry)
          // (unless the OPEN last sent asked for just that: its catch-up is under way, or done)
          for (const other of entry.sessions.values()) if (other.live) this.#open(entry, other.peer, 'if-behind')
          // a newer epoch may name a member an owner revoked (added elsewhere), or make this node a manager
          this.#rotateOutRevoked(entry, REVOCATION_SETTLE_MS)
        }
        break
      }
      case E2eKind.ENVELOPES: {
        const frameBytes = byteLength(m.envelopes)
        if (this.#opts.quota?.reserve(peer.id, frameBytes, 0) === false) {
          // past its quota: nothing of the frame is taken, and STORED says what is on disk (not these)
          this.#refused(entry, peer, new Map([['quota_exceeded', m.envelopes.length]]))
          this.#send(peer, { kind: E2eKind.STORED, docKey: r.docKey, seq: m.seq, vv: vvEncode(r.durableVv()) })
          break
        }
        const taken = await r.takeEnvelopes(received ?? m.envelopes).catch((err: unknown) => {
          this.#opts.quota?.refund(peer.id, frameBytes, 0)
          throw err
        })
        // charged what it stored: replays and refusals given back
        this.#opts.quota?.refund(peer.id, frameBytes - byteLength(taken.accepted.map(env => env.bytes)), 0)
        entry.unknownEpochs += taken.refused.get('unknown_epoch') ?? 0
        for (let i = 0; i < taken.duplicates; i++) this.#api?.ignore('e2e_duplicate')
        this.#refused(entry, peer, taken.refused)
        if (taken.accepted.length > 0) this.#forward(entry, taken.accepted, peer)
        if ((taken.refused.get('gap') ?? 0) === 0) {
          s.reopening = false
        } else if (!s.reopening) {
          // a forward overtook what this peer still had to send us: ask for the catch-up again
          s.reopening = true
          this.#open(entry, peer, true)
        }
        // STORED only once on disk, and with what is on disk (a failed write acknowledges nothing)
        try {
          await taken.stored
        } catch (err) {
          this.#storeFailed(entry, err)
        }
        this.#send(peer, { kind: E2eKind.STORED, docKey: r.docKey, seq: m.seq, vv: vvEncode(r.durableVv()) })
        if (r.member && taken.accepted.length > 0) this.#upkeepLater(entry)
        break
      }
      case E2eKind.ATTEST: {
        const taken = await r.takeAttestations(m.attestations)
        this.#refused(entry, peer, taken.refused)
        if (taken.accepted.length > 0) {
          this.#broadcast(entry, peer, { kind: E2eKind.ATTEST, docKey: r.docKey, attestations: taken.accepted })
          await taken.stored.catch(() => {})
          const dropped = await r.compact().catch((err: unknown) => { log.error('compaction of %s failed: %e', entry.replica.keyHex, err); return 0 })
          if (dropped > 0) log('%s: compacted, %d envelopes dropped', r.keyHex.slice(0, 8), dropped)
        }
        break
      }
      case E2eKind.STORED: {
        try {
          s.theirs = vvDecode(m.vv)
        } catch (err) {
          this.#refused(entry, peer, new Map([[(err as E2eError).reason, 1]]))
          return
        }
        for (const w of [...s.waiters]) w()
        break
      }
    }
  }

  // ---------------------------------------------------------------- sending

  /**
   * Send OPEN: the first on a session, or `again` (after a gap, a rotation);
   * 'if-behind' (after taking epoch records): again unless the last OPEN
   * was sent holding no record (a joiner: its peer answers that OPEN with
   * the records and the catch-up), asked for the same VV, and no envelope
   * was refused since for an epoch not held (new records may take it now).
   * A node that held records re-opens: a rotation voids what it knew its
   * peers stored (`#rotated`), and their answering OPEN tells it again.
   */
  #open (entry: Entry, peer: PeerState, again: boolean | 'if-behind' = false): void {
    const s = this.#session(entry, peer)
    if (s.opened && again === false) return
    // what is on disk: an envelope whose save failed is asked for again
    const vv = vvEncode(entry.replica.durableVv())
    if (s.opened && again === 'if-behind' && s.openRecords === 0 && s.openVv !== undefined && equalBytes(s.openVv, vv) && s.openUnknownEpochs === entry.unknownEpochs) return
    s.opened = true
    s.openVv = vv
    s.openRecords = entry.replica.recordCount
    s.openUnknownEpochs = entry.unknownEpochs
    this.#send(peer, { kind: E2eKind.OPEN, docKey: entry.replica.docKey, records: entry.replica.recordCount, vv })
  }

  /** What the peer lacks (by its last VV); one at a time per session: OPENs meanwhile ask for one more after it. */
  async #catchUp (entry: Entry, s: Session): Promise<void> {
    if (s.catchingUp) {
      s.catchUpAgain = true
      return
    }
    s.catchingUp = true
    try {
      do {
        s.catchUpAgain = false
        const c = entry.replica.missingFor(s.theirs)
        for (let i = 0; i < c.attestations.length; i += E2E_WIRE_LIMITS.attestationsPerFrame) {
          this.#send(s.peer, { kind: E2eKind.ATTEST, docKey: entry.replica.docKey, attestations: c.attestations.slice(i, i + E2E_WIRE_LIMITS.attestationsPerFrame) })
        }
        await this.#sendEnvelopes(entry, s, [...c.checkpoints, ...c.envelopes], true)
      } while (s.catchUpAgain && !s.peer.closed)
    } finally {
      s.catchingUp = false
    }
  }

  /** Everything accepted or sealed here goes to every other live session of the doc. */
  #forward (entry: Entry, envelopes: Envelope[], from: PeerState | undefined): void {
    for (const s of entry.sessions.values()) {
      if (s.peer === from || !s.live || s.peer.closed) continue
      void this.#sendEnvelopes(entry, s, envelopes, false)
    }
  }

  /**
   * Send envelopes in ENVELOPES frames of at most what the peer takes; a
   * catch-up (`pace`) in frames of about CATCH_UP_FRAME_BYTES, so that the
   * peer checks and applies the first while the next are on the way.
   */
  async #sendEnvelopes (entry: Entry, s: Session, envelopes: readonly Envelope[], pace: boolean): Promise<void> {
    const max = Math.max(64 * 1024, s.peer.maxFrameBytes - FRAME_OVERHEAD)
    const target = pace ? Math.min(max, CATCH_UP_FRAME_BYTES) : max
    let batch: Uint8Array[] = []
    let bytes = 0
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      if (pace) await this.#paced(s.peer)
      this.#send(s.peer, { kind: E2eKind.ENVELOPES, docKey: entry.replica.docKey, seq: ++s.sent, envelopes: batch })
      batch = []
      bytes = 0
    }
    for (const env of envelopes) {
      if (env.bytes.length + 16 > max) {
        this.#count('e2e_unsendable')
        log.error('an envelope of %d bytes is over what %s takes in a frame', env.bytes.length, s.peer.id)
        continue
      }
      if (batch.length > 0 && (bytes + env.bytes.length + 16 > target || batch.length >= E2E_WIRE_LIMITS.envelopesPerFrame)) await flush()
      batch.push(env.bytes)
      bytes += env.bytes.length + 16
    }
    await flush()
  }

  /** Wait while much is queued for the peer (the engine closes one whose queue passes its cap). */
  async #paced (peer: PeerState): Promise<void> {
    for (;;) {
      if (peer.closed || (peer.link.queuedBytes ?? 0) <= PACE_QUEUED_BYTES) return
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }

  #broadcast (entry: Entry, from: PeerState | undefined, m: E2eMessage): void {
    for (const s of entry.sessions.values()) if (s.peer !== from && s.live && !s.peer.closed) this.#send(s.peer, m)
  }

  /** Seal a member's edits, send them, and wait until they are on this node's disk (then a snapshot, if one is due). */
  async #sealPendingAndSend (entry: Entry, snapshots = true): Promise<void> {
    if (!entry.replica.member) return
    const out = await entry.replica.sealPending()
    if (out.sealed.length > 0) this.#forward(entry, out.sealed, undefined)
    try {
      await out.stored
    } catch (err) {
      this.#storeFailed(entry, err)
      throw err
    }
    if (snapshots && out.sealed.length > 0) {
      await this.#maybeSnapshot(entry)
      this.#snapshotWhenIdle(entry)
    }
  }

  /**
   * A writer whose edits pause for IDLE_SNAPSHOT_MS seals a snapshot of
   * what it wrote since its last one, if that holds at least a quarter of
   * the last one's size (`idleSnapshotDue`): once another member attests
   * it, gateways hold the doc and almost no tail, so a newcomer's join is one
   * snapshot, not a replay (bench P4).
   */
  #snapshotWhenIdle (entry: Entry): void {
    if (!writes(entry.replica.access)) return
    clearTimeout(entry.idle)
    entry.idle = setTimeout(() => {
      entry.idle = undefined
      if (this.#stopped) return
      void this.#enqueue(entry, async () => {
        if (entry.replica.idleSnapshotDue(IDLE_SNAPSHOT_MIN_BYTES)) await this.#sealSnapshot(entry)
      })
    }, IDLE_SNAPSHOT_MS)
    entry.idle.unref?.()
  }

  /**
   * A member's upkeep after taking envelopes: attest the snapshots it
   * received and seal one if due. Both rebuild whole docs, so they wait
   * until the doc's envelopes pause for UPKEEP_QUIET_MS (a catch-up or a
   * fast writer is not held up by them), but never more than
   * UPKEEP_MAX_WAIT_MS after the first envelope that asked for it.
   */
  #upkeepLater (entry: Entry): void {
    const now = performance.now()
    const since = entry.upkeep?.since ?? now
    if (entry.upkeep !== undefined) clearTimeout(entry.upkeep.timer)
    const timer = setTimeout(() => {
      entry.upkeep = undefined
      if (this.#stopped) return
      void this.#enqueue(entry, async () => { await this.#upkeep(entry) })
    }, Math.max(0, Math.min(UPKEEP_QUIET_MS, since + UPKEEP_MAX_WAIT_MS - now)))
    timer.unref?.()
    entry.upkeep = { timer, since }
  }

  async #upkeep (entry: Entry): Promise<void> {
    await this.#attestAndSend(entry)
    await this.#maybeSnapshot(entry, true)
  }

  async #attestAndSend (entry: Entry): Promise<void> {
    const taken = await entry.replica.attestReceived()
    if (taken.accepted.length > 0) this.#broadcast(entry, undefined, { kind: E2eKind.ATTEST, docKey: entry.replica.docKey, attestations: taken.accepted })
  }

  #send (peer: PeerState, m: E2eMessage): void {
    this.#api?.peers.send(peer, { type: MessageType.E2E, body: encodeE2e(m) })
  }

  #refuse (peer: PeerState, docKey: Uint8Array, reason: string, count: number): void {
    this.#count(`e2e_${reason}`)
    this.#send(peer, { kind: E2eKind.REFUSED, docKey, reason, count })
  }

  #refused (entry: Entry, peer: PeerState, refused: ReadonlyMap<string, number>): void {
    for (const [reason, n] of refused) {
      for (let i = 0; i < n; i++) this.#count(`e2e_${reason}`)
      // a gap is ours to heal (OPEN again), not the peer's fault
      if (reason !== 'gap') this.#send(peer, { kind: E2eKind.REFUSED, docKey: entry.replica.docKey, reason, count: n })
    }
  }

  // ---------------------------------------------------------------- inside

  /**
   * A write failed (a full disk, an I/O error): nothing of it was
   * acknowledged. The envelopes stay in memory and are saved again, after 1 s
   * and then less and less often (to 30 s); once on disk, every peer holding
   * the doc is told (STORED, seq 0).
   */
  #storeFailed (entry: Entry, err: unknown): void {
    this.#count('e2e_store_failed')
    log.error('could not store envelopes of %s: %e', entry.replica.keyHex, err)
    if (entry.retry !== undefined || this.#stopped) return
    const attempt = (delay: number): void => {
      entry.retry = setTimeout(() => {
        void this.#enqueue(entry, async () => {
          try {
            await entry.replica.saveFailed()
          } catch {
            if (!this.#stopped) attempt(Math.min(delay * 2, 30_000))
            return
          }
          entry.retry = undefined
          this.#broadcast(entry, undefined, { kind: E2eKind.STORED, docKey: entry.replica.docKey, seq: 0, vv: vvEncode(entry.replica.durableVv()) })
        })
      }, delay)
      entry.retry.unref?.()
    }
    attempt(1000)
  }

  /** Offer a doc a member opened to a peer that may see it. */
  #offer (entry: Entry, peer: PeerState): void {
    if (this.#opts.access(peer.id, entry.docId) !== Access.NONE) this.#open(entry, peer)
  }

  /**
   * The doc holds an epoch record: refused in clear from now on (at once, in
   * memory), and listed as encrypted in storage (resolves once listed; the
   * caller waits for it with the record's own write, so a record is never
   * on disk unlisted).
   */
  async #remember (entry: Entry): Promise<void> {
    const keyHex = entry.replica.keyHex
    if (this.#known.has(keyHex) || entry.replica.recordCount === 0) return
    this.#known.add(keyHex)
    await this.#opts.storage.save([INDEX_BUCKET, keyHex], new Uint8Array([1]))
  }

  /** New epoch records: what peers said they stored may have been voided (re-sealed edits take the same seqs). */
  #rotated (entry: Entry): void {
    for (const s of entry.sessions.values()) s.theirs = new Map()
  }

  #endSession (entry: Entry, peer: PeerState): void {
    const s = entry.sessions.get(peer.id)
    if (s !== undefined) {
      entry.sessions.delete(peer.id)
      for (const w of [...s.waiters]) w()
    }
    entry.idleSince = Date.now()
    this.#dropIfEmpty(entry)
  }

  /** An entry a peer's OPEN made, that never got a record, goes with its last session. */
  #dropIfEmpty (entry: Entry): void {
    if (entry.replica.recordCount === 0 && entry.handles === 0 && entry.sessions.size === 0 && this.#entries.get(entry.replica.keyHex) === entry) {
      this.#entries.delete(entry.replica.keyHex)
      entry.replica.destroy()
    }
  }

  #add (replica: E2eReplica, docId: string): Entry {
    const entry: Entry = { replica, docId, sessions: new Map(), queue: Promise.resolve(), handles: 0, flushScheduled: false, watched: false, lastSeal: -Infinity, unknownEpochs: 0, rotations: new Map(), tasks: 0, idleSince: Date.now() }
    this.#entries.set(replica.keyHex, entry)
    if (!replica.member && this.#sweeper === undefined && !this.#stopped) {
      const idleMs = this.#opts.idleUnloadMs ?? IDLE_UNLOAD_MS
      this.#sweeper = setInterval(() => { this.sweep() }, Math.max(1000, idleMs / 2))
      this.#sweeper.unref?.()
    }
    return entry
  }

  /**
   * Unload the docs held blind that were idle (no session, no task, no
   * write in flight or to retry) for idleUnloadMs: what a gateway holds in
   * memory is what its peers use. They stay on disk, listed (a frame in
   * clear for one is still refused), and are loaded again, and checked
   * again, on the next OPEN. Returns how many went.
   */
  sweep (now = Date.now()): number {
    const idleMs = this.#opts.idleUnloadMs ?? IDLE_UNLOAD_MS
    let unloaded = 0
    let blind = 0
    for (const [keyHex, e] of [...this.#entries]) {
      if (e.replica.member) continue
      if (e.sessions.size > 0 || e.tasks > 0 || e.retry !== undefined || !e.replica.quiet) {
        e.idleSince = now
      } else if (now - e.idleSince >= idleMs) {
        this.#entries.delete(keyHex)
        e.replica.destroy()
        unloaded++
        continue
      }
      blind++
    }
    if (unloaded > 0) log('unloaded %d idle blind docs', unloaded)
    if (blind === 0 && this.#sweeper !== undefined) {
      clearInterval(this.#sweeper)
      this.#sweeper = undefined
    }
    return unloaded
  }

  /** A member's local edits are sealed and sent after the transaction that made them (one envelope per burst). */
  #watch (entry: Entry): void {
    const doc = entry.replica.doc
    if (doc === undefined || entry.watched) return
    entry.watched = true
    entry.replica.onLocalEdit = () => {
      if (entry.flushScheduled) return
      entry.flushScheduled = true
      const seal = (): void => {
        entry.flushScheduled = false
        if (this.#stopped) return
        entry.lastSeal = performance.now()
        void this.#enqueue(entry, async () => { await this.#sealPendingAndSend(entry) })
      }
      // an idle member seals at once; one typing fast seals every SEAL_EVERY_MS (each envelope costs
      // some 190 bytes and a signature to make and check, whatever it holds)
      const wait = entry.lastSeal + SEAL_EVERY_MS - performance.now()
      if (wait <= 0) queueMicrotask(seal)
      else setTimeout(seal, wait)
    }
  }

  #session (entry: Entry, peer: PeerState): Session {
    let s = entry.sessions.get(peer.id)
    if (s === undefined || s.peer !== peer) {
      s = { peer, opened: false, live: false, reopening: false, catchingUp: false, catchUpAgain: false, sent: 0, theirs: new Map(), waiters: new Set() }
      entry.sessions.set(peer.id, s)
    }
    return s
  }

  /** `#enqueue` for the app's call (open, flush, setMembers, snapshot): the call rejects with the task's error; the queue goes on. */
  async #call (entry: Entry, task: () => Promise<void>): Promise<void> {
    let failed: { err: unknown } | undefined
    await this.#enqueue(entry, async () => {
      try { await task() } catch (err) { failed = { err } }
    })
    if (failed !== undefined) throw failed.err
  }

  #enqueue (entry: Entry, task: () => Promise<void>): Promise<void> {
    entry.tasks++
    const run = entry.queue.then(task).catch((err: unknown) => {
      log.error('e2e task on %s failed: %e', entry.replica.keyHex, err)
    }).finally(() => { entry.tasks--; entry.idleSince = Date.now() })
    entry.queue = run
    return run
  }

  #count (name: string): void {
    this.#api?.countRejection(name.startsWith('e2e_') ? name : `e2e_${name}`)
  }

  #selfId (): string {
    return this.#opts.key === undefined ? '' : peerIdFromPrivateKey(this.#opts.key).toString()
  }

  /** this node's writer id (hex of its key), if it has a key */
  #writerId (): string | undefined {
    return this.#opts.key === undefined ? undefined : idOf(ownRawKey(this.#opts.key))
  }
}
