/**
 * The open documents. Apps open docs by id and get one DocHandle per open doc;
 * a serving node (a gateway) may also open docs by key when a peer asks for
 * one it does not have open, and unloads those again when they go idle.
 */
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { fromString } from 'uint8arrays/from-string'
import { ClosedError } from './errors.js'
import { DocHandle } from './doc-handle.js'
import { logger } from './log.js'
import { docKeyFor, docKeyHex } from './protocol/doc-key.js'
import { DocPersistence, type PersistenceOptions } from './storage/doc-persistence.js'
import type { StorageAdapter } from './storage/types.js'
import { EngineDoc } from './sync/engine-doc.js'
import type { SyncEngine } from './sync/engine.js'

const log = logger('repo')

/** The id under which the policy sees a doc known only by its key. */
export const keyOnlyDocId = (keyHex: string): string => `key:${keyHex}`

/** The persistence's pending cap is the engine's (`limits.maxPendingBytes`), so it is not set here. */
export interface RepoOptions extends Omit<PersistenceOptions, 'maxPendingBytes'> {
  engine: SyncEngine
  storage: StorageAdapter
  meshKey?: Uint8Array
  /** unload docs opened for peers (by key) after this long without a session (default 60 s) */
  idleUnloadMs?: number
}

interface Served { sync: EngineDoc, idleSince: number }

export class Repo {
  /** docs the app opened, by id */
  private readonly byId = new Map<string, Promise<DocHandle>>()
  /** docs opened for peers, by key */
  private readonly served = new Map<string, Promise<Served | undefined>>()
  private stopped = false
  private sweeper: ReturnType<typeof setInterval> | undefined
  private readonly idleMs: number

  constructor (private readonly opts: RepoOptions) {
    this.idleMs = opts.idleUnloadMs ?? 60_000
  }

  /** Open (or return the already open) document `docId`. */
  async open (docId: string): Promise<DocHandle> {
    if (this.stopped) throw new ClosedError('node is stopped')
    if (typeof docId !== 'string' || docId.length === 0) throw new TypeError('docId must be a non-empty string')
    let p = this.byId.get(docId)
    if (p === undefined) {
      p = this.load(docId)
      this.byId.set(docId, p)
      p.catch(() => { if (this.byId.get(docId) === p) this.byId.delete(docId) })
    }
    return await p
  }

  /** Ids of the documents the app has open. */
  get openDocIds (): string[] {
    return [...this.byId.keys()]
  }

  /** Number of docs open for peers only (by key). */
  get servedCount (): number {
    return this.served.size
  }

  /**
   * Open a doc by key for a peer (gateway mode): from storage if it is stored,
   * empty otherwise. Resolves with the engine's EngineDoc, already added.
   */
  async openByKey (keyHex: string): Promise<EngineDoc | undefined> {
    if (this.stopped) return undefined
    let p = this.served.get(keyHex)
    if (p === undefined) {
      p = this.loadByKey(keyHex)
      this.served.set(keyHex, p)
      this.startSweeper()
    }
    return (await p)?.sync
  }

  private async loadByKey (keyHex: string): Promise<Served | undefined> {
    const sync = await this.build(keyOnlyDocId(keyHex), fromString(keyHex, 'base16'), keyHex, true)
    if (this.stopped) { await this.dispose(sync); return undefined }
    return { sync, idleSince: Date.now() }
  }

  private async load (docId: string): Promise<DocHandle> {
    const key = docKeyFor(docId, this.opts.meshKey)
    const keyHex = docKeyHex(key)
    // a doc served by key becomes the app's: close the served copy first (it is flushed)
    const served = this.served.get(keyHex)
    if (served !== undefined) {
      this.served.delete(keyHex)
      const s = await served
      if (s !== undefined) await this.dispose(s.sync)
    }
    const sync = await this.build(docId, key, keyHex)
    log('opened %s (%s)', docId, keyHex)
    return new DocHandle(sync, async () => {
      if (sync.closed) return
      this.byId.delete(sync.id)
      await this.dispose(sync)
    })
  }

  private async build (docId: string, key: Uint8Array, keyHex: string, servedOnly = false): Promise<EngineDoc> {
    const doc = new Y.Doc()
    const engine = this.opts.engine
    const persistence = new DocPersistence(this.opts.storage, keyHex, doc, { ...this.opts, maxPendingBytes: engine.limits.maxPendingBytes })
    const { droppedPendingBytes } = await persistence.load()
    if (droppedPendingBytes > 0) {
      // the cap holds on load as it does for updates from peers, and is counted the same way
      log('dropped %d bytes of stored pending structs of %s past the cap', droppedPendingBytes, docId)
      engine.counters.rejected.pending_overflow = (engine.counters.rejected.pending_overflow ?? 0) + 1
    }
    const sync = new EngineDoc(docId, key, keyHex, doc, new Awareness(doc), persistence)
    sync.servedOnly = servedOnly
    engine.addDoc(sync)
    return sync
  }

  private async dispose (sync: EngineDoc): Promise<void> {
    if (sync.closed) return
    sync.closed = true
    this.opts.engine.removeDoc(sync)
    try {
      await sync.persistence?.close()
    } finally {
      sync.failAll(new ClosedError(`document ${sync.id} closed`))
      sync.awareness.destroy()
      sync.doc.destroy()
      sync.destroy()
    }
  }

  private startSweeper (): void {
    if (this.sweeper !== undefined || this.stopped) return
    this.sweeper = setInterval(() => { void this.sweep() }, Math.max(1000, this.idleMs / 2))
  }

  /** Unload docs opened for peers that no peer has held for `idleUnloadMs`. */
  async sweep (now = Date.now()): Promise<number> {
    let unloaded = 0
    for (const [key, p] of this.served) {
      const s = await p
      if (s === undefined) { this.served.delete(key); continue }
      if (s.sync.sessions.size > 0 || (s.sync.persistence?.dirty ?? false)) { s.idleSince = now; continue }
      if (now - s.idleSince < this.idleMs) continue
      this.served.delete(key)
      await this.dispose(s.sync)
      unloaded++
    }
    if (this.served.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
    if (unloaded > 0) log('unloaded %d idle docs', unloaded)
    return unloaded
  }

  /** Close every open document (flushing each). */
  async stop (): Promise<void> {
    this.stopped = true
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    this.sweeper = undefined
    const handles = await Promise.allSettled([...this.byId.values()])
    await Promise.all(handles.map(async r => { if (r.status === 'fulfilled') await r.value.close() }))
    const served = await Promise.allSettled([...this.served.values()])
    this.served.clear()
    await Promise.all(served.map(async r => { if (r.status === 'fulfilled' && r.value !== undefined) await this.dispose(r.value.sync) }))
  }
}
