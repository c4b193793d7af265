/**
 * Engine docs built the way the Repo builds them (`Repo.build` in
 * lib/repo.ts), for tests that drive a SyncEngine without a Repo or a
 * MeshNode: the key is the HMAC of the id (`docKeyFor`, with the mesh key if
 * one is given), storage is read through a DocPersistence under that key and
 * loaded before the engine sees the doc, the awareness belongs to the doc,
 * and the doc is added to the engine last.
 *
 *   openEngineDoc(engine, 'notes/a')                         no storage (a doc in memory)
 *   await loadEngineDoc(engine, 'notes/a', { storage })      stored: persistence loaded first
 *   reopenEngineDoc(engine, sync)                            the app opens a closed doc again
 *
 * Closing stays with the test (`engine.removeDoc(sync)`, or `engine.stop()`),
 * since tests close docs in different ways. The test also destroys the
 * awareness, the one made here included (`sync.awareness.destroy()`): it runs
 * an interval timer, and a mocha process with one left running never exits.
 */
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { docKeyFor, docKeyHex } from '../../lib/protocol/doc-key.js'
import { DocPersistence, type PersistenceOptions } from '../../lib/storage/doc-persistence.js'
import type { StorageAdapter } from '../../lib/storage/types.js'
import { EngineDoc } from '../../lib/sync/engine-doc.js'
import type { SyncEngine } from '../../lib/sync/engine.js'

export interface EngineDocOptions {
  /** the document (default: a new Y.Doc) */
  doc?: Y.Doc
  /** its awareness (default: a new Awareness of `doc`) */
  awareness?: Awareness
  /** hash the id with this mesh key, as a node with `meshKey` does (default: the public key) */
  meshKey?: Uint8Array
  /** listens to the doc's 'error' events from before the engine sees it */
  onError?: (err: Error) => void
}

export interface StoredEngineDocOptions extends EngineDocOptions {
  /** the store the doc is loaded from and committed to, under its key */
  storage: StorageAdapter
  /** compaction settings, as a node passes its RepoOptions */
  persistence?: PersistenceOptions
}

/** The doc key for `id`, as the Repo computes it: raw bytes and hex. */
export function engineDocKey (id: string, meshKey?: Uint8Array): { key: Uint8Array, keyHex: string } {
  const key = docKeyFor(id, meshKey)
  return { key, keyHex: docKeyHex(key) }
}

function add (engine: SyncEngine, sync: EngineDoc, onError: ((err: Error) => void) | undefined): EngineDoc {
  if (onError !== undefined) sync.on('error', onError)
  engine.addDoc(sync)
  return sync
}

/** Open `id` in `engine` without storage; returns the EngineDoc, already added. */
export function openEngineDoc (engine: SyncEngine, id: string, opts: EngineDocOptions = {}): EngineDoc {
  const { key, keyHex } = engineDocKey(id, opts.meshKey)
  const doc = opts.doc ?? new Y.Doc()
  const sync = new EngineDoc(id, key, keyHex, doc, opts.awareness ?? new Awareness(doc), undefined)
  return add(engine, sync, opts.onError)
}

/** Open `id` in `engine` from `storage`: the stored state is loaded before the doc is added. */
export async function loadEngineDoc (engine: SyncEngine, id: string, opts: StoredEngineDocOptions): Promise<EngineDoc> {
  const { key, keyHex } = engineDocKey(id, opts.meshKey)
  const doc = opts.doc ?? new Y.Doc()
  const persistence = new DocPersistence(opts.storage, keyHex, doc, opts.persistence)
  await persistence.load()
  const sync = new EngineDoc(id, key, keyHex, doc, opts.awareness ?? new Awareness(doc), persistence)
  return add(engine, sync, opts.onError)
}

/**
 * The app opens a doc it closed (`engine.removeDoc(old)`) again: the same
 * Y.Doc, awareness and persistence under a new EngineDoc, added to `engine`.
 */
export function reopenEngineDoc (engine: SyncEngine, old: EngineDoc, opts: Pick<EngineDocOptions, 'onError'> = {}): EngineDoc {
  const sync = new EngineDoc(old.id, old.key, old.keyHex, old.doc, old.awareness, old.persistence)
  return add(engine, sync, opts.onError)
}
