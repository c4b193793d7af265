/**
 * One bucket: the directory holding every key whose first part maps to it
 * (for meshdoc, one document). Writers append to the log of the newest
 * generation; a merge rewrites the bucket into one snapshot file.
 *
 * Why several writers (processes, or adapter instances) can share a bucket
 * without locks:
 * - Appends use O_APPEND and one write() per commit, so records from different
 *   writers never interleave, and a commit that starts after another was
 *   acknowledged lands after it. A writer killed mid-write leaves a damaged
 *   region that readers skip (see format.ts).
 * - A merge first opens a new generation (it creates the log of generation
 *   `max + 1`), then reads every file of generation <= max, writes the
 *   snapshot (temp file, fsync, rename, fsync dir), and only then unlinks
 *   exactly the files it read.
 * - After every append + fsync a writer lists the directory. If a later
 *   generation exists, a merge may have read the log before the append, so the
 *   writer appends the same records again to the newest log before
 *   acknowledging. If none exists, any merge that could delete the log starts
 *   later and reads the append.
 * The snapshot of generation g holds every acknowledged record of generations
 * <= g, so a reader takes the newest snapshot plus the logs after it.
 */
import { constants } from 'node:fs'
import type * as fsp from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { logger } from '../../lib/log.js'
import { CommitQueue } from '../../lib/storage/commit-queue.js'
import { keyHasPrefix, type StorageKey } from '../../lib/storage/types.js'
import {
  DIR_MODE, encodeRecords, encodedSize, FILE_MODE, logName, Op, parseFile, parseFileName, selectFiles, snapName, type FileName, type Record
} from './format.js'

const log = logger('storage:fs')

export type FsPromises = Pick<typeof fsp, 'open' | 'readdir' | 'mkdir' | 'rename' | 'unlink' | 'readFile' | 'link'>

export interface FsStorageStats {
  /** groups of operations made durable with one write + fsync */
  commits: number
  /** fsync / fdatasync calls, files and directories */
  syncs: number
  /** bucket merges (snapshot rewrites) completed */
  merges: number
  /** appends written a second time because a merge moved the generation under them */
  rewrites: number
  /** damaged regions (torn or garbage) skipped while reading, and their bytes */
  damagedRegions: number
  damagedBytes: number
}

/** What a bucket needs from its adapter. */
export interface BucketEnv {
  fs: FsPromises
  root: string
  writer: string
  /** CRC-32 seed from the data directory's salt (valid after `ready`) */
  seed: () => number
  stats: FsStorageStats
  mergeMinDeadBytes: number
  maxFiles: number
  ready: () => Promise<void>
  syncDir: (path: string) => Promise<void>
  /** a file handle was opened or used (for the open-file limit) */
  touch: (b: Bucket) => void
}

export interface Entry { key: StorageKey, data: Uint8Array }

interface State {
  entries: Map<string, Entry>
  /** a file read had a damaged region */
  damaged: boolean
  /** every file listed (of the generations read) */
  files: FileName[]
  /** bytes of the files read */
  bytes: number
}

interface ActiveLog {
  gen: number
  fh: fsp.FileHandle
  /** this writer has not yet fsynced the directory since opening the log (it may be new) */
  needsDirSync: boolean
}

const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT

export const keyString = (key: StorageKey): string => JSON.stringify(key)

export class Bucket {
  readonly queue: CommitQueue<Record>
  /** the generation appends go to; 0 = look at the directory first */
  private gen = 0
  private active: ActiveLog | null = null
  /** the generation whose log this writer created or opened and then fsynced with its directory (0: none) */
  private dirSyncedGen = 0
  private dirKnown = false
  /** key -> { key, bytes of its live record }, from the last full read plus our own writes */
  private index: Map<string, { key: StorageKey, size: number }> | null = null
  private liveBytes = 0
  private totalBytes = 0
  private fileCount = 0
  private mergeQueued = false
  private mergeBlockedUntil = 0

  constructor (readonly dir: string, private readonly env: BucketEnv) {
    this.queue = new CommitQueue<Record>(async ops => { await this.commit(ops) })
  }

  /** Close the log's file handle (reopened by the next append). */
  async closeHandle (): Promise<void> {
    const a = this.active
    this.active = null
    if (a !== null) await a.fh.close().catch(() => {})
  }

  /**
   * Nothing on disk and nothing under way: the last read found no file, and
   * nothing was written, is queued or open since. The adapter forgets such a
   * bucket after reading it, so that reads of keys nobody stored (a reader
   * naming random doc keys to a gateway) leave nothing behind.
   */
  get vacant (): boolean {
    return this.fileCount === 0 && !this.dirKnown && this.active === null && this.gen === 0 && this.queue.idle
  }

