/**
 * The storage subsystem for one document: append-only records, group commit,
 * and compaction into a snapshot that is safe with two writers.
 *
 * Layout under the adapter (docKey is the hex doc key, never the doc id):
 *   [docKey, 'r', id]  one record: everything one commit carried
 *   [docKey, 's', id]  one snapshot: the whole doc as a V2 update
 * `id` sorts by creation time and is unique across writers; how one chunk is
 * laid out is in `chunk-format.ts`.
 *
 * The rules that make it safe:
 * - `flush()` resolves only after the adapter committed every change absorbed
 *   before the call; concurrent flushes share commits (group commit). A failed
 *   commit rejects every waiter with StorageError and keeps the changes for the
 *   next attempt: nothing is acknowledged that is not stored.
 * - Remote updates whose structs Yjs keeps pending (missing dependencies) are
 *   stored too, so an ACK never covers something that lives only in memory.
 * - Pending structs are capped in storage as in memory (`maxPendingBytes`):
 *   when the engine drops them (`pendingDropped()`), or a load brings back
 *   more than the cap (dropped there, and counted by the caller), a compaction
 *   follows at once, whatever the record count. Its snapshot is the doc as it
 *   is now (integrated state plus what is pending now), so the records still
 *   carrying the dropped structs go, and they do not load again.
 * - Compaction writes the snapshot, waits for it to commit, and only then
 *   deletes, in bounded batches, exactly the chunks this instance loaded or
 *   wrote: everything it deletes is inside the snapshot (but pending structs
 *   dropped for the cap, see above). Another writer's
 *   chunks that it never read are never touched, so two writers (tabs,
 *   processes) can compact the same doc at the same time and lose nothing.
 * - Commits keep flowing while a compaction runs.
 */
import * as Y from 'yjs'
import { equals } from 'uint8arrays/equals'
import { StorageError } from '../errors.js'
import { logger } from '../log.js'
import { DEFAULT_LIMITS } from '../security/limits.js'
import { pendingBytes, UpdateBatch } from '../yjs/update-batch.js'
import { applyChunk, encodeParts, tagged, TAG_V1, TAG_V2, uniqueId, type Part } from './chunk-format.js'
import type { StorageAdapter, StorageKey } from './types.js'

const log = logger('storage')

/** compactions that remove dropped pending structs run at most this often */
const PURGE_INTERVAL_MS = 5_000

export interface PersistenceOptions {
  /** Compact after this many records have accumulated (default 256). */
  compactAfterRecords?: number
  /** Chunks deleted together in one step of a compaction (default 256). */
  compactBatchSize?: number
  /**
   * Pending (gapped) structs and deletions a load may leave in the doc: past
   * this they are dropped, as the engine drops them at run time, and storage
   * is compacted without them (default: `maxPendingBytes` of the default limits, 4 MiB).
   */
  maxPendingBytes?: number
}

/** A validated remote update, and the origin its transaction was applied with (`expectUpdate`). */
export interface RemoteUpdate { origin: unknown, update: Uint8Array }

export class DocPersistence {
  private batch = new UpdateBatch()
  /** validated remote updates (with the origin they were applied with), stored verbatim with the next commit (no re-encoding of what they carry) */
  private raw: RemoteUpdate[] = []
  /** the update the next transaction with this origin applies (see `expectUpdate`) */
  private incoming: RemoteUpdate | null = null
  /** the transaction whose bytes went to `raw` last, until the apply returns (see `applyFailed`) */
  private lastRaw: { tr: Y.Transaction, update: RemoteUpdate } | null = null
  /** pending structs / delete set Yjs holds back, as last stored (or loaded) */
  private storedPending: Uint8Array | null = null
  private storedPendingDs: Uint8Array | null = null
  private pendingDirty = false
  /** chunks whose content is in the doc: the only ones a compaction may delete */
  private readonly known = new Map<string, StorageKey>()
  private records = 0
  /** the commit that has not started yet (joins new flushes), and the one running */
  private queued: Promise<void> | null = null
  private inflight: Promise<void> | null = null
  private compaction: Promise<void> | null = null
  /** pending structs were dropped that stored chunks may still carry: compact them away */
  private purgeWanted = false
  private purging: Promise<void> | null = null
  private lastPurgeAt = 0
  /** ends a purge's wait at once (close) */
  private closeWakes: (() => void) | undefined
  private closing = false
  private readonly compactAfter: number
  private readonly compactBatch: number
  private readonly maxPending: number
  /**
   * Called after each successful commit, with what it stored: the remote
   * updates as they were applied (each with its transaction's origin) and one
   * V1 update of the local changes, if any. Must not throw.
   */
  onCommit: ((remote: readonly RemoteUpdate[], local: Uint8Array | undefined) => void) | undefined

