/**
 * Grants in sessions (PROTOCOL §4.2–4.4): the engine extension that presents
 * the grants this node holds to each peer that checks them, checks the grants
 * peers present (with `trust`), keeps and spreads revocations, and narrows
 * what the policy allows to what a peer's valid grants give it.
 *
 * - Presenting: our HELLO announces nothing; when the peer's HELLO announces
 *   `GRANTS`, a GRANTS frame with every grant we hold goes before our SYNC1s.
 *   To a peer that serves docs by key (`DOC_CLAIMS`) a CLAIM frame names each
 *   doc before we offer it, if our grants cover it: that is how its glob
 *   rules see the doc's id.
 * - Checking (`trust.owners` set): a peer's GRANTS replace the grants it
 *   presented before. Its later frames wait while they are verified (the
 *   engine holds them), so its SYNC1s are answered with its grants in force.
 *   Every chain is verified once per token (kept in a bounded cache), then
 *   re-checked for time, audience and owner on each use. A peer with no valid
 *   grant gets nothing; its sessions end when its last grant expires or is
 *   revoked.
 * - Revocations: peers that check grants exchange a digest of the
 *   revocations they hold after HELLO, and the whole set once per connection
 *   when the digests differ; a new one is passed on to every other such peer.
 *
 * Bounds: at most MAX_PRESENTED grants per GRANTS frame, GRANTS and REVOKE
 * frames rate-limited per PeerId (across its connections), MAX_CLAIMS per
 * connection, MAX_REVOCATIONS held, MAX_VERIFIED tokens cached.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { ProtocolError } from '../errors.js'
import { logger } from '../log.js'
import { Access } from '../policy/types.js'
import type { ExtensionFrame, Frame } from '../protocol/codec.js'
import { ByeReason, Features, MessageType } from '../protocol/constants.js'
import { docKeyFor, docKeyHex } from '../protocol/doc-key.js'
import { recentEntry, TokenBucket } from '../security/token-bucket.js'
import type { StorageAdapter } from '../storage/types.js'
import type { EngineDoc } from '../sync/engine-doc.js'
import type { EngineExtension, ExtensionApi } from '../sync/extension.js'
import type { PeerState } from '../sync/peers.js'
import { BEARER_PREFIX, checkGrantNow, decodeGrant, GRANT_LIMITS, GRANT_PREFIX, grantAllows, grantEndsAt, GrantError, verifyGrant, type Grant, type GrantRefusal } from './grant.js'
import { MAX_REVOCATION_BYTES, printRevocation, RevocationSet, revocationBytes, verifyRevocation, type Revocation } from './revocation.js'

const log = logger('grants')

/** grants in one GRANTS frame */
export const MAX_PRESENTED = 16
/** revocations in one REVOKE frame */
const MAX_REVOCATIONS_PER_FRAME = 256
/** revocations a node keeps; past this, new ones are refused (counted `revocations_full`) */
export const MAX_REVOCATIONS = 16_384
/** doc ids one connection may claim */
const MAX_CLAIMS = 4096
/** bytes of a claimed doc id */
const MAX_CLAIM_BYTES = 1024
/** verified tokens kept (count, and their bytes), so reconnecting peers cost no signature checks */
const MAX_VERIFIED = 16_384
const MAX_VERIFIED_BYTES = 8 * 1024 * 1024
/** (peer, doc) answers of `access` kept per peer, until its grants or claims change */
const MAX_ACCESS_CACHE = 1024
const DIGEST_BYTES = 32
/** frames of a peer kept while its grants are checked */
const MAX_HELD = 4096
const RANK = { [Access.NONE]: 0, [Access.READ]: 1, [Access.WRITE]: 2 }
/** how long a start waits for the grant provider's first answer */
const PROVIDER_WAIT_MS = 10_000
const HELD_KEY = ['_meshdoc', 'grants']
const REVOKED_KEY = ['_meshdoc', 'revoked']

