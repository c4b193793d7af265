/**
 * The open documents of a serving node (a gateway, `serveAllDocs`): besides
 * the docs the app opens by id, docs opened by key when a peer asks for one
 * that is not open (from storage if stored, empty otherwise), unloaded again
 * after `idleUnloadMs` without a session. Node only (the Node preset brings
 * it): browsers never serve by key.
 */
import { fromString } from 'uint8arrays/from-string'
import { logger } from './log.js'
import { Access } from './policy/types.js'
import { docKeyFor, docKeyHex, keyOnlyDocId } from './protocol/doc-key.js'
import { ClosedError } from './errors.js'
import { Repo, type RepoOptions } from './repo.js'
import { AwarenessSweep } from './sync/awareness-sweep.js'
import { docResolver } from './sync/doc-resolver.js'
import type { EngineDoc } from './sync/engine-doc.js'
import type { SyncEngineOptions } from './sync/engine.js'

const log = logger('repo')

interface Served { sync: EngineDoc, idleSince: number }

/** What serving stored docs by key takes (`serveAllDocs`): the engine's options for it, and the repo that opens them. */
export interface ServeByKey {
  engine: Pick<SyncEngineOptions, 'docResolver'>
  repo: (opts: RepoOptions) => Repo
}

/**
 * Serving by key for one node (`PlatformPreset.serving`, which the Node
 * preset brings): the engine opens a doc a peer asks for through the repo,
 * if the policy lets the peer see its key form (`key:<hex>`).
 */
export function serveByKey (): ServeByKey {
  let served: ServingRepo | undefined
  return {
    engine: {
      docResolver: docResolver(
        async (peer, keyHex, ifStored) => await served?.openFor(peer, keyHex, ifStored),
        (doc) => { served?.release(doc) }
      )
    },
    repo: (opts) => (served = new ServingRepo(opts))
  }
}

export class ServingRepo extends Repo {
  /** docs opened for peers, by key */
  private readonly served = new Map<string, Promise<Served | undefined>>()
  /** the app's loads under way (`open` by id), by key: a peer's load by key waits for it instead of building a second copy */
  private readonly appOpening = new Map<string, Promise<EngineDoc>>()
  private sweeper: ReturnType<typeof setInterval> | undefined
  /** one presence timer for every doc opened for peers, not one each (awareness-sweep.ts) */
  private readonly presence = new AwarenessSweep()
  private readonly idleMs: number

  constructor (opts: RepoOptions) {
    super(opts)
    this.idleMs = opts.idleUnloadMs ?? 60_000
  }

  override get servedCount (): number {
    return this.served.size
  }

  /**
   * Open a doc by key for a peer: from storage if it is stored, empty
   * otherwise. Resolves with the engine's EngineDoc, already added.
   */
  async openByKey (keyHex: string): Promise<EngineDoc | undefined> {
    if (this.stopped) return undefined
    // the app opened it (by id) meanwhile, or is opening it: its copy is the one (a second would be refused by the engine)
    const open = this.opts.engine.doc(keyHex)
    if (open !== undefined) return open
    const app = this.appOpening.get(keyHex)
    if (app !== undefined) {
      await app.catch(() => {})
      return this.opts.engine.doc(keyHex) ?? await this.openByKey(keyHex)
    }
    let p = this.served.get(keyHex)
    if (p === undefined) {
      p = this.loadByKey(keyHex)
      this.served.set(keyHex, p)
      this.startSweeper()
    }
    return (await p)?.sync
  }

  /**
   * `openByKey` for a peer whom the policy lets see the doc's key form
   * (`key:<hex>`); undefined for any other. With `ifStored`, null (and
   * nothing built) when storage holds nothing under the key.
   */
  async openFor (peer: string, keyHex: string, ifStored = false): Promise<EngineDoc | null | undefined> {
    if (this.opts.engine.accessFor(peer, keyOnlyDocId(keyHex)) === Access.NONE) return undefined
    if (ifStored && !this.served.has(keyHex) && (await this.opts.storage.loadRange([keyHex])).length === 0) return null
    return await this.openByKey(keyHex)
  }

  private async loadByKey (keyHex: string): Promise<Served | undefined> {
    const sync = await this.build(keyOnlyDocId(keyHex), fromString(keyHex, 'base16'), keyHex, true)
    // a doc held for peers has no user here: no presence of its own to announce, and renew every
    // 15 s (1,000 served docs made an idle gateway send 67 AWARENESS frames a second); it has no
    // session yet, so no peer hears of the removal
    sync.awareness.setLocalState(null)
    this.presence.add(sync.awareness)
    if (this.stopped) { await this.dispose(sync); return undefined }
    return { sync, idleSince: Date.now() }
  }

  /** Unload a doc opened for peers now (an empty one only readers asked for: they watch it instead). */
  release (doc: EngineDoc): void {
    // at once: the engine drops the doc before any other frame can find it open (dispose's first steps are synchronous)
    if (!this.served.has(doc.keyHex) || doc.closed) return
    this.served.delete(doc.keyHex)
    this.dispose(doc).catch((err: unknown) => { log.error('unloading %s failed: %e', doc.keyHex, err) })
  }

  /**
   * The doc `docId` as loaded now, for the node's own brief use (the gateway's
   * HTTP document API): the app's copy or the one served to peers, the same
   * doc their edits go to. Not loaded, it is loaded as served by key, so
   * peers that hold it are offered it and it unloads again once idle, as if a
   * peer had asked; with `ifStored`, undefined (nothing loaded) when storage
   * holds nothing under its key. It may close after any await: check
   * `closed` before each use. (Here, not in Repo: the browser entry has none.)
   */
  async borrow (docId: string, ifStored: boolean): Promise<EngineDoc | undefined> {
    if (this.stopped) throw new ClosedError('node is stopped')
    if (typeof docId !== 'string' || docId.length === 0) throw new TypeError('docId must be a non-empty string')
    // the app's open under way: its copy, once loaded
    await this.byId.get(docId)?.catch(() => {})
    const keyHex = docKeyHex(docKeyFor(docId, this.opts.meshKey))
    const loaded = this.opts.engine.doc(keyHex)
    if (loaded !== undefined) return loaded
    if (ifStored && !this.served.has(keyHex) && (await this.opts.storage.loadRange([keyHex])).length === 0) return undefined
    // the app may have opened it meanwhile
    return this.opts.engine.doc(keyHex) ?? await this.openByKey(keyHex)
  }

  protected override async loadForApp (keyHex: string, load: () => Promise<EngineDoc>): Promise<EngineDoc> {
    const p = load()
    this.appOpening.set(keyHex, p)
    try {
      return await p
    } finally {
      if (this.appOpening.get(keyHex) === p) this.appOpening.delete(keyHex)
    }
  }

  /** A doc served by key becomes the app's: close the served copy first (it is flushed). */
  protected override async beforeOpen (keyHex: string): Promise<void> {
    const served = this.served.get(keyHex)
    if (served === undefined) return
    this.served.delete(keyHex)
    const s = await served
    if (s !== undefined) await this.dispose(s.sync)
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

  override async stop (): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper)
    this.sweeper = undefined
    this.presence.stop()
    await super.stop()
    const served = await Promise.allSettled([...this.served.values()])
    this.served.clear()
    await Promise.all(served.map(async r => { if (r.status === 'fulfilled' && r.value !== undefined) await this.dispose(r.value.sync) }))
  }
}
