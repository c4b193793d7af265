/**
 * Per-peer write quotas (a gateway's storage, charged to the writers that
 * fill it). A peer is charged
 * - the bytes of every update of its that the node applied and that changed
 *   the doc (added structs or deletions, or pending structs Yjs keeps): what
 *   storage records for it, as received. An update that adds nothing is free;
 * - one document for every doc it created: a doc opened by key for peers
 *   (`servedOnly`) that held nothing until its write;
 * - for an encrypted doc (stored as received, blind): the bytes of the
 *   envelopes and epoch records of its that the node took (reserved for the
 *   whole frame before it is taken, what was not taken given back), and
 *   one document for a doc its epoch-0 record created here.
 * A write that would take a peer past either quota is refused before it is
 * applied (the engine answers DENIED `quota_exceeded` and counts
 * `quota_exceeded`); the peer stays connected and may keep reading. Exempt
 * peers (trusted relays: what they forward was charged to its writers where
 * it was written) are never charged.
 *
 * Usage is kept in a ledger in the node's own storage, one small record per
 * peer under `_meshdoc/quota/<peerId>`, written at most every
 * `flushIntervalMs` and when the node stops: quotas survive restarts (on
 * fs storage: the data directory), and a crash forgets at most the charges
 * of the last interval. Usage only grows; compaction does not give bytes
 * back. Node only: the Node entry's `createMeshNode` builds the ledger, so
 * browser bundles leave it out.
 */
import type * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { logger } from '../log.js'
import type { StorageAdapter, StorageKey } from '../storage/types.js'
import type { EngineDoc } from '../sync/engine-doc.js'
import { UpdateBatch } from '../yjs/update-batch.js'

const log = logger('quota')

export interface QuotaOptions {
  /** bytes of applied updates one peer may be charged in all (default: no limit) */
  maxBytes?: number
  /** documents one peer may create on this node (default: no limit) */
  maxDocs?: number
  /** PeerIds never charged (trusted relays) */
  exempt?: string[]
  /** write changed usage to storage at most this often, in ms (default 1 s) */
  flushIntervalMs?: number
}

/**
 * What the engine asks before applying a peer's update (lib/sync/inbound.ts).
 * A type only: nodes without quotas bundle nothing of this file.
 */
export interface WriteQuota {
  /**
   * `peer` sends `bytes` of update for `doc`: false if applying it would take
   * the peer past a quota; otherwise a function to call once the apply has
   * returned (or thrown), which charges what it changed.
   */
  admit: (peer: string, doc: EngineDoc, bytes: number) => false | (() => void)
  /**
   * For what a node stores as received (encrypted docs, lib/e2e/service.ts):
   * charge `peer` `bytes` and `docs` now, before the write, if that keeps it
   * within its quotas (false, nothing charged, otherwise). Checked and
   * charged at once, so that writes in flight together cannot all pass.
   */
  reserve: (peer: string, bytes: number, docs: number) => boolean
  /** Give back what of a reservation was not stored (replays, refusals). */
  refund: (peer: string, bytes: number, docs: number) => void
}

export interface QuotaUsage { bytes: number, docs: number }

/** where usage lives in the node's storage; doc chunks are keyed by hex doc keys, so this cannot collide */
const LEDGER_PREFIX: StorageKey = ['_meshdoc', 'quota']
const LEDGER_VERSION = 1

const pendingSize = (doc: Y.Doc): number => (doc.store.pendingStructs?.update.length ?? 0) + (doc.store.pendingDs?.length ?? 0)
const isEmpty = (doc: Y.Doc): boolean => doc.store.clients.size === 0 && pendingSize(doc) === 0

export class QuotaLedger implements WriteQuota {
  private readonly used = new Map<string, QuotaUsage>()
  private readonly dirty = new Set<string>()
  private readonly exempt: ReadonlySet<string>
  private readonly maxBytes: number
  private readonly maxDocs: number
  private readonly intervalMs: number
  private timer: ReturnType<typeof setTimeout> | undefined
  private flushing: Promise<void> = Promise.resolve()
  private closed = false

  constructor (opts: QuotaOptions, private readonly storage: StorageAdapter | undefined) {
    this.maxBytes = opts.maxBytes ?? Infinity
    this.maxDocs = opts.maxDocs ?? Infinity
    this.exempt = new Set(opts.exempt)
    this.intervalMs = opts.flushIntervalMs ?? 1000
  }