/** A peer's grant refused (the `grant:refused` event). */
export interface GrantRefused {
  peer: string
  reason: GrantRefusal
  message: string
}

/**
 * Checks a bearer token (`mdb1.…`: a grant its audience signed over) as
 * `verifyBearer` in bearer.ts does, revocations aside; rejects with a
 * GrantError. Node only: the Node entry passes it, browsers take no bearer tokens.
 */
export type BearerCheck = (token: string, opts: { owners: ReadonlySet<string>, gateway: string }) => Promise<{ grant: Grant }>

export interface GrantExchangeOptions {
  /** owners whose grants this node honours; empty: it checks none (and presents its own only) */
  owners: readonly string[]
  /** our PeerId: the audience of the grants we hold */
  self: string
  storage: StorageAdapter
  /** the mesh key, to check CLAIMs (default: the public one) */
  meshKey?: Uint8Array | undefined
  /** we serve docs by key: ask peers to name the docs they sync (CLAIM) */
  servesByKey?: boolean
  /** fetches a grant for us (a login bridge); renewed before it expires */
  provider?: ((peerId: string) => Promise<string | string[]>) | undefined
  onRefused?: (refused: GrantRefused) => void
  onRevoked?: (revocation: Revocation) => void
  /** grants and revocations to put in force at start (`start()`) */
  grants?: readonly string[] | undefined
  revocations?: readonly string[] | undefined
  /** how bearer tokens are checked (`verifyBearer`); without it, none is taken */
  bearer?: BearerCheck | undefined
}

interface PeerGrants {
  peer: PeerState
  grants: Array<{ grant: Grant, endsAt: number }>
  /** docId -> access, while the grants and claims stay as they are */
  cache: Map<string, Access>
}

export class GrantExchange implements EngineExtension {
  readonly features: number
  private api: ExtensionApi | undefined
  private readonly owners: ReadonlySet<string>
  private readonly checking: boolean
  /** the grants we hold, by id */
  private readonly held = new Map<string, { token: string, grant: Grant }>()
  /** the valid grants each connected peer presented */
  private readonly byPeer = new Map<string, PeerGrants>()
  /** doc key -> id, as each connected peer claimed */
  private readonly claims = new Map<string, Map<string, string>>()
  /** per connection: docs we claimed to the peer */
  private readonly claimed = new WeakMap<PeerState, Set<string>>()
  /** connections we sent every revocation we hold */
  private readonly sentAll = new WeakSet<PeerState>()
  private readonly budgets = new Map<string, { grants: TokenBucket, revocations: TokenBucket }>()
  private readonly verified = new Map<string, Grant>()
  /** per connection: frames that arrived while its grants were checked */
  private readonly held_ = new WeakMap<PeerState, { pending: number, frames: Frame[] }>()
  private verifiedBytes = 0
  readonly revocations = new RevocationSet()
  private digestOf: Uint8Array | undefined
  private expiryTimer: ReturnType<typeof setTimeout> | undefined
  private expiryAt = Infinity
  private renewTimer: ReturnType<typeof setTimeout> | undefined
  private renewFailures = 0
  private stopped = false

  constructor (private readonly opts: GrantExchangeOptions) {
    this.owners = new Set(opts.owners)
    this.checking = this.owners.size > 0
    this.features = this.checking ? Features.GRANTS | (opts.servesByKey === true ? Features.DOC_CLAIMS : 0) : 0
  }

