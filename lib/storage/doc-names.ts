/**
 * The ids of the documents a node opened by id, kept in its storage so that
 * `meshdoc ls` (and anyone reading the store) can name them. Documents live
 * under their key (a hash of the id, keyed by the mesh key), so a store alone
 * cannot say what `3f9a…` is; a node that opened the doc by id can.
 *
 *   ['_names', keyHex]  the doc id, UTF-8
 *
 * Written once per doc, in the background of its first open (a failed write
 * is logged and tried again on the next open). A node serving docs by key
 * (a gateway) never learns their ids and writes nothing. Node entry only.
 */
import { logger } from '../log.js'
import type { StorageAdapter } from './types.js'

const log = logger('storage')

/** the storage bucket of the names: apart from documents (hex keys) and the identity (`_meshdoc`) */
export const NAMES_BUCKET = '_names'

export class DocNames {
  private known: Promise<Set<string>> | undefined
  private readonly writes = new Set<Promise<void>>()

  constructor (private readonly storage: StorageAdapter) {}

  /** Remember that the doc stored under `keyHex` is `docId`; returns at once. */
  remember (docId: string, keyHex: string): void {
    const write = this.write(docId, keyHex).catch((err: unknown) => {
      log('could not store the name of %s: %s', keyHex, (err as Error).message)
    }).finally(() => { this.writes.delete(write) })
    this.writes.add(write)
  }

  /** Resolves once every name write started so far is done (before the storage closes). */
  async settled (): Promise<void> {
    await Promise.all([...this.writes])
  }

  private async write (docId: string, keyHex: string): Promise<void> {
    this.known ??= this.storage.loadRange([NAMES_BUCKET]).then(chunks => new Set(chunks.map(c => c.key[1])))
    let known: Set<string>
    try {
      known = await this.known
    } catch (err) {
      this.known = undefined // read again next time
      throw err
    }
    if (known.has(keyHex)) return
    known.add(keyHex)
    try {
      await this.storage.save([NAMES_BUCKET, keyHex], new TextEncoder().encode(docId))
    } catch (err) {
      known.delete(keyHex)
      throw err
    }
  }
}

/** Every name in `storage`: doc key (hex) to doc id. */
export async function readDocNames (storage: StorageAdapter): Promise<Map<string, string>> {
  const names = new Map<string, string>()
  const decoder = new TextDecoder('utf-8', { fatal: false })
  for (const c of await storage.loadRange([NAMES_BUCKET])) {
    if (c.key.length === 2) names.set(c.key[1], decoder.decode(c.data))
  }
  return names
}
