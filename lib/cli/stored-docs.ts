/**
 * The documents a data directory holds, for `meshdoc ls` and the admin
 * port's `/docs`: each by id where a node that opened it by id stored the
 * name (storage/doc-names.ts), by key otherwise (a gateway serves by key and
 * never learns ids), with its size on disk and the time of its last change.
 * Reads the directory and file metadata, and the names; no document is loaded,
 * and it is safe while a gateway runs on the directory.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readDocNames } from '../storage/doc-names.js'
import type { StorageAdapter } from '../storage/types.js'
import { DOC_DIR, storeDir } from './data-dir.js'

export interface StoredDocInfo {
  /** the doc id, when this store knows it; otherwise null */
  id: string | null
  /** the doc's key (hex), as peers and gateways see it */
  key: string
  /** bytes on disk (records and snapshots, before compaction merges them) */
  bytes: number
  /** last change, ISO 8601 */
  changed: string
}

/**
 * `listStoredDocs` for a running gateway's `/docs`: one listing shared by
 * every request within `maxAgeMs`, so a busy scraper does not walk a large
 * store each time.
 */
export function cachedStoredDocs (dataDir: string, storage: StorageAdapter, maxAgeMs = 5000): () => Promise<StoredDocInfo[]> {
  let last: { at: number, docs: Promise<StoredDocInfo[]> } | undefined
  return async () => {
    if (last === undefined || Date.now() - last.at >= maxAgeMs) {
      const docs = listStoredDocs(dataDir, storage)
      last = { at: Date.now(), docs }
      docs.catch(() => { if (last?.docs === docs) last = undefined })
    }
    return await last.docs
  }
}

/** Every document in the data directory, sorted by id (named first), then key. */
export async function listStoredDocs (dataDir: string, storage: StorageAdapter): Promise<StoredDocInfo[]> {
  const root = storeDir(dataDir)
  const names = await readDocNames(storage)
  const dirs = (await readdir(root, { withFileTypes: true })).filter(e => e.isDirectory() && DOC_DIR.test(e.name))
  const docs: StoredDocInfo[] = []
  for (const d of dirs) {
    let bytes = 0
    let changed = 0
    let files = 0
    for (const f of await readdir(join(root, d.name)).catch(() => [] as string[])) {
      const s = await stat(join(root, d.name, f)).catch(() => undefined)
      if (s === undefined || !s.isFile()) continue
      files++
      bytes += s.size
      changed = Math.max(changed, s.mtimeMs)
    }
    if (files === 0) continue // a document removed, or not yet written
    docs.push({ id: names.get(d.name) ?? null, key: d.name, bytes, changed: new Date(changed).toISOString() })
  }
  return docs.sort((a, b) => a.id !== null && b.id !== null ? a.id.localeCompare(b.id) : a.id !== null ? -1 : b.id !== null ? 1 : a.key.localeCompare(b.key))
}