  constructor (
    private readonly adapter: StorageAdapter,
    private readonly docKey: string,
    private readonly doc: Y.Doc,
    opts: PersistenceOptions = {}
  ) {
    this.compactAfter = Math.max(1, opts.compactAfterRecords ?? 256)
    this.compactBatch = Math.max(1, opts.compactBatchSize ?? 256)
    this.maxPending = opts.maxPendingBytes ?? DEFAULT_LIMITS.maxPendingBytes
  }

  /**
   * Apply everything stored for this doc. Transactions carry `this` as origin.
   * Pending structs past `maxPendingBytes` are dropped after the chunk that
   * brought them over (as the engine drops them after an update), and storage
   * is then compacted without them; `droppedPendingBytes` says how many bytes
   * were dropped (0: none), for the caller to count.
   */
  async load (): Promise<{ droppedPendingBytes: number }> {
    let chunks
    try {
      chunks = await this.adapter.loadRange([this.docKey])
    } catch (err) {
      throw asStorageError(`loading doc ${this.docKey} failed`, err)
    }
    // snapshots first, then records oldest first: fewest structs wait for dependencies
    const order = (k: StorageKey): string => `${k[1] === 's' ? 0 : 1}${k[2] ?? ''}`
    chunks.sort((a, b) => order(a.key) < order(b.key) ? -1 : order(a.key) > order(b.key) ? 1 : 0)
    let dropped = 0
    Y.transact(this.doc, () => {
      for (const c of chunks) {
        const kind = c.key[1]
        if (c.key.length !== 3 || (kind !== 'r' && kind !== 's')) continue
        try {
          applyChunk(this.doc, c.data, this)
          this.remember(c.key)
          if (kind === 'r') this.records++
        } catch (err) {
          // not remembered, so never deleted: a later version may read it
          log.error('skipping unreadable chunk %s: %e', c.key.join('/'), err)
        }
      }
      // the pending cap holds on load as at run time, for what is still pending once
      // every chunk is in (a later record may release what an earlier one left pending)
      const pending = pendingBytes(this.doc)
      if (pending > this.maxPending) {
        this.doc.store.pendingStructs = null
        this.doc.store.pendingDs = null
        dropped = pending
      }
    }, this)
    // whatever Yjs still holds back came from storage: it is stored already
    this.notePending()
    if (dropped > 0) {
      log('dropped %d pending bytes loading %s (cap %d)', dropped, this.docKey, this.maxPending)
      this.purgeWanted = true
      this.startPurge()
    } else if (this.records >= this.compactAfter) this.startCompaction()
    return { droppedPendingBytes: dropped }
  }

  /**
   * The doc's pending structs were dropped (the engine's cap): stored chunks
   * that carry them must not bring them back on the next load. Commits what
   * was absorbed, then compacts every chunk this instance knows into a
   * snapshot of the doc as it is now (integrated state plus what is pending
   * now), whatever the record count. Drops while this runs make it run once more.
   */
  pendingDropped (): void {
    if (!this.notePending()) this.pendingDirty = false
    this.purgeWanted = true
    this.startPurge()
  }

  /** True when the doc had nothing stored (after `load`). */
  get isNew (): boolean {
    return this.known.size === 0
  }

  /** Number of chunks this instance knows are stored for the doc (records and snapshots). */
  get chunkCount (): number {
    return this.known.size
  }

  /**
   * The next transaction with `origin` is `Y.applyUpdate(doc, update, origin)`:
   * store `update` as it is instead of encoding the structs it adds again (on
   * a joiner, that re-encode costs as much as the answer did on the sender).
   * Whatever Yjs holds back of it as pending is inside those bytes too.
   * The bytes are kept as they are: they must not change afterwards (the
   * engine passes the validator's own copy). Call `applyFailed()` if the apply
   * threw, and `expectUpdate(undefined)` after it in any case.
   */
  expectUpdate (origin: unknown, update?: Uint8Array): void {
    this.incoming = update === undefined ? null : { origin, update }
    if (update === undefined) this.lastRaw = null
  }

  /**
   * The expected apply threw part-way (Yjs still ran the transaction's
   * cleanup): its bytes would not load again, so store what it did integrate
   * from the struct store instead, like a local change.
   */
  applyFailed (): void {
    const last = this.lastRaw
    this.lastRaw = null
    this.incoming = null
    if (last === null) return
    const i = this.raw.lastIndexOf(last.update)
    if (i >= 0) this.raw.splice(i, 1)
    this.batch.absorbTransaction(last.tr)
  }

