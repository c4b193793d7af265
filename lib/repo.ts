/**
 * The open documents. Apps open docs by id and get one DocHandle per open doc.
 * A serving node (a gateway) also opens docs by key when a peer asks for one
 * it does not have open: that is `ServingRepo` (serving-repo.ts), which the
 * Node preset brings, so browser bundles leave it out.
 */
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { ClosedError } from './errors.js'
import { DocHandle } from './doc-handle.js'
import { logger } from './log.js'
import { docKeyFor, docKeyHex } from './protocol/doc-key.js'
import type { DocNames } from './storage/doc-names.js'
import { DocPersistence, type PersistenceOptions } from './storage/doc-persistence.js'
import type { StorageAdapter } from './storage/types.js'
import { EngineDoc } from './sync/engine-doc.js'
import type { SyncEngine } from './sync/engine.js'

const log = logger('repo')

/** The persistence's pending cap is the engine's (`limits.maxPendingBytes`), so it is not set here. */
export interface RepoOptions extends Omit<PersistenceOptions, 'maxPendingBytes'> {
  engine: SyncEngine
  storage: StorageAdapter
  meshKey?: Uint8Array
  /** unload docs opened for peers (by key) after this long without a session (default 60 s) */
  idleUnloadMs?: number
  /** keeps the ids of docs opened by id in storage (Node: storage/doc-names.ts) */
  names?: DocNames
  /** called with each doc built, before it syncs (Node: hooks its commits to the `change` event, feed/change-feed.ts) */
  opened?: (doc: EngineDoc) => void
}

export class Repo {
  /** docs the app opened, by id */
  protected readonly byId = new Map<string, Promise<DocHandle>>()
  protected stopped = false

  constructor (protected readonly opts: RepoOptions) {}

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

  /** Number of docs open for peers only (by key; see ServingRepo). */
  get servedCount (): number {
    return 0
  }

  /** Before the app opens the doc with this key (a ServingRepo closes its served copy). */
  protected async beforeOpen (_keyHex: string): Promise<void> {}

  /** The app's load of the doc with this key, `load` (a ServingRepo marks it, so that a peer's load by key waits for it). */
  protected async loadForApp (_keyHex: string, load: () => Promise<EngineDoc>): Promise<EngineDoc> {
    return await load()
  }

  private async load (docId: string): Promise<DocHandle> {
    const key = docKeyFor(docId, this.opts.meshKey)
    const keyHex = docKeyHex(key)
    const sync = await this.loadForApp(keyHex, async () => {
      await this.beforeOpen(keyHex)
      return await this.build(docId, key, keyHex)
    })
    this.opts.names?.remember(docId, keyHex)
    log('opened %s (%s)', docId, keyHex)
    return new DocHandle(sync, async () => {
      if (sync.closed) return
      this.byId.delete(sync.id)
      await this.dispose(sync)
    })
  }

  protected async build (docId: string, key: Uint8Array, keyHex: string, servedOnly = false): Promise<EngineDoc> {
    const doc = new Y.Doc()
    const engine = this.opts.engine
    const persistence = new DocPersistence(this.opts.storage, keyHex, doc, { ...this.opts, maxPendingBytes: engine.limits.maxPendingBytes })
    // the cap holds on load as it does for updates from peers, and is counted the same way (logged by the persistence)
    if ((await persistence.load()).droppedPendingBytes > 0) engine.countRejection('pending_overflow')
    const sync = new EngineDoc(docId, key, keyHex, doc, new Awareness(doc), persistence)
    this.opts.opened?.(sync)
    sync.servedOnly = servedOnly
    engine.addDoc(sync)
    return sync
  }

  protected async dispose (sync: EngineDoc): Promise<void> {
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

  /** Close every open document (flushing each). */
  async stop (): Promise<void> {
    this.stopped = true
    const handles = await Promise.allSettled([...this.byId.values()])
    await Promise.all(handles.map(async r => { if (r.status === 'fulfilled') await r.value.close() }))
    await this.opts.names?.settled()
  }
}
