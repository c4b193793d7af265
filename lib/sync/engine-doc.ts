/**
 * One document as the engine sees it: the Y.Doc, its awareness, its optional
 * persistence, the outgoing batch, and a session per peer that holds it.
 * Emits the typed events a DocHandle re-exposes.
 */
import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { ObservableV2 } from 'lib0/observable'
import { AbortError, ClosedError, DeniedError, TimeoutError } from '../errors.js'
import type { DocPersistence } from '../storage/doc-persistence.js'
import { UpdateBatch, type DeleteRanges } from '../yjs/update-batch.js'
import type { DocSession } from './doc-session.js'
import type { AuthorRegistry } from '../security/authorship.js'
import { DeniedReason, deniedReasonName, type DeniedReasonName } from '../protocol/constants.js'

export interface PeerDocStatus {
  peer: string
  /** the peer has acknowledged, as durably stored, everything we have sent it */
  synced: boolean
  /** the state vector the peer last acknowledged (V1 encoding), of the clients this node holds */
  storedStateVector: Uint8Array | undefined
}

export interface DocStatus {
  /** peers that hold this document and are connected now */
  peers: PeerDocStatus[]
  /** at least one peer holds the doc and every such peer has acknowledged our state */
  synced: boolean
  /** no local change is waiting to be committed to local storage */
  saved: boolean
}

export interface EngineDocEvents {
  /** peers joined or left, or acknowledgements changed */
  status: (status: DocStatus) => void
  /** a local commit to storage completed */
  saved: () => void
  /**
   * a peer refused this doc (`reason`, a DeniedReason by name): `unavailable` (it does
   * not serve it to us), or our writes: `read_only`, `quota_exceeded` (past our
   * storage quota there), `authorship` (it binds a clientID we sent structs of
   * to another peer: one that forwarded them there first, or wrote under it first)
   */
  denied: (peer: string, reason: DeniedReasonName | `denied_${number}`) => void
  /** something went wrong that the app may want to see (storage, oversize update) */
  error: (err: Error) => void
  /**
   * A big answer (a first sync of a large doc) is arriving in parts: after each
   * part is applied, and once more with `partsLeft` 0 when the last is.
   */
  progress: (progress: DocSyncProgress) => void
}

export interface DocSyncProgress {
  peer: string
  /** parts of this answer applied so far */
  parts: number
  /** frames of it still to come, as the sender announced (0: complete) */
  partsLeft: number
}

export interface WhenSyncedOptions {
  /** wait for this peer; default: at least one peer, and every peer holding the doc */
  peer?: string
  /** milliseconds; rejects with TimeoutError */
  timeout?: number
  signal?: AbortSignal
}

interface Waiter {
  peer: string | undefined
  /** stop waiting: resolve, or reject with `err` */
  done: (err?: Error) => void
}

/** origin: undefined = empty batch, null = local or several origins, string = only that peer */
type BatchOrigin = string | null | undefined

export class EngineDoc extends ObservableV2<EngineDocEvents> {
  batch = new UpdateBatch()
  batchOrigin: BatchOrigin = undefined
  /** bumped on every transaction: what was computed from the doc's state is stale once it moves */
  version = 0
  /** set while applying a remote update that may release pending structs */
  releasing = false
  readonly sessions = new Map<string, DocSession>()
  /** cached summary of the doc's state (state vector + delete-set digest); cleared on every transaction */
  fingerprint: string | undefined
  dsDigest: Uint8Array | undefined
  /** the doc's delete set as ranges (digest and SYNC2 answers); cleared with `fingerprint` */
  deleteRanges: DeleteRanges | undefined
  /** opened for peers by key (a gateway serving stored docs), not by the app */
  servedOnly = false
  /** clientID -> PeerId bindings, when authorship is enforced */
  authors: AuthorRegistry | undefined
  private readonly waiters = new Set<Waiter>()
  closed = false

  constructor (
    readonly id: string,
    readonly key: Uint8Array,
    readonly keyHex: string,
    readonly doc: Y.Doc,
    readonly awareness: Awareness,
    readonly persistence: DocPersistence | undefined
  ) {
    super()
  }