  /** Record a finished transaction for the next commit (ignores our own load). True if there is something to store. */
  absorb (tr: Y.Transaction): boolean {
    if (tr.origin === this) return false
    const store = this.doc.store
    const incoming = this.incoming
    const pendingChanged = !sameBytes(store.pendingStructs?.update ?? null, this.storedPending) || !sameBytes(store.pendingDs, this.storedPendingDs)
    if (incoming !== null && tr.origin === incoming.origin) {
      this.incoming = null
      if (!UpdateBatch.changes(tr) && !pendingChanged) return false
      this.raw.push(incoming)
      this.lastRaw = { tr, update: incoming }
      // what Yjs holds back now is in stored chunks or in these bytes: nothing more to keep
      this.notePending()
      return true
    }
    let changed = this.batch.absorbTransaction(tr)
    // held back now and not stored yet: it goes with the next commit
    if (pendingChanged && this.notePending()) {
      this.pendingDirty = true
      changed = true
    }
    return changed
  }

  /** Take what Yjs holds back now as stored (or about to be); true if it holds back anything. */
  private notePending (): boolean {
    const store = this.doc.store
    this.storedPending = store.pendingStructs?.update ?? null
    this.storedPendingDs = store.pendingDs
    return this.storedPending !== null || this.storedPendingDs !== null
  }

  /**
   * Commit on its own from now on: every finished transaction on the doc is
   * absorbed, and one commit per microtask stores what changed (group
   * commit). `saved` follows each successful commit, `failed` each failed one
   * (the changes are kept for the next). Returns the function that stops it;
   * absorbed changes are still stored by the next `flush()` or `close()`.
   */
  autoCommit (on: { saved: () => void, failed: (err: Error) => void }): () => void {
    let scheduled = false
    let stopped = false
    const commit = (): void => {
      scheduled = false
      if (stopped) return
      this.flush().then(() => { if (!stopped) on.saved() }, (err: Error) => { if (!stopped) on.failed(err) })
    }
    const onTransaction = (tr: Y.Transaction): void => {
      if (this.absorb(tr) && !scheduled) {
        scheduled = true
        queueMicrotask(commit)
      }
    }
    this.doc.on('afterTransactionCleanup', onTransaction)
    return () => {
      stopped = true
      this.doc.off('afterTransactionCleanup', onTransaction)
    }
  }

  /** Anything absorbed but not yet committed? */
  get dirty (): boolean {
    return !this.batch.empty || this.raw.length > 0 || this.pendingDirty || this.queued !== null || this.inflight !== null
  }

  /**
   * Resolve once everything absorbed before this call is durably committed.
   * Concurrent calls share commits (group commit). Rejects with StorageError
   * if the adapter fails; the failed changes are kept and retried by the next flush.
   */
  flush (): Promise<void> {
    if (this.queued !== null) return this.queued
    if (this.batch.empty && this.raw.length === 0 && !this.pendingDirty) {
      // everything absorbed so far is in the running commit, or already stored
      return this.inflight ?? Promise.resolve()
    }
    const previous = this.inflight ?? Promise.resolve()
    const p: Promise<void> = previous.catch(() => {}).then(async () => {
      this.queued = null
      this.inflight = p
      try {
        await this.commit()
      } finally {
        if (this.inflight === p) this.inflight = null
      }
    })
    this.queued = p
    return p
  }

  private async commit (): Promise<void> {
    const batch = this.batch
    const raw = this.raw
    const withPending = this.pendingDirty
    if (batch.empty && raw.length === 0 && !withPending) return
    this.batch = new UpdateBatch()
    this.raw = []
    this.pendingDirty = false
    const parts: Part[] = raw.map(u => [TAG_V1, u.update])
    const local = batch.empty ? undefined : batch.encode(this.doc)
    if (local !== undefined) parts.push([TAG_V1, local])
    if (withPending) {
      const store = this.doc.store
      if (store.pendingStructs !== null) parts.push([TAG_V2, store.pendingStructs.update])
      if (store.pendingDs !== null) parts.push([TAG_V2, store.pendingDs])
    }
    const key: StorageKey = [this.docKey, 'r', uniqueId()]
    try {
      await this.adapter.save(key, encodeParts(parts))
    } catch (err) {
      // keep the changes for the next attempt; nothing was acknowledged
      batch.absorbBatch(this.batch)
      this.batch = batch
      this.raw = raw.concat(this.raw)
      if (withPending) this.pendingDirty = true
      throw asStorageError(`commit failed for doc ${this.docKey}`, err)
    }
    this.remember(key)
    this.records++
    this.onCommit?.(raw, local)
    if (this.purgeWanted) this.startPurge()
    else if (this.records >= this.compactAfter) this.startCompaction()
  }

