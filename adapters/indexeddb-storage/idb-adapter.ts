/**
 * IndexedDbStorageAdapter: a StorageAdapter over one IndexedDB database, for
 * browsers, built on idb-keyval.
 *
 * - One database (default `meshdoc`) with one object store (default `chunks`)
 *   for every document; keys are the storage keys as IndexedDB array keys, so a
 *   key prefix is one key range.
 * - Every read-write transaction is opened with `durability: 'strict'`: a write
 *   resolves only once the browser has flushed it to disk. idb-keyval's own
 *   `createStore` cannot pass that option, so `strictStore` opens the database
 *   the way it does and adds it; idb-keyval's helpers do the rest.
 * - Writes issued while a transaction is committing share the next one (group
 *   commit); reads wait for the writes issued before them.
 * - Asks for persistent storage (`navigator.storage.persist()`) where the
 *   browser offers it, so the origin's data is not evicted under pressure.
 */
import { get, promisifyRequest, type UseStore } from 'idb-keyval'
import { ClosedError, StorageError } from '../../lib/errors.js'
import { logger } from '../../lib/log.js'
import { CommitQueue } from '../../lib/storage/commit-queue.js'
import { checkKey, type StorageAdapter, type StorageChunk, type StorageKey } from '../../lib/storage/types.js'

const log = logger('storage:idb')

export interface IndexedDbStorageOptions {
  /** database name (default 'meshdoc') */
  dbName?: string
  /** object store name (default 'chunks') */
  storeName?: string
  /** the IDBFactory to use (default: the global `indexedDB`) */
  indexedDB?: IDBFactory
  /** the IDBKeyRange class that goes with it (default: the global one) */
  keyRange?: typeof IDBKeyRange
  /** ask the browser for persistent storage (default true) */
  persist?: boolean
}

type Op =
  | { kind: 'put', key: string[], data: Uint8Array }
  | { kind: 'del', key: string[] }
  | { kind: 'delRange', prefix: string[] }

export class IndexedDbStorageAdapter implements StorageAdapter {
  /** Resolves to the answer of `navigator.storage.persist()`, or undefined where there is none. */
  readonly persisted: Promise<boolean | undefined>
  private readonly store: UseStore & { close: () => void }
  private readonly keyRange: typeof IDBKeyRange
  private readonly queue = new CommitQueue<Op>(async ops => { await this.commit(ops) })
  private closed = false

  constructor (opts: IndexedDbStorageOptions = {}) {
    const factory = opts.indexedDB ?? globalThis.indexedDB
    const keyRange = opts.keyRange ?? globalThis.IDBKeyRange
    if (factory === undefined || keyRange === undefined) throw new StorageError('IndexedDB is not available here')
    this.keyRange = keyRange
    this.store = strictStore(factory, opts.dbName ?? 'meshdoc', opts.storeName ?? 'chunks')
    this.persisted = opts.persist === false ? Promise.resolve(undefined) : askPersist()
  }

