/**
 * The storage subsystem for one document: append-only records, group commit,
 * and compaction into a snapshot that is safe with two writers.
 *
 * Layout under the adapter (docKey is the hex doc key, never the doc id):
 *   [docKey, 'r', id]  one record: a batch of transactions as a V1 update
 *   [docKey, 's', id]  one snapshot: the whole doc as a V2 update
 * Every chunk starts with a one-byte format tag (1 = V1 update, 2 = V2 update).
 *
 * Compaction writes (and commits) a new snapshot before it deletes anything,
 * and deletes only chunks this instance loaded or wrote itself, so another
 * writer's records are never lost.
 */
import * as Y from 'yjs'
import { StorageError } from '../errors.js'
import { logger } from '../log.js'
import { UpdateBatch } from '../yjs/update-batch.js'
import type { StorageAdapter, StorageKey } from './types.js'

const log = logger('storage')

const TAG_V1 = 1
const TAG_V2 = 2

export interface PersistenceOptions {
  /** Compact after this many records have accumulated (default 256). */
  compactAfterRecords?: number
}

let counter = 0
const uniqueId = (): string =>
  `${Date.now().toString(36).padStart(9, '0')}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`

export class DocPersistence {
  private batch = new UpdateBatch()
  /** chunks this instance knows are folded into its doc: safe to delete on compaction */
  private readonly known = new Set<string>()
  private readonly knownKeys = new Map<string, StorageKey>()
  private records = 0
  private chain: Promise<void> = Promise.resolve()
  private queued: Promise<void> | null = null
  private compacting = false
  private readonly compactAfter: number
  /** Called after each successful commit (the handle turns it into a 'saved' event). */
  onCommit: (() => void) | undefined

  constructor (
    private readonly adapter: StorageAdapter,
    private readonly docKey: string,
    private readonly doc: Y.Doc,
    opts: PersistenceOptions = {}
  ) {
    this.compactAfter = opts.compactAfterRecords ?? 256
  }

  /** Apply everything stored for this doc. Transactions carry `this` as origin. */
  async load (): Promise<void> {
    const chunks = await this.adapter.loadRange([this.docKey])
    Y.transact(this.doc, () => {
      for (const c of chunks) {
        const kind = c.key[1]
        if (kind !== 'r' && kind !== 's') continue
        try {
          applyChunk(this.doc, c.data, this)
        } catch (err) {
          log.error('skipping unreadable chunk %s: %e', c.key.join('/'), err)
          continue
        }
        this.remember(c.key)
        if (kind === 'r') this.records++
      }
    }, this)
  }

  /** True when the doc has nothing stored (after `load`). */
  get isNew (): boolean {
    return this.known.size === 0
  }

  /** Record a finished transaction for the next commit (ignores our own load). */
  absorb (tr: Y.Transaction): boolean {
    if (tr.origin === this) return false
    return this.batch.absorbTransaction(tr)
  }

  /** Anything absorbed but not yet handed to a commit? */
  get dirty (): boolean {
    return !this.batch.empty
  }

  /**
   * Resolve once everything absorbed before this call is durably committed.
   * Concurrent calls share commits (group commit). Rejects with StorageError
   * if the adapter fails; the failed batch is kept and retried by the next flush.
   */
  flush (): Promise<void> {
    if (this.queued !== null) return this.queued
    if (this.batch.empty) return this.chain
    const p = this.chain.then(async () => {
      this.queued = null
      await this.commit()
    })
    this.queued = p
    this.chain = p.catch(() => {})
    return p
  }

  private async commit (): Promise<void> {
    const batch = this.batch
    if (batch.empty) return
    this.batch = new UpdateBatch()
    const update = batch.encode(this.doc)
    const key: StorageKey = [this.docKey, 'r', uniqueId()]
    try {
      await this.adapter.save(key, tagged(TAG_V1, update))
    } catch (err) {
      // keep the data for the next attempt; nothing was acknowledged
      batch.absorbBatch(this.batch)
      this.batch = batch
      throw new StorageError(`commit failed for doc ${this.docKey}: ${(err as Error)?.message ?? String(err)}`, err)
    }
    this.remember(key)
    this.records++
    this.onCommit?.()
    if (this.records >= this.compactAfter && !this.compacting) {
      this.chain = this.chain.then(async () => await this.compact()).catch(err => { log.error('compaction failed: %e', err) })
    }
  }

  /** Fold every known chunk into one snapshot. Safe to call at any time. */
  async compact (): Promise<void> {
    if (this.compacting) return
    this.compacting = true
    try {
      const old = [...this.knownKeys.values()]
      const snapshot = Y.encodeStateAsUpdateV2(this.doc)
      const key: StorageKey = [this.docKey, 's', uniqueId()]
      await this.adapter.save(key, tagged(TAG_V2, snapshot))
      this.remember(key)
      for (const k of old) {
        await this.adapter.remove(k)
        this.forget(k)
      }
      this.records = 0
      log('compacted %s: %d chunks into %d bytes', this.docKey, old.length, snapshot.length)
    } finally {
      this.compacting = false
    }
  }

  /** Flush what is pending, then wait for any compaction started so far. */
  async close (): Promise<void> {
    await this.flush()
    await this.chain
  }

  private remember (key: StorageKey): void {
    const s = key.join('/')
    this.known.add(s)
    this.knownKeys.set(s, key)
  }

  private forget (key: StorageKey): void {
    const s = key.join('/')
    this.known.delete(s)
    this.knownKeys.delete(s)
  }
}

function tagged (tag: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1)
  out[0] = tag
  out.set(bytes, 1)
  return out
}

function applyChunk (doc: Y.Doc, data: Uint8Array, origin: unknown): void {
  const body = data.subarray(1)
  if (data[0] === TAG_V1) Y.applyUpdate(doc, body, origin)
  else if (data[0] === TAG_V2) Y.applyUpdateV2(doc, body, origin)
  else throw new Error(`unknown chunk tag ${data[0]}`)
}
