/**
 * docId -> open document. Opens lazily (load from storage, then join the
 * engine), hands out the same DocHandle while a doc is open, and closes cleanly.
 */
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { ClosedError } from './errors.js'
import { DocHandle } from './doc-handle.js'
import { logger } from './log.js'
import { docKeyFor, docKeyHex } from './protocol/doc-key.js'
import { DocPersistence, type PersistenceOptions } from './storage/doc-persistence.js'
import type { StorageAdapter } from './storage/types.js'
import { DocSync } from './sync/doc-sync.js'
import type { SyncEngine } from './sync/engine.js'

const log = logger('repo')

export interface RepoOptions extends PersistenceOptions {
  engine: SyncEngine
  storage: StorageAdapter
  meshKey?: Uint8Array
}

export class Repo {
  private readonly open_ = new Map<string, Promise<DocHandle>>()
  private stopped = false

  constructor (private readonly opts: RepoOptions) {}

  /** Open (or return the already open) document `docId`. */
  async open (docId: string): Promise<DocHandle> {
    if (this.stopped) throw new ClosedError('node is stopped')
    if (typeof docId !== 'string' || docId.length === 0) throw new TypeError('docId must be a non-empty string')
    let p = this.open_.get(docId)
    if (p === undefined) {
      p = this.load(docId)
      this.open_.set(docId, p)
      p.catch(() => { if (this.open_.get(docId) === p) this.open_.delete(docId) })
    }
    return await p
  }

  /** Ids of the documents open now. */
  get openDocIds (): string[] {
    return [...this.open_.keys()]
  }

  private async load (docId: string): Promise<DocHandle> {
    const key = docKeyFor(docId, this.opts.meshKey)
    const keyHex = docKeyHex(key)
    const doc = new Y.Doc()
    const persistence = new DocPersistence(this.opts.storage, keyHex, doc, this.opts)
    await persistence.load()
    const awareness = new Awareness(doc)
    const sync = new DocSync(docId, key, keyHex, doc, awareness, persistence)
    this.opts.engine.addDoc(sync)
    log('opened %s (%s)', docId, keyHex)
    return new DocHandle(sync, async (h) => { await this.close(h, sync) })
  }

  private async close (handle: DocHandle, sync: DocSync): Promise<void> {
    if (sync.closed) return
    sync.closed = true
    this.open_.delete(sync.id)
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
    const handles = await Promise.allSettled([...this.open_.values()])
    await Promise.all(handles.map(async r => { if (r.status === 'fulfilled') await r.value.close() }))
  }
}