  /** Load what storage holds (our grants, revocations), add `grants` and `revocations`, fetch from the provider. */
  async start (): Promise<void> {
    const { grants = [], revocations = [] } = this.opts
    for (const { key, data } of await this.opts.storage.loadRange(REVOKED_KEY)) {
      try {
        this.revocations.add(await verifyRevocation(data, this.owners))
      } catch (err) {
        // kept under an owner no longer trusted, say: it no longer counts here
        log('stored revocation %s not in force: %s', key.at(-1), (err as Error).message)
      }
    }
    for (const r of revocations) await this.addRevocation(r)
    for (const { key, data } of await this.opts.storage.loadRange(HELD_KEY)) {
      try {
        await this.addGrant(new TextDecoder().decode(data), false)
      } catch (err) {
        log('stored grant %s dropped: %s', key.at(-1), (err as Error).message)
        await this.opts.storage.remove(key)
      }
    }
    for (const g of grants) {
      try {
        await this.addGrant(g)
      } catch (err) {
        // a grant that ended or was revoked while the node was down: it starts without it (offline first)
        const reason = (err as GrantError).reason
        if (reason !== 'expired' && reason !== 'revoked') throw err
        console.warn(`meshdoc: warning: a grant given to createMeshNode is not held: ${(err as Error).message}`)
      }
    }
    // a provider that does not answer delays the start by PROVIDER_WAIT_MS at most: the node works offline
    if (this.opts.provider !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([this.renew(), new Promise(resolve => { timer = setTimeout(resolve, PROVIDER_WAIT_MS) })])
      clearTimeout(timer)
    }
  }

  // ------------------------------------------------------------ our grants

  /** The grants we hold and present, valid or not here. */
  get heldGrants (): Grant[] {
    return [...this.held.values()].map(h => h.grant)
  }

  /**
   * Hold `token` (a grant to us) and present it to every peer that checks
   * grants; kept in storage. Its signatures are checked by the peers we
   * present it to (we may trust no owner ourselves); here, its form, its
   * audience and its time.
   */
  async addGrant (token: string, save = true): Promise<Grant> {
    const grant = decodeGrant(token)
    if (grant.audience !== this.opts.self) throw new GrantError('wrong_audience', `grant ${grant.id} is for ${grant.audience}, not this node (${this.opts.self})`)
    if (grantEndsAt(grant) <= Date.now()) throw new GrantError('expired', `grant ${grant.id} expired at ${new Date(grant.expiresAt).toISOString()}`)
    const voided = this.revocations.voids(grant)
    if (voided !== undefined) throw new GrantError('revoked', voided)
    if (this.held.has(grant.id)) return grant
    if (save) await this.opts.storage.save([...HELD_KEY, grant.id], new TextEncoder().encode(token.trim()))
    this.held.set(grant.id, { token: token.trim(), grant })
    log('holding grant %s (%s on %s until %s)', grant.id, grant.access, grant.docs.join(' '), new Date(grant.expiresAt).toISOString())
    this.scheduleExpiry(grantEndsAt(grant))
    this.presentToAll()
    return grant
  }

  presentsFirst (): boolean {
    return this.held.size > 0
  }

  /** Our grants changed: present them again to every peer that checks, and offer what they now cover. */
  private presentToAll (): void {
    const api = this.api
    if (api === undefined) return
    for (const peer of api.peers.values()) {
      if (!peer.helloReceived || (peer.features & Features.GRANTS) === 0) continue
      this.sendGrants(peer)
      api.recheck(peer)
    }
  }

