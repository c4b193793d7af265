/**
 * A document as its storage holds it, read only: every chunk under its key
 * applied to a fresh Y.Doc, snapshots first (as DocPersistence loads it, but
 * writing nothing: no compaction, no name). Safe while a node has the doc
 * open (the store allows several readers and writers). For what a webhook
 * delivers of a doc that is not loaded, and the sweep after a restart.
 */
import * as Y from 'yjs'
import { applyChunk } from '../storage/chunk-format.js'
import type { StorageAdapter } from '../storage/types.js'

/** The doc stored under `keyHex`, or undefined when nothing is stored there. Unreadable chunks are skipped. */
export async function loadStoredDoc (storage: StorageAdapter, keyHex: string): Promise<Y.Doc | undefined> {
  const chunks = await storage.loadRange([keyHex])
  if (chunks.length === 0) return undefined
  const rank = (k: readonly string[]): string => `${k[1] === 's' ? 0 : 1}${k[2] ?? ''}`
  chunks.sort((a, b) => rank(a.key) < rank(b.key) ? -1 : rank(a.key) > rank(b.key) ? 1 : 0)
  const doc = new Y.Doc({ gc: true })
  Y.transact(doc, () => {
    for (const c of chunks) {
      if (c.key.length !== 3 || (c.key[1] !== 'r' && c.key[1] !== 's')) continue
      try {
        applyChunk(doc, c.data, null)
      } catch {
        // the node's own load logs it; a later chunk may still apply
      }
    }
  })
  return doc
}