  /** Read the usage stored by earlier runs. A record that does not decode is skipped (and logged). */
  async load (): Promise<void> {
    if (this.storage === undefined) return
    for (const { key, data } of await this.storage.loadRange(LEDGER_PREFIX)) {
      const peer = key[LEDGER_PREFIX.length]
      try {
        const d = decoding.createDecoder(data)
        if (key.length !== LEDGER_PREFIX.length + 1 || decoding.readVarUint(d) !== LEDGER_VERSION) throw new Error('unknown version')
        this.used.set(peer, { bytes: decoding.readVarUint(d), docs: decoding.readVarUint(d) })
      } catch (err) {
        log.error('skipping unreadable quota record %s: %e', key.join('/'), err)
      }
    }
  }

  /** What `peer` has been charged so far. */
  usage (peer: string): QuotaUsage {
    const u = this.used.get(peer)
    return { bytes: u?.bytes ?? 0, docs: u?.docs ?? 0 }
  }

  admit (peer: string, doc: EngineDoc, bytes: number): false | (() => void) {
    if (this.exempt.has(peer)) return () => {}
    const ydoc = doc.doc
    const creates = doc.servedOnly && isEmpty(ydoc)
    const u = this.usage(peer)
    if (u.bytes + bytes > this.maxBytes || (creates && u.docs + 1 > this.maxDocs)) {
      log('%s is past its quota (%d bytes, %d docs charged; %d more bytes%s)', peer, u.bytes, u.docs, bytes, creates ? ', a new doc' : '')
      return false
    }
    const pendingBefore = pendingSize(ydoc)
    let tr: Y.Transaction | undefined
    const see = (t: Y.Transaction): void => { tr = t }
    ydoc.on('afterTransaction', see)
    return () => {
      ydoc.off('afterTransaction', see)
      if (tr === undefined || (!UpdateBatch.changes(tr) && pendingSize(ydoc) === pendingBefore)) return
      this.charge(peer, bytes, creates && !isEmpty(ydoc) ? 1 : 0)
    }
  }

  reserve (peer: string, bytes: number, docs: number): boolean {
    if (this.exempt.has(peer)) return true
    const u = this.usage(peer)
    if (u.bytes + bytes > this.maxBytes || u.docs + docs > this.maxDocs) {
      log('%s is past its quota (%d bytes, %d docs charged; %d more bytes, %d more docs)', peer, u.bytes, u.docs, bytes, docs)
      return false
    }
    if (bytes > 0 || docs > 0) this.charge(peer, bytes, docs)
    return true
  }

  refund (peer: string, bytes: number, docs: number): void {
    if (this.exempt.has(peer) || (bytes <= 0 && docs <= 0)) return
    const u = this.usage(peer)
    this.charge(peer, -Math.min(u.bytes, Math.max(0, bytes)), -Math.min(u.docs, Math.max(0, docs)))
  }

  private charge (peer: string, bytes: number, docs: number): void {
    const u = this.usage(peer)
    this.used.set(peer, { bytes: u.bytes + bytes, docs: u.docs + docs })
    if (this.storage === undefined || this.closed) return
    this.dirty.add(peer)
    if (this.timer === undefined) {
      this.timer = setTimeout(() => { this.timer = undefined; void this.flush() }, this.intervalMs)
      // a pending write of the ledger never keeps a process alive: close() writes it
      if (typeof this.timer === 'object' && 'unref' in this.timer) this.timer.unref()
    }
  }

  /** Write every changed peer's usage to storage now. A failed write is logged and retried with the next. */
  async flush (): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const storage = this.storage
      if (storage === undefined) return
      const peers = [...this.dirty]
      this.dirty.clear()
      await Promise.all(peers.map(async peer => {
        const u = this.usage(peer)
        const e = encoding.createEncoder()
        encoding.writeVarUint(e, LEDGER_VERSION)
        encoding.writeVarUint(e, u.bytes)
        encoding.writeVarUint(e, u.docs)
        try {
          await storage.save([...LEDGER_PREFIX, peer], encoding.toUint8Array(e))
        } catch (err) {
          log.error('storing the quota usage of %s failed: %e', peer, err)
          this.dirty.add(peer)
        }
      }))
    })
    await this.flushing
  }

  /** Write what changed and stop (the node stops; call before its storage closes). Idempotent. */
  async close (): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
    this.closed = true
  }
}