  private sendGrants (peer: PeerState): void {
    const tokens = [...this.held.values()].slice(-MAX_PRESENTED).map(h => h.token)
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, tokens.length)
    for (const t of tokens) encoding.writeVarString(e, t)
    this.api?.peers.send(peer, { type: MessageType.GRANTS, body: encoding.toUint8Array(e) })
  }

  /** Ask the provider for a grant now, and again before it expires (on failure, again with backoff). */
  private async renew (): Promise<void> {
    clearTimeout(this.renewTimer)
    if (this.stopped || this.opts.provider === undefined) return
    let next: number
    try {
      const got = await this.opts.provider(this.opts.self)
      const tokens = typeof got === 'string' ? [got] : got
      let endsAt = Infinity
      for (const t of tokens) endsAt = Math.min(endsAt, grantEndsAt(await this.addGrant(t)))
      this.renewFailures = 0
      // renew when three quarters of its life are gone and a minute before it ends, never in its first half
      const left = endsAt - Date.now()
      next = Math.max(1000, left * 0.5, Math.min(left * 0.75, left - 60_000))
    } catch (err) {
      this.renewFailures++
      next = Math.min(60_000, 1000 * 2 ** this.renewFailures)
      log.error('grantProvider failed (again in %d ms): %e', next, err)
    }
    if (this.stopped) return
    this.renewTimer = setTimeout(() => { void this.renew() }, Math.min(next, 2 ** 31 - 1))
  }

  // ------------------------------------------------------------ engine hooks

  attach (api: ExtensionApi): void {
    this.api = api
  }

  hello (peer: PeerState): void {
    if ((peer.features & Features.GRANTS) === 0) return
    if (this.held.size > 0) this.sendGrants(peer)
    if (this.checking) this.sendRevocations(peer, [])
  }

  offering (peer: PeerState, doc: EngineDoc): void {
    if ((peer.features & Features.DOC_CLAIMS) === 0 || doc.servedOnly) return
    let sent = this.claimed.get(peer)
    if (sent?.has(doc.keyHex) === true) return
    // name a doc only to a peer our grants ask to enforce them on it
    if (![...this.held.values()].some(h => grantAllows(h.grant, doc.id, 'read'))) return
    if (sent === undefined) this.claimed.set(peer, sent = new Set())
    sent.add(doc.keyHex)
    const e = encoding.createEncoder()
    encoding.writeVarString(e, doc.id)
    this.api?.peers.send(peer, { type: MessageType.CLAIM, body: encoding.toUint8Array(e) })
  }

  access (peerId: string, docId: string, policy: Access): Access | undefined {
    const ceiling = this.ceiling(peerId, docId)
    return ceiling === undefined || RANK[ceiling] >= RANK[policy] ? policy : ceiling
  }

  /** The most the peer's grants allow on the doc (undefined: grants have no say here). */
  private ceiling (peerId: string, docId: string): Access | undefined {
    if (!this.checking || this.owners.has(peerId)) return undefined
    const entry = this.byPeer.get(peerId)
    if (entry === undefined) return Access.NONE
    let access = entry.cache.get(docId)
    if (access !== undefined) return access
    const id = docId.startsWith('key:') ? this.claims.get(peerId)?.get(docId.slice(4)) ?? docId : docId
    access = Access.NONE
    for (const { grant } of entry.grants) {
      if (grantAllows(grant, id, 'write')) { access = Access.WRITE; break }
      if (grantAllows(grant, id, 'read')) access = Access.READ
    }
    if (entry.cache.size >= MAX_ACCESS_CACHE) entry.cache.clear()
    entry.cache.set(docId, access)
    return access
  }

  intercept (peer: PeerState, frame: Frame): boolean {
    const held = this.held_.get(peer)
    if (held !== undefined) {
      if (held.frames.push(frame) > MAX_HELD) this.api?.peers.reject(peer, ByeReason.LIMIT_EXCEEDED, 'too many frames while its grants are checked')
      return true
    }
    // ours: GRANTS, REVOKE, CLAIM (another extension's frames, E2E, go on to it)
    if (!('body' in frame) || frame.type === MessageType.E2E) return false
    try {
      this.receive(peer, frame)
    } catch (err) {
      this.api?.peers.reject(peer, err instanceof ProtocolError ? err.code : ByeReason.PROTOCOL_ERROR, (err as Error).message)
    }
    return true
  }

  /** One of our frames; throws ProtocolError on a malformed one. */
  private receive (peer: PeerState, frame: ExtensionFrame): void {
    if (!this.checking) throw new ProtocolError('grant frames to a node that checks no grants', ByeReason.PROTOCOL_ERROR)
    const d = decoding.createDecoder(frame.body)
    switch (frame.type) {
      case MessageType.GRANTS: {
        if (!this.budget(peer).grants.take(1)) throw new ProtocolError('too many GRANTS frames', ByeReason.RATE_LIMITED)
        const n = readCount(d, MAX_PRESENTED, 'grants')
        const tokens: string[] = []
        for (let i = 0; i < n; i++) tokens.push(readString(d, GRANT_LIMITS.maxTokenBytes))
        end(d)
        this.hold(peer, this.checkPresented(peer, tokens))
        return
      }
      case MessageType.REVOKE: {
        if (!this.budget(peer).revocations.take(1)) throw new ProtocolError('too many REVOKE frames', ByeReason.RATE_LIMITED)
        const digest = readFixed(d, DIGEST_BYTES)
        const n = readCount(d, MAX_REVOCATIONS_PER_FRAME, 'revocations')
        const records: Uint8Array[] = []
        for (let i = 0; i < n; i++) {
          const len = decoding.readVarUint(d)
          if (len > MAX_REVOCATION_BYTES) throw new ProtocolError('a revocation over the size limit', ByeReason.LIMIT_EXCEEDED)
          records.push(readFixed(d, len))
        }
        end(d)
        void this.receiveRevocations(peer, digest, records)
        return
      }
      case MessageType.CLAIM: {
        if ((this.features & Features.DOC_CLAIMS) === 0) throw new ProtocolError('a CLAIM to a node that asked for none', ByeReason.PROTOCOL_ERROR)
        const id = readString(d, MAX_CLAIM_BYTES)
        end(d)
        let claims = this.claims.get(peer.id)
        if (claims === undefined) this.claims.set(peer.id, claims = new Map())
        if (claims.size >= MAX_CLAIMS) throw new ProtocolError('too many doc claims', ByeReason.LIMIT_EXCEEDED)
        // the claim proves itself: the key is a hash of the id
        claims.set(docKeyHex(docKeyFor(id, this.opts.meshKey)), id)
        this.byPeer.get(peer.id)?.cache.clear()
      }
    }
  }

  /** The id a connected peer claimed for a doc key (the claim proves itself), `peer`'s claims first. */
  claimedId (keyHex: string, peer?: string): string | undefined {
    const own = peer !== undefined ? this.claims.get(peer)?.get(keyHex) : undefined
    if (own !== undefined) return own
    for (const claims of this.claims.values()) {
      const id = claims.get(keyHex)
      if (id !== undefined) return id
    }
    return undefined
  }

  /** The peer's later frames wait (at most MAX_HELD) until `work` settles, then are handled in order. */
  private hold (peer: PeerState, work: Promise<void>): void {
    let held = this.held_.get(peer)
    if (held === undefined) this.held_.set(peer, held = { pending: 0, frames: [] })
    held.pending++
    const h = held
    void work.catch(() => {}).then(() => {
      if (--h.pending > 0) return
      this.held_.delete(peer)
      for (let i = 0; i < h.frames.length && !peer.closed; i++) {
        if (this.held_.has(peer)) { this.held_.get(peer)?.frames.unshift(...h.frames.slice(i)); return }
        if (!this.intercept(peer, h.frames[i])) this.api?.handle(peer, h.frames[i])
      }
    })
  }

  peerGone (peer: PeerState): void {
    this.held_.delete(peer)
    if (this.byPeer.get(peer.id)?.peer === peer) this.byPeer.delete(peer.id)
    this.claims.delete(peer.id)
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.expiryTimer)
    clearTimeout(this.renewTimer)
  }

  // ------------------------------------------------------------ checking

  /** The grants a peer presented: the valid ones replace what it presented before. */
  private async checkPresented (peer: PeerState, tokens: string[]): Promise<void> {
    const valid: PeerGrants['grants'] = []
    let refused: GrantError | undefined
    let since = performance.now()
    for (const token of tokens) {
      // after 2 ms of checks, the event loop gets a turn: a frame of 16 grants is never one long burst
      if (performance.now() - since > 2) {
        await new Promise(resolve => setTimeout(resolve, 0))
        since = performance.now()
      }
      if (peer.closed) return
      try {
        const grant = await this.verify(token, GRANT_PREFIX, peer.id, async () => await verifyGrant(token, { owners: this.owners, presenter: peer.id }))
        valid.push({ grant, endsAt: grantEndsAt(grant) })
      } catch (err) {
        refused = err instanceof GrantError ? err : new GrantError('malformed', String(err))
        this.api?.countRejection(`grant_${refused.reason}`)
        log('refused a grant from %s: %s', peer.id, refused.message)
        this.opts.onRefused?.({ peer: peer.id, reason: refused.reason, message: refused.message })
      }
    }
    if (peer.closed || this.stopped) return
    if (valid.length === 0 && refused !== undefined) {
      // nothing here for it: say why, rather than answer every SYNC1 with DENIED
      this.api?.peers.reject(peer, ByeReason.FORBIDDEN, `grant refused: ${refused.reason}: ${refused.message}`)
      return
    }
    this.byPeer.set(peer.id, { peer, grants: valid, cache: new Map() })
    for (const v of valid) this.scheduleExpiry(v.endsAt)
    this.api?.recheck(peer)
  }

  // ------------------------------------------------------------ bearer tokens (transports of our own)

  /**
   * The grant in a bearer token (`mdb1.…`) a client of a transport of ours
   * (the y-websocket bridge) hands over: it cannot prove on its connection
   * that it holds the audience's key, so the token carries the audience's
   * signature over the grant instead. Checked as a peer's grant is (owners,
   * time, signatures, revocations), the audience's signature in place of
   * Noise, and bound to no gateway or to this node. A plain grant (`mdg1.…`)
   * is refused (`not_bearer`): peers that check grants see every grant
   * presented to them, and must not be able to replay one here. Rejects
   * with a GrantError.
   */
  async verifyBearer (token: string): Promise<Grant> {
    if (!this.checking) throw new GrantError('unknown_owner', 'this node trusts no owner: it checks no grants')
    const check = this.opts.bearer
    if (check === undefined) throw new GrantError('not_bearer', 'this node takes no bearer tokens')
    const opts = { owners: this.owners, gateway: this.opts.self }
    return await this.verify(token, BEARER_PREFIX, undefined, async () => (await check(token, opts)).grant)
  }

  /**
   * Put grants verified by `verifyBearer` in force for the connected peer
   * `peerId`, as if it had presented them: `access` narrows to them, and
   * they end with their expiry or a revocation like any peer's.
   */
  admitGrants (peerId: string, grants: Grant[]): void {
    const peer = this.api?.peers.get(peerId)
    if (peer === undefined || peer.closed) return
    const valid = grants.map(grant => ({ grant, endsAt: grantEndsAt(grant) }))
    this.byPeer.set(peerId, { peer, grants: valid, cache: new Map() })
    for (const v of valid) this.scheduleExpiry(v.endsAt)
    this.api?.recheck(peer)
  }

  /**
   * A token verified by `fresh` (signatures once per token: kept when it
   * starts with `prefix`, so a grant verified for a peer is never taken from
   * the cache as a bearer token, nor the other way round), then re-checked
   * for time, owner and `presenter` (undefined: a bearer token), not revoked.
   */
  private async verify (token: string, prefix: string, presenter: string | undefined, fresh: () => Promise<Grant>): Promise<Grant> {
    const opts = { owners: this.owners, presenter }
    const cacheable = token.trim().startsWith(prefix)
    let grant = cacheable ? this.verified.get(token) : undefined
    if (grant !== undefined) {
      checkGrantNow(grant, opts)
    } else {
      grant = await fresh()
      if (!cacheable) throw new GrantError('malformed', `a token that does not start with ${prefix}`)
      // oldest out first; a token is at most GRANT_LIMITS.maxTokenBytes, its decoded grant about as big
      while (this.verified.size > 0 && (this.verified.size >= MAX_VERIFIED || this.verifiedBytes + token.length > MAX_VERIFIED_BYTES)) {
        const oldest = this.verified.keys().next().value as string
        this.verified.delete(oldest)
        this.verifiedBytes -= oldest.length
      }
      this.verified.set(token, grant)
      this.verifiedBytes += token.length
    }
    const voided = this.revocations.voids(grant)
    if (voided !== undefined) throw new GrantError('revoked', voided)
    return grant
  }

  private budget (peer: PeerState): { grants: TokenBucket, revocations: TokenBucket } {
    // per PeerId, across its connections: reconnecting refills nothing
    return recentEntry(this.budgets, peer.id, () => ({ grants: new TokenBucket(0.2, 8), revocations: new TokenBucket(2, 32) }))
  }

  /** Drop grants that ended (and ours), re-check the peers that lost some; wake again at the next end. */
  private scheduleExpiry (at: number): void {
    if (at >= this.expiryAt || this.stopped) return
    clearTimeout(this.expiryTimer)
    this.expiryAt = at
    this.expiryTimer = setTimeout(() => { this.expire() }, Math.min(Math.max(0, at - Date.now()) + 5, 2 ** 31 - 1))
  }

  private expire (): void {
    const now = Date.now()
    this.expiryAt = Infinity
    let next = Infinity
    for (const entry of this.byPeer.values()) {
      const kept = entry.grants.filter(g => g.endsAt > now)
      for (const g of kept) next = Math.min(next, g.endsAt)
      if (kept.length === entry.grants.length) continue
      log('grants of %s expired: %d left', entry.peer.id, kept.length)
      entry.grants = kept
      entry.cache.clear()
      this.api?.recheck(entry.peer)
    }
    let dropped = false
    for (const [id, h] of this.held) {
      const endsAt = grantEndsAt(h.grant)
      if (endsAt > now) { next = Math.min(next, endsAt); continue }
      this.held.delete(id)
      dropped = true
      void this.opts.storage.remove([...HELD_KEY, id]).catch(() => {})
    }
    if (dropped) this.presentToAll()
    if (next !== Infinity) this.scheduleExpiry(next)
  }

  // ------------------------------------------------------------ revocations

  /**
   * Put `record` (printed, `mdr1.…`) in force here and pass it on: it must be
   * signed by an owner this node trusts. Kept in storage.
   */
  async addRevocation (record: string): Promise<Revocation> {
    const r = await verifyRevocation(revocationBytes(record), this.owners)
    await this.apply([r], undefined)
    return r
  }

  /** Every revocation held, printed. */
  peerRevoked (peerId: string): boolean { return this.revocations.revokesPeer(peerId) }

  get revocationRecords (): string[] {
    return [...this.revocations.values()].map(r => printRevocation(r.bytes))
  }

  private async receiveRevocations (peer: PeerState, digest: Uint8Array, records: Uint8Array[]): Promise<void> {
    const fresh: Revocation[] = []
    for (const bytes of records) {
      let r: Revocation
      try {
        r = await verifyRevocation(bytes, this.owners)
      } catch (err) {
        const reason = err instanceof GrantError ? err.reason : 'malformed'
        if (reason === 'unknown_owner') {
          // an owner its node trusts and we do not: not a forgery, nothing for us
          this.api?.ignore('revocation_unknown_owner')
          continue
        }
        this.api?.countRejection(`revocation_${reason}`)
        this.api?.peers.reject(peer, ByeReason.FORBIDDEN, `revocation refused: ${reason}`)
        return
      }
      if (!this.revocations.has(r.id)) fresh.push(r)
    }
    if (this.stopped) return
    await this.apply(fresh, peer)
    // digests differ: the peer lacks some of ours (or we of its, which it sends on our digest)
    if (!peer.closed && !equal(digest, this.digest()) && !this.sentAll.has(peer)) {
      this.sentAll.add(peer)
      this.sendRevocations(peer, [...this.revocations.values()])
    }
  }

  /** Put new revocations in force: kept, stored, sessions re-checked, passed on to every other peer that checks. */
  private async apply (list: Revocation[], from: PeerState | undefined): Promise<void> {
    const added: Revocation[] = []
    for (const r of list) {
      if (this.revocations.has(r.id)) continue
      if (this.revocations.size >= MAX_REVOCATIONS) { this.api?.countRejection('revocations_full'); continue }
      this.revocations.add(r)
      added.push(r)
      try {
        await this.opts.storage.save([...REVOKED_KEY, r.id], r.bytes)
      } catch (err) {
        log.error('storing revocation %s failed (in force until restart): %e', r.id, err)
      }
    }
    if (added.length === 0) return
    this.digestOf = undefined
    for (const r of added) {
      log('revocation %s in force: %s %s', r.id, r.kind, r.target)
      this.opts.onRevoked?.(r)
    }
    for (const entry of this.byPeer.values()) {
      const kept = entry.grants.filter(g => this.revocations.voids(g.grant) === undefined)
      if (kept.length === entry.grants.length) continue
      entry.grants = kept
      entry.cache.clear()
      this.api?.recheck(entry.peer)
    }
    let dropped = false
    for (const [id, h] of this.held) {
      if (this.revocations.voids(h.grant) === undefined) continue
      this.held.delete(id)
      dropped = true
      await this.opts.storage.remove([...HELD_KEY, id]).catch(() => {})
    }
    if (dropped) this.presentToAll()
    for (const peer of this.api?.peers.values() ?? []) {
      if (peer !== from && peer.helloReceived && (peer.features & Features.GRANTS) !== 0) this.sendRevocations(peer, added)
    }
  }

  /** REVOKE frames: our digest, and `list` in frames of at most MAX_REVOCATIONS_PER_FRAME (the digest alone if empty). */
  private sendRevocations (peer: PeerState, list: Revocation[]): void {
    const digest = this.digest()
    for (let i = 0; i === 0 || i < list.length; i += MAX_REVOCATIONS_PER_FRAME) {
      const part = list.slice(i, i + MAX_REVOCATIONS_PER_FRAME)
      const e = encoding.createEncoder()
      encoding.writeUint8Array(e, digest)
      encoding.writeVarUint(e, part.length)
      for (const r of part) encoding.writeVarUint8Array(e, r.bytes)
      this.api?.peers.send(peer, { type: MessageType.REVOKE, body: encoding.toUint8Array(e) })
    }
  }

  /** SHA-256 over the sorted ids of the revocations held. */
  private digest (): Uint8Array {
    this.digestOf ??= sha256(new TextEncoder().encode(this.revocations.ids().join('\n')))
    return this.digestOf
  }
}

