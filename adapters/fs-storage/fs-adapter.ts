/**
 * FsStorageAdapter: a StorageAdapter over one data directory, for Node.
 *
 *   <dir>/meshdoc-fs.json        { format, version, salt }: written once, atomically
 *   <dir>/<bucket>/              one directory per first key part (for meshdoc: one per document)
 *   <dir>/<bucket>/*.log, *.snap checksummed records (see format.ts, bucket.ts)
 *
 * Every write is appended to the writer's own log file and resolves only after
 * fdatasync (fsync plus a directory fsync when the file or directory is new).
 * Writes issued while a commit is in flight share the next commit. Opening one
 * document reads one small directory, however many documents there are.
 * Failures reject with `StorageError` and acknowledge nothing. What the adapter
 * creates is private to the user (directories 0700, files 0600): the store
 * holds the node's identity key. An existing directory keeps its mode.
 */
import { randomBytes, createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as nodeFs from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ClosedError, StorageError } from '../../lib/errors.js'
import { checkKey, keyHasPrefix, type StorageAdapter, type StorageChunk, type StorageKey } from '../../lib/storage/types.js'
import { Bucket, code, keyString, type BucketEnv, type FsPromises, type FsStorageStats } from './bucket.js'
import { bucketName, DIR_MODE, encodedSize, FILE_MODE, Op, SALT_BYTES, saltSeed } from './format.js'

export interface FsStorageOptions {
  /** the fs/promises implementation to use (tests wrap it to inject faults) */
  fs?: FsPromises
  /** merge a bucket once it holds more dead bytes than this and than half its live bytes (default 64 KiB) */
  mergeMinDeadBytes?: number
  /** merge a bucket once it has more files than this (default 8) */
  maxFilesPerBucket?: number
  /**
   * keep at most this many log files open (default: an eighth of the process's
   * open-file limit, between 128 and 1,024; 128 where the limit is unknown).
   * Per adapter: a process with several adapters may want to give each less
   */
  maxOpenFiles?: number
}

/**
 * The default of `maxOpenFiles` for a process whose soft open-file limit is
 * `limit`: an eighth of it, so sockets and everything else keep the rest,
 * between 128 and 1,024. A gateway whose devices each write their own doc
 * reopened a log for nearly every commit with 128 (1,000 devices: an open and
 * a close per reading, about 5% of its CPU in a reconnect storm); Node raises
 * its soft limit to the hard one at start, commonly 20,000 to a million.
 */
export function openFilesBudget (limit: number | undefined): number {
  if (limit === undefined || Number.isNaN(limit)) return 128
  return Math.max(128, Math.min(1024, Math.floor(limit / 8)))
}

/** this process's soft open-file limit (Linux: /proc/self/limits), or undefined */
export function openFilesLimit (): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find(l => l.startsWith('Max open files'))
    const soft = line?.split(/\s{2,}/)[1]
    return soft === undefined ? undefined : soft === 'unlimited' ? Infinity : Number(soft)
  } catch {
    return undefined
  }
}

const FORMAT_FILE = 'meshdoc-fs.json'
const FORMAT = { format: 'meshdoc-fs', version: 1 }

export class FsStorageAdapter implements StorageAdapter {
  readonly stats: FsStorageStats = { commits: 0, syncs: 0, merges: 0, rewrites: 0, damagedRegions: 0, damagedBytes: 0 }
  private readonly fs: FsPromises
  private readonly buckets = new Map<string, Bucket>()
  private readonly openHandles = new Set<Bucket>()
  private readonly env: BucketEnv
  private readonly maxOpenFiles: number
  private readyP: Promise<void> | undefined
  private seed = -1
  private closed = false
  private closing: Promise<void> | undefined

  constructor (readonly dir: string, opts: FsStorageOptions = {}) {
    this.fs = opts.fs ?? nodeFs
    this.maxOpenFiles = opts.maxOpenFiles ?? openFilesBudget(openFilesLimit())
    this.env = {
      fs: this.fs,
      root: dir,
      writer: randomBytes(6).toString('hex'),
      seed: () => {
        if (this.seed < 0) throw new Error('storage used before it was ready')
        return this.seed
      },
      stats: this.stats,
      mergeMinDeadBytes: opts.mergeMinDeadBytes ?? 64 * 1024,
      maxFiles: opts.maxFilesPerBucket ?? 8,
      ready: async () => { await this.ready() },
      syncDir: async (path) => { await this.syncDir(path) },
      touch: (b) => { this.touch(b) }
    }
  }

