/**
 * What the app holds for one open document: a plain Y.Doc, its awareness, a
 * typed status stream, and waits for "saved locally" and "synced with a peer".
 */
import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import type { DocStatus, EngineDoc, EngineDocEvents, WhenSyncedOptions } from './sync/engine-doc.js'

export type { DocStatus, DocSyncProgress, PeerDocStatus, WhenSyncedOptions } from './sync/engine-doc.js'
export type DocHandleEvents = EngineDocEvents

export class DocHandle {
  /** @internal */
  constructor (
    private readonly sync: EngineDoc,
    private readonly onClose: (handle: DocHandle) => Promise<void>
  ) {}

  /** The document id the app chose (never sent on the wire). */
  get id (): string {
    return this.sync.id
  }

  /** A plain Y.Doc: bind it to any editor; edits sync and persist by themselves. */
  get doc (): Y.Doc {
    return this.sync.doc
  }

  /** Presence for this document (y-protocols Awareness), shared with peers. */
  get awareness (): Awareness {
    return this.sync.awareness
  }

  /** Peers holding the doc, whether each has stored our state, and whether we saved locally. */
  get status (): DocStatus {
    return this.sync.status()
  }

  get closed (): boolean {
    return this.sync.closed
  }

  on<K extends keyof DocHandleEvents>(name: K, f: DocHandleEvents[K]): void {
    this.sync.on(name, f)
  }

  off<K extends keyof DocHandleEvents>(name: K, f: DocHandleEvents[K]): void {
    this.sync.off(name, f)
  }

  once<K extends keyof DocHandleEvents>(name: K, f: DocHandleEvents[K]): void {
    this.sync.once(name, f)
  }

  /**
   * Resolve once `peer` (or, without one, every connected peer holding the doc,
   * and at least one) has acknowledged our whole state as stored, and we have
   * received its state. Rejects with TimeoutError, AbortError, or DeniedError
   * when `peer` refuses the doc or our writes to it (`read_only`, or
   * `quota_exceeded`: past our storage quota there); the `denied` event says
   * which, by name (`read_only`…).
   */
  async whenSynced (opts: WhenSyncedOptions = {}): Promise<void> {
    await this.sync.whenSynced(opts)
  }

  /** Resolve once every change made so far is committed to local storage. */
  async flush (): Promise<void> {
    await this.sync.persistence?.flush()
  }

  /** Flush, stop syncing this doc, and destroy the Y.Doc. Idempotent. */
  async close (): Promise<void> {
    await this.onClose(this)
  }
}