  // ---------------------------------------------------------------- reads

  /** The bucket's current contents (the newest snapshot plus later logs), read from disk. */
  async read (): Promise<Map<string, Entry>> {
    const state = await this.readState(Infinity)
    this.setIndex(state)
    // cut a damaged region off for good: the merge rewrites the bucket without it
    if (state.damaged) this.maybeMerge(true)
    return state.entries
  }

  private async readState (maxGen: number): Promise<State> {
    for (let attempt = 0; ; attempt++) {
      let names: string[]
      try {
        names = await this.env.fs.readdir(this.dir)
      } catch (err) {
        if (code(err) === 'ENOENT') return { entries: new Map(), files: [], bytes: 0, damaged: false }
        throw err
      }
      const files: FileName[] = []
      for (const n of names) {
        const f = parseFileName(n)
        if (f !== undefined && f.gen <= maxGen) files.push(f)
      }
      const chosen = selectFiles(files)
      let bufs: Uint8Array[]
      try {
        bufs = await Promise.all(chosen.map(async f => await this.env.fs.readFile(join(this.dir, f.name))))
      } catch (err) {
        // a concurrent merge replaced a file between listing and reading: list again
        if (code(err) === 'ENOENT' && attempt < 50) continue
        throw err
      }
      const entries = new Map<string, Entry>()
      let bytes = 0
      let damaged = false
      for (let i = 0; i < chosen.length; i++) {
        const parsed = parseFile(bufs[i], this.env.seed())
        bytes += bufs[i].length
        for (const [from, to] of parsed.damaged) {
          damaged = true
          this.env.stats.damagedRegions++
          this.env.stats.damagedBytes += to - from
          log.error('%s: skipped %d damaged bytes (a torn write or garbage) at byte %d%s; %d good records kept',
            join(this.dir, chosen[i].name), to - from, from, to === bufs[i].length ? ' (the tail)' : '', parsed.records.length)
        }
        for (const r of parsed.records) replay(entries, r)
      }
      return { entries, files, bytes, damaged }
    }
  }

  private setIndex (state: State): void {
    const index = new Map<string, { key: StorageKey, size: number }>()
    let live = 0
    for (const [k, e] of state.entries) {
      const size = encodedSize({ op: Op.PUT, key: e.key, data: e.data })
      index.set(k, { key: e.key, size })
      live += size
    }
    this.index = index
    this.liveBytes = live
    this.totalBytes = state.bytes
    this.fileCount = state.files.length
    this.dirKnown ||= state.files.length > 0
  }

  // ---------------------------------------------------------------- writes

  private async commit (ops: Record[]): Promise<void> {
    await this.env.ready()
    if (this.index === null) this.setIndex(await this.readState(Infinity))
    if (this.fileCount === 0 && this.active === null && ops.every(o => o.op !== Op.PUT)) return // nothing stored: nothing to delete
    const buf = encodeRecords(ops, this.env.seed())
    for (let attempt = 0; ; attempt++) {
      const a = await this.openLog()
      try {
        await writeAll(a.fh, buf)
        if (a.needsDirSync) {
          await a.fh.sync()
          await this.env.syncDir(this.dir)
          a.needsDirSync = false
          this.dirSyncedGen = a.gen
        } else {
          await a.fh.datasync()
        }
        this.env.stats.syncs++
      } catch (err) {
        // the log may now hold part of `buf`; readers skip it. Reopen before the next append.
        await this.closeHandle()
        throw err
      }
      this.env.stats.commits++
      this.totalBytes += buf.length
      const onDisk = await this.maxGenOnDisk()
      if (onDisk <= a.gen) break
      // a merge opened a later generation and may have read this log before the append
      this.env.stats.rewrites++
      await this.closeHandle()
      this.gen = onDisk
      if (attempt >= 20) throw new Error(`bucket ${this.dir}: the generation kept moving during an append`)
    }
    for (const op of ops) this.account(op)
    this.maybeMerge()
  }

  private account (op: Record): void {
    const index = this.index!
    const k = keyString(op.key)
    if (op.op === Op.PUT) {
      const size = encodedSize(op)
      this.liveBytes += size - (index.get(k)?.size ?? 0)
      index.set(k, { key: op.key, size })
    } else if (op.op === Op.DEL) {
      this.liveBytes -= index.get(k)?.size ?? 0
      index.delete(k)
    } else {
      for (const [ik, v] of index) {
        if (keyHasPrefix(v.key, op.key)) { this.liveBytes -= v.size; index.delete(ik) }
      }
    }
  }