  async load (key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key, 1)
    const b = this.bucketFor(key[0])
    const entries = await this.guard('load', b.queue.read(async () => { await this.ready(); return await b.read() }))
    if (entries.size === 0) this.forgetIfVacant(b)
    return entries.get(keyString(key))?.data
  }

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    checkKey(key, 1)
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array')
    const rec = { op: Op.PUT, key: [...key], data: data.slice() }
    await this.guard('save', this.bucketFor(key[0]).queue.write(rec, encodedSize(rec)))
  }

  async remove (key: StorageKey): Promise<void> {
    checkKey(key, 1)
    await this.guard('remove', this.bucketFor(key[0]).queue.write({ op: Op.DEL, key: [...key] }))
  }

  async loadRange (prefix: StorageKey): Promise<StorageChunk[]> {
    checkKey(prefix, 0)
    const out: StorageChunk[] = []
    for (const b of await this.bucketsFor(prefix)) {
      const entries = await this.guard('loadRange', b.queue.read(async () => { await this.ready(); return await b.read() }))
      for (const e of entries.values()) if (keyHasPrefix(e.key, prefix)) out.push({ key: e.key, data: e.data })
      if (entries.size === 0) this.forgetIfVacant(b)
    }
    return out
  }

  /** Buckets in memory (each one touched, and not forgotten as vacant). */
  get bucketsInMemory (): number {
    return this.buckets.size
  }

  /** A bucket read and found to hold nothing, with nothing under way, is not kept (see `Bucket.vacant`). */
  private forgetIfVacant (b: Bucket): void {
    // once the read that found it empty has left the bucket's queue
    void b.queue.drained().then(() => {
      const name = basename(b.dir)
      if (b.vacant && this.buckets.get(name) === b) this.buckets.delete(name)
    })
  }

  async removeRange (prefix: StorageKey): Promise<void> {
    checkKey(prefix, 0)
    const buckets = await this.bucketsFor(prefix)
    await Promise.all(buckets.map(async b => { await this.guard('removeRange', b.queue.write({ op: Op.DEL_RANGE, key: [...prefix] })) }))
  }

  /** Merge every bucket this adapter has touched into one snapshot file each. */
  async compact (): Promise<void> {
    for (const b of this.buckets.values()) await this.guard('compact', b.queue.exclusive(async () => { await b.merge() }))
  }

  /** Wait for queued work, then close every file. Idempotent. */
  async close (): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true
      for (const b of this.buckets.values()) await b.queue.drained()
      for (const b of this.buckets.values()) await b.closeHandle()
      this.openHandles.clear()
    })()
    await this.closing
  }

  // ---------------------------------------------------------------- internals

  private bucketFor (part: string): Bucket {
    if (this.closed) throw new ClosedError(`storage at ${this.dir} is closed`)
    return this.bucketNamed(bucketName(part, hashName))
  }

  private bucketNamed (name: string): Bucket {
    let b = this.buckets.get(name)
    if (b === undefined) {
      b = new Bucket(join(this.dir, name), this.env)
      this.buckets.set(name, b)
    }
    return b
  }

  /** The buckets a prefix can touch: one, or (for []) every directory on disk and every one we use. */
  private async bucketsFor (prefix: StorageKey): Promise<Bucket[]> {
    if (prefix.length > 0) return [this.bucketFor(prefix[0])]
    if (this.closed) throw new ClosedError(`storage at ${this.dir} is closed`)
    await this.guard('list', this.ready())
    let names: string[] = []
    try {
      const dirents = await this.fs.readdir(this.dir, { withFileTypes: true })
      names = dirents.filter(d => d.isDirectory()).map(d => d.name)
    } catch (err) {
      throw new StorageError(`listing ${this.dir} failed: ${(err as Error).message}`, err)
    }
    for (const n of names) this.bucketNamed(n)
    return [...this.buckets.values()]
  }

  private async ready (): Promise<void> {
    this.readyP ??= this.init()
    try {
      await this.readyP
    } catch (err) {
      this.readyP = undefined // try again next time (the disk may have recovered)
      throw err
    }
  }

  private async init (): Promise<void> {
    const created = await this.fs.mkdir(this.dir, { recursive: true, mode: DIR_MODE })
    if (created !== undefined) await this.syncDir(dirname(created))
    const path = join(this.dir, FORMAT_FILE)
    let text = await this.readFormat(path)
    if (text === undefined) {
      // write it aside, then link it into place: exactly one writer's salt wins
      const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
      const fh = await this.fs.open(tmp, 'wx', FILE_MODE)
      try {
        const format = { ...FORMAT, salt: randomBytes(SALT_BYTES).toString('hex') }
        await fh.write(new TextEncoder().encode(JSON.stringify(format) + '\n'))
        await fh.sync()
      } finally {
        await fh.close()
      }
      try {
        await this.fs.link(tmp, path)
      } catch (err) {
        if (code(err) !== 'EEXIST') throw err
      } finally {
        await this.fs.unlink(tmp).catch(() => {})
      }
      await this.syncDir(this.dir)
      text = await this.readFormat(path)
    }
    let found: { format?: unknown, version?: unknown, salt?: unknown } | undefined
    try { found = JSON.parse(text ?? '') } catch {}
    if (found?.format !== FORMAT.format || found.version !== FORMAT.version || typeof found.salt !== 'string' || !/^[0-9a-f]{32}$/.test(found.salt)) {
      throw new StorageError(`${this.dir} is not a meshdoc-fs v${FORMAT.version} directory (${FORMAT_FILE}: ${String(text).slice(0, 120)})`)
    }
    this.seed = saltSeed(Buffer.from(found.salt, 'hex'))
  }

  private async readFormat (path: string): Promise<string | undefined> {
    try {
      return new TextDecoder().decode(await this.fs.readFile(path))
    } catch (err) {
      if (code(err) === 'ENOENT') return undefined
      throw err
    }
  }

  private async syncDir (path: string): Promise<void> {
    const fh = await this.fs.open(path, 'r')
    try {
      await fh.sync()
      this.stats.syncs++
    } finally {
      await fh.close()
    }
  }

  private touch (b: Bucket): void {
    this.openHandles.delete(b)
    this.openHandles.add(b)
    if (this.openHandles.size <= this.maxOpenFiles) return
    for (const old of this.openHandles) {
      if (this.openHandles.size <= this.maxOpenFiles) break
      if (old === b || !old.queue.idle) continue
      this.openHandles.delete(old)
      void old.closeHandle()
    }
  }

  private async guard<T> (what: string, p: Promise<T>): Promise<T> {
    try {
      return await p
    } catch (err) {
      if (err instanceof StorageError || err instanceof ClosedError) throw err
      const c = code(err)
      throw new StorageError(`${what} in ${this.dir} failed${c !== undefined ? ` (${c})` : ''}: ${(err as Error)?.message ?? String(err)}`, err)
    }
  }
}

function hashName (s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 40)
}