  async load (key: StorageKey): Promise<Uint8Array | undefined> {
    const k = keyOf(key, 1)
    return await this.guard('load', () => this.queue.read(async () => toBytes(await get<unknown>(k, this.store))))
  }

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    const k = keyOf(key, 1)
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array')
    await this.guard('save', () => this.queue.write({ kind: 'put', key: k, data: data.slice() }, data.length))
  }

  async remove (key: StorageKey): Promise<void> {
    const k = keyOf(key, 1)
    await this.guard('remove', () => this.queue.write({ kind: 'del', key: k }))
  }

  async loadRange (prefix: StorageKey): Promise<StorageChunk[]> {
    const p = keyOf(prefix, 0)
    return await this.guard('loadRange', () => this.queue.read(async () => await this.store('readonly', async s => {
      const range = this.rangeOf(p)
      const [keys, values] = await Promise.all([promisifyRequest(s.getAllKeys(range)), promisifyRequest(s.getAll(range))])
      const out: StorageChunk[] = []
      for (let i = 0; i < keys.length; i++) {
        const data = toBytes(values[i])
        if (data !== undefined) out.push({ key: keys[i] as string[], data })
      }
      return out
    })))
  }

  async removeRange (prefix: StorageKey): Promise<void> {
    const p = keyOf(prefix, 0)
    await this.guard('removeRange', () => this.queue.write({ kind: 'delRange', prefix: p }))
  }

  /** Wait for queued work, then close the connection. Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.queue.drained()
    this.store.close()
  }

  private rangeOf (prefix: string[]): IDBKeyRange | undefined {
    // every array key that starts with `prefix`: [...prefix] <= key < [...prefix, []] (an array sorts after any string)
    return prefix.length === 0 ? undefined : this.keyRange.bound(prefix, [...prefix, []])
  }

  /** One read-write transaction (durability 'strict') for the whole group. */
  private async commit (ops: Op[]): Promise<void> {
    await this.store('readwrite', async s => {
      for (const op of ops) {
        if (op.kind === 'put') s.put(op.data, op.key)
        else if (op.kind === 'del') s.delete(op.key)
        else if (op.prefix.length === 0) s.clear()
        else s.delete(this.rangeOf(op.prefix)!)
      }
      await promisifyRequest(s.transaction)
    })
  }

  private async guard<T> (what: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ClosedError('storage is closed')
    try {
      return await run()
    } catch (err) {
      if (err instanceof StorageError || err instanceof ClosedError || err instanceof TypeError) throw err
      const name = (err as { name?: string } | null)?.name
      throw new StorageError(`IndexedDB ${what} failed${name !== undefined ? ` (${name})` : ''}: ${(err as Error)?.message ?? String(err)}`, err)
    }
  }
}

/**
 * idb-keyval's `createStore`, plus `durability: 'strict'` on read-write
 * transactions, a version-change handler and `close`.
 */
export function strictStore (factory: IDBFactory, dbName: string, storeName: string): UseStore & { close: () => void } {
  let dbp: Promise<IDBDatabase> | undefined
  const getDB = (): Promise<IDBDatabase> => {
    if (dbp !== undefined) return dbp
    const request = factory.open(dbName)
    request.onupgradeneeded = () => { request.result.createObjectStore(storeName) }
    const p = promisifyRequest(request)
    dbp = p
    p.then(db => {
      db.onclose = () => { if (dbp === p) dbp = undefined }
      // another tab upgrades or deletes the database: let it, reopen on next use
      db.onversionchange = () => { db.close(); if (dbp === p) dbp = undefined }
    }, () => { if (dbp === p) dbp = undefined })
    return p
  }
  const useStore = (async <T>(mode: IDBTransactionMode, callback: (store: IDBObjectStore) => T | PromiseLike<T>): Promise<T> => {
    const db = await getDB()
    const tx = mode === 'readwrite'
      ? db.transaction(storeName, mode, { durability: 'strict' })
      : db.transaction(storeName, mode)
    return await callback(tx.objectStore(storeName))
  }) as UseStore & { close: () => void }
  useStore.close = () => {
    const p = dbp
    dbp = undefined
    p?.then(db => { db.close() }, () => {})
  }
  return useStore
}

async function askPersist (): Promise<boolean | undefined> {
  const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage
  if (typeof storage?.persist !== 'function') return undefined
  try {
    if (typeof storage.persisted === 'function' && await storage.persisted()) return true
    const granted = await storage.persist()
    if (!granted) log('persistent storage was not granted')
    return granted
  } catch (err) {
    log.error('navigator.storage.persist() failed: %e', err)
    return false
  }
}

function keyOf (key: StorageKey, min: number): string[] {
  checkKey(key, min)
  return [...key]
}

function toBytes (v: unknown): Uint8Array | undefined {
  if (v === undefined) return undefined
  if (v instanceof Uint8Array) return v
  if (v instanceof ArrayBuffer) return new Uint8Array(v)
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice()
  throw new StorageError('IndexedDB held a value that is not bytes')
}
