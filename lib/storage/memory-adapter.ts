/**
 * The reference StorageAdapter: everything in a Map. Used by default, by the
 * fuzzer, and as the model the compliance suite checks other adapters against.
 */
import { checkKey, keyHasPrefix, type StorageAdapter, type StorageChunk, type StorageKey } from './types.js'

const SEP = '\u0000'

export class MemoryStorageAdapter implements StorageAdapter {
  /** first key part -> (whole key -> chunk): a range load touches one document's chunks, not all */
  private readonly data = new Map<string, Map<string, { key: StorageKey, data: Uint8Array }>>()
  private count = 0

  async load (key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key, 1)
    const hit = this.data.get(key[0])?.get(key.join(SEP))
    return hit === undefined ? undefined : hit.data.slice()
  }

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    checkKey(key, 1)
    let bucket = this.data.get(key[0])
    if (bucket === undefined) this.data.set(key[0], (bucket = new Map()))
    const k = key.join(SEP)
    if (!bucket.has(k)) this.count++
    bucket.set(k, { key: [...key], data: data.slice() })
  }

  async remove (key: StorageKey): Promise<void> {
    checkKey(key, 1)
    const bucket = this.data.get(key[0])
    if (bucket?.delete(key.join(SEP)) === true) {
      this.count--
      if (bucket.size === 0) this.data.delete(key[0])
    }
  }

  async loadRange (prefix: StorageKey): Promise<StorageChunk[]> {
    checkKey(prefix, 0)
    const out: StorageChunk[] = []
    for (const bucket of this.buckets(prefix)) {
      for (const v of bucket.values()) {
        if (keyHasPrefix(v.key, prefix)) out.push({ key: [...v.key], data: v.data.slice() })
      }
    }
    return out
  }

  async removeRange (prefix: StorageKey): Promise<void> {
    checkKey(prefix, 0)
    for (const bucket of this.buckets(prefix)) {
      for (const [k, v] of bucket) {
        if (keyHasPrefix(v.key, prefix)) { bucket.delete(k); this.count-- }
      }
    }
    for (const [first, bucket] of this.data) if (bucket.size === 0) this.data.delete(first)
  }

  private buckets (prefix: StorageKey): Array<Map<string, { key: StorageKey, data: Uint8Array }>> {
    if (prefix.length === 0) return [...this.data.values()]
    const b = this.data.get(prefix[0])
    return b === undefined ? [] : [b]
  }

  /** Number of stored chunks (for tests and diagnostics). */
  get size (): number {
    return this.count
  }
}