  /** Record a finished transaction into the outgoing batch. */
  absorb (tr: Y.Transaction, fromPeer: string | null): boolean {
    if (!this.batch.absorbTransaction(tr)) return false
    const origin = this.releasing ? null : fromPeer
    if (this.batchOrigin === undefined) this.batchOrigin = origin
    else if (this.batchOrigin !== origin) this.batchOrigin = null
    return true
  }

  /** Take the batch for sending; returns it with its origin, or undefined if empty. */
  takeBatch (): { batch: UpdateBatch, origin: string | null } | undefined {
    if (this.batch.empty) return undefined
    const out = { batch: this.batch, origin: this.batchOrigin ?? null }
    this.batch = new UpdateBatch()
    this.batchOrigin = undefined
    return out
  }

  isSyncedWith (peer: string): boolean {
    const s = this.sessions.get(peer)
    if (s === undefined || !s.acknowledgedAll) return false
    // a pending batch not from that peer still has to reach it
    return this.batch.empty || this.batchOrigin === peer
  }

  status (): DocStatus {
    const peers: PeerDocStatus[] = []
    for (const s of this.sessions.values()) {
      if (!s.remoteHolds) continue
      peers.push({ peer: s.peer, synced: this.isSyncedWith(s.peer), storedStateVector: s.remoteStateVector })
    }
    return {
      peers,
      synced: peers.length > 0 && peers.every(p => p.synced),
      saved: this.persistence === undefined || !this.persistence.dirty
    }
  }

  /** Re-evaluate waiters and tell listeners; called whenever sessions or acks change. */
  notifyStatus (): void {
    for (const w of this.waiters) if (this.satisfied(w.peer)) w.done()
    // status() allocates a snapshot per call; build it only for someone listening
    if (this._observers.has('status')) this.emit('status', [this.status()])
  }

  private satisfied (peer: string | undefined): boolean {
    return peer !== undefined ? this.isSyncedWith(peer) : this.status().synced
  }

  whenSynced (opts: WhenSyncedOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('document is closed'))
    if (this.satisfied(opts.peer)) return Promise.resolve()
    // a peer that already refused writes we still hold will not take them now either
    for (const s of this.sessions.values()) {
      if (s.writesRefused !== undefined && (opts.peer === undefined || opts.peer === s.peer) && !this.isSyncedWith(s.peer)) {
        return Promise.reject(this.deniedError(s.peer, s.writesRefused))
      }
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { waiter.done(new AbortError('whenSynced aborted')) }
      const timer = opts.timeout === undefined
        ? undefined
        : setTimeout(() => { waiter.done(new TimeoutError(`not synced${opts.peer !== undefined ? ` with ${opts.peer}` : ''} after ${opts.timeout} ms`)) }, opts.timeout)
      const waiter: Waiter = {
        peer: opts.peer,
        done: (err) => {
          this.waiters.delete(waiter)
          clearTimeout(timer)
          opts.signal?.removeEventListener('abort', onAbort)
          if (err === undefined) resolve()
          else reject(err)
        }
      }
      if (opts.signal?.aborted === true) { onAbort(); return }
      this.waiters.add(waiter)
      opts.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /**
   * A peer refused the doc or our writes: waiters for exactly that peer fail,
   * and so do waiters for every peer (no `peer`) that can no longer be
   * satisfied: the peer keeps the doc but refuses our writes, or no other
   * peer has a session on it (holds it, or may yet). Not for authorship: what it refused (edits
   * another peer forwarded there first, which then owns their clientID there)
   * mostly reaches it by that other path, and the engine runs a SYNC round to
   * find out.
   */
  deniedBy (peer: string, reason: number): void {
    // another peer with a session may still come to hold the doc (its answer on the way)
    const others = [...this.sessions.keys()].some(p => p !== peer)
    for (const w of this.waiters) {
      if (reason !== DeniedReason.AUTHORSHIP && (w.peer === peer || (w.peer === undefined && (reason !== DeniedReason.UNAVAILABLE || !others)))) {
        w.done(this.deniedError(peer, reason))
      }
    }
    this.emit('denied', [peer, deniedReasonName(reason)])
  }

  private deniedError (peer: string, reason: number): DeniedError {
    const name = deniedReasonName(reason)
    return new DeniedError(`peer ${peer} refused document ${this.id}: ${name}`, peer, name)
  }

  /** Fail every waiter (the doc closes). */
  failAll (err: Error): void {
    for (const w of [...this.waiters]) w.done(err)
  }
}
