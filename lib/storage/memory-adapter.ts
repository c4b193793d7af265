/**
 * The reference StorageAdapter: everything in a Map. Used by default, by the
 * fuzzer, and as the model the compliance suite checks other adapters against.
 */
import { keyHasPrefix, type StorageAdapter, type StorageChunk, type StorageKey } from './types.js'

const SEP = '\u0000'

export class MemoryStorageAdapter implements StorageAdapter {
  private readonly data = new Map<string, { key: StorageKey, data: Uint8Array }>()

  async load (key: StorageKey): Promise<Uint8Array | undefined> {
    const hit = this.data.get(key.join(SEP))
    return hit === undefined ? undefined : hit.data.slice()
  }

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    this.data.set(key.join(SEP), { key: [...key], data: data.slice() })
  }

  async remove (key: StorageKey): Promise<void> {
    this.data.delete(key.join(SEP))
  }

  async loadRange (prefix: StorageKey): Promise<StorageChunk[]> {
    const out: StorageChunk[] = []
    for (const v of this.data.values()) {
      if (keyHasPrefix(v.key, prefix)) out.push({ key: [...v.key], data: v.data.slice() })
    }
    return out
  }

  async removeRange (prefix: StorageKey): Promise<void> {
    for (const [k, v] of this.data) if (keyHasPrefix(v.key, prefix)) this.data.delete(k)
  }

  /** Number of stored chunks (for tests and diagnostics). */
  get size (): number {
    return this.data.size
  }
}