  /** The open log of the current generation (opened, and created if need be). */
  private async openLog (): Promise<ActiveLog> {
    if (this.active !== null && this.active.gen === this.gen) {
      this.env.touch(this)
      return this.active
    }
    await this.closeHandle()
    if (this.gen === 0) this.gen = Math.max(1, await this.maxGenOnDisk())
    await this.ensureDir()
    const fh = await this.env.fs.open(join(this.dir, logName(this.gen)), APPEND, FILE_MODE)
    // a log this writer already made durable (file and directory entry) needs no second directory sync when it is
    // opened again: a gateway with more docs than open handles reopens logs all the time (see maxOpenFiles)
    this.active = { gen: this.gen, fh, needsDirSync: this.dirSyncedGen !== this.gen }
    this.env.touch(this)
    return this.active
  }

  private async ensureDir (): Promise<void> {
    if (this.dirKnown) return
    try {
      await this.env.fs.mkdir(this.dir, { mode: DIR_MODE })
      await this.env.syncDir(this.env.root)
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err
    }
    this.dirKnown = true
  }

  private async maxGenOnDisk (): Promise<number> {
    let names: string[]
    try {
      names = await this.env.fs.readdir(this.dir)
    } catch (err) {
      if (code(err) === 'ENOENT') return 0
      throw err
    }
    let max = 0
    let count = 0
    for (const n of names) {
      const f = parseFileName(n)
      if (f === undefined) continue
      count++
      if (f.gen > max) max = f.gen
    }
    this.fileCount = count
    return max
  }

  // ---------------------------------------------------------------- merge

  private maybeMerge (force = false): void {
    if (this.index === null || this.mergeQueued || Date.now() < this.mergeBlockedUntil) return
    const dead = this.totalBytes - this.liveBytes
    if (force || dead > Math.max(this.liveBytes / 2, this.env.mergeMinDeadBytes) || this.fileCount > this.env.maxFiles) {
      this.mergeQueued = true
      this.queue.exclusive(async () => { await this.merge() })
        .catch(err => {
          this.mergeBlockedUntil = Date.now() + 5000
          log.error('merging %s failed (nothing lost, retried later): %e', this.dir, err)
        })
        .finally(() => { this.mergeQueued = false })
    }
  }

  /** Rewrite the bucket as one snapshot. Run only through `queue.exclusive`. */
  async merge (): Promise<void> {
    await this.env.ready()
    const maxGen = await this.maxGenOnDisk()
    if (maxGen === 0) return
    // 1. open generation maxGen + 1: its log marks it
    this.gen = maxGen + 1
    await this.openLog()
    // 2. read everything of generation <= maxGen
    const state = await this.readState(maxGen)
    // 3. write and commit the snapshot before deleting anything
    const records: Record[] = []
    for (const e of state.entries.values()) records.push({ op: Op.PUT, key: e.key, data: e.data })
    const buf = encodeRecords(records, this.env.seed())
    const final = snapName(maxGen, this.env.writer)
    const tmp = `${final}.${randomBytes(4).toString('hex')}.tmp`
    const fh = await this.env.fs.open(join(this.dir, tmp), 'wx', FILE_MODE)
    try {
      await writeAll(fh, buf)
      await fh.sync()
      this.env.stats.syncs++
    } finally {
      await fh.close()
    }
    await this.env.fs.rename(join(this.dir, tmp), join(this.dir, final))
    await this.env.syncDir(this.dir)
    // 4. delete exactly what was read (and leftovers of merges that did not finish)
    const doomed = state.files.filter(f => f.name !== final).map(f => f.name)
    for (const n of await this.env.fs.readdir(this.dir)) {
      if (n.endsWith('.tmp') && n !== tmp && Number(n.slice(0, 10)) <= maxGen) doomed.push(n)
    }
    for (const n of doomed) {
      try {
        await this.env.fs.unlink(join(this.dir, n))
      } catch (err) {
        if (code(err) !== 'ENOENT') throw err
      }
    }
    await this.env.syncDir(this.dir)
    this.setIndex({ entries: state.entries, files: [], bytes: buf.length, damaged: false })
    this.fileCount = 2
    this.env.stats.merges++
    log('merged %s: %d files into %d bytes', this.dir, doomed.length, buf.length)
  }
}

function replay (entries: Map<string, Entry>, r: Record): void {
  if (r.op === Op.PUT) {
    entries.set(keyString(r.key), { key: r.key, data: r.data! })
  } else if (r.op === Op.DEL) {
    entries.delete(keyString(r.key))
  } else {
    for (const [k, e] of entries) if (keyHasPrefix(e.key, r.key)) entries.delete(k)
  }
}

async function writeAll (fh: fsp.FileHandle, buf: Uint8Array): Promise<void> {
  let off = 0
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, null)
    if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' })
    off += bytesWritten
  }
}

export function code (err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code
}