function readCount (d: decoding.Decoder, max: number, what: string): number {
  const n = readUint(d)
  if (n > max) throw new ProtocolError(`${n} ${what} in one frame (at most ${max})`, ByeReason.LIMIT_EXCEEDED)
  return n
}

function readUint (d: decoding.Decoder): number {
  try {
    return decoding.readVarUint(d)
  } catch {
    throw new ProtocolError('truncated frame', ByeReason.PROTOCOL_ERROR)
  }
}

function readFixed (d: decoding.Decoder, len: number): Uint8Array {
  if (d.arr.length - d.pos < len) throw new ProtocolError('truncated frame', ByeReason.PROTOCOL_ERROR)
  return decoding.readUint8Array(d, len)
}

function readString (d: decoding.Decoder, max: number): string {
  const len = readUint(d)
  if (len > max) throw new ProtocolError(`a string of ${len} bytes (at most ${max})`, ByeReason.LIMIT_EXCEEDED)
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(readFixed(d, len))
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    throw new ProtocolError('a string that is not UTF-8', ByeReason.PROTOCOL_ERROR)
  }
}

function end (d: decoding.Decoder): void {
  if (decoding.hasContent(d)) throw new ProtocolError('trailing bytes after frame', ByeReason.PROTOCOL_ERROR)
}

function equal (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}