  private startCompaction (): void {
    if (this.compaction !== null) return
    this.compact().catch(err => { log.error('compaction of %s failed (nothing lost): %e', this.docKey, err) })
  }

  /** Run `purge` unless it runs; a failed one is tried again after the next successful commit. */
  private startPurge (): void {
    if (this.purging !== null || !this.purgeWanted) return
    const p: Promise<void> = this.purge()
      .catch(err => { log.error('purging pending structs of %s failed (retried): %e', this.docKey, err) })
      .finally(() => { if (this.purging === p) this.purging = null })
    this.purging = p
  }

  private async purge (): Promise<void> {
    while (this.purgeWanted) {
      // a writer that keeps overflowing the cap makes this rewrite the doc's snapshot:
      // at most once per PURGE_INTERVAL_MS, however often it overflows (a closing doc does not wait)
      const wait = this.lastPurgeAt + PURGE_INTERVAL_MS - Date.now()
      if (wait > 0 && !this.closing) {
        await new Promise<void>(resolve => {
          const timer = setTimeout(resolve, wait)
          this.closeWakes = () => { clearTimeout(timer); resolve() }
        })
      }
      this.closeWakes = undefined
      this.lastPurgeAt = Date.now()
      this.purgeWanted = false
      try {
        // the records that carried the dropped structs are committed (and known) first,
        await this.flush()
        // a compaction already running may have encoded them into its snapshot: after it,
        while (this.compaction !== null) await this.compaction.catch(() => {})
        // one that folds everything known, that snapshot included
        await this.compact(true)
      } catch (err) {
        this.purgeWanted = true
        throw err
      }
    }
  }

  /**
   * Fold every chunk this instance knows into one snapshot, then delete them.
   * Safe to call at any time and alongside commits; concurrent calls share one run.
   * `rewrite`: even a lone snapshot is written again (it may carry dropped pending structs).
   */
  compact (rewrite = false): Promise<void> {
    if (this.compaction !== null) return this.compaction
    const p = this.runCompaction(rewrite).finally(() => { if (this.compaction === p) this.compaction = null })
    this.compaction = p
    return p
  }

  private async runCompaction (rewrite: boolean): Promise<void> {
    // old snapshots first: they are the big ones, so a compaction cut short by a
    // crash still frees most of the space, and repeated crashes cannot pile them up
    const old = [...this.known.values()].sort((a, b) => (a[1] === 's' ? 0 : 1) - (b[1] === 's' ? 0 : 1))
    if (old.length === 1 && old[0][1] === 's' && !rewrite) return
    if (old.length === 0 && rewrite) return // nothing stored carries what was dropped
    const snapshot = Y.encodeStateAsUpdateV2(this.doc)
    const key: StorageKey = [this.docKey, 's', uniqueId()]
    try {
      await this.adapter.save(key, tagged(TAG_V2, snapshot))
    } catch (err) {
      throw asStorageError(`writing the snapshot of doc ${this.docKey} failed`, err)
    }
    // the snapshot is committed and holds everything in `old`: now they may go
    this.remember(key)
    for (let i = 0; i < old.length; i += this.compactBatch) {
      await Promise.all(old.slice(i, i + this.compactBatch).map(async k => {
        try {
          await this.adapter.remove(k)
        } catch (err) {
          throw asStorageError(`deleting ${k.join('/')} failed`, err)
        }
        if (this.forget(k) && k[1] === 'r') this.records--
      }))
    }
    log('compacted %s: %d chunks into a snapshot of %d bytes', this.docKey, old.length, snapshot.length)
  }

  /** Flush what is pending, and wait for a running compaction (and one a last commit starts). */
  async close (): Promise<void> {
    this.closing = true
    this.closeWakes?.()
    for (;;) {
      await this.flush()
      const running = this.purging ?? this.compaction
      if (running === null) return
      await running.catch(() => {})
    }
  }

  private remember (key: StorageKey): void {
    this.known.set(JSON.stringify(key), key)
  }

  private forget (key: StorageKey): boolean {
    return this.known.delete(JSON.stringify(key))
  }
}

function asStorageError (what: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err
  return new StorageError(`${what}: ${(err as Error)?.message ?? String(err)}`, err)
}

function sameBytes (a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a === b || (a !== null && b !== null && equals(a, b))
}
