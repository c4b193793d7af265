/**
 * Saves gathered for `delayMs` and issued together, so the storage commits
 * them as one group (one append and one fsync for the lot, CommitQueue)
 * instead of one commit each: a webhook writes two records per batch, and a
 * fleet's batches come a few hundred a second. Each `save` resolves when its
 * record is durable, as `StorageAdapter.save` does; a later save of the same
 * key before the group goes replaces the earlier one (both callers wait for it).
 */
import type { StorageAdapter, StorageKey } from '../storage/types.js'

interface Pending { key: StorageKey, data: Uint8Array, waiters: Array<{ resolve: () => void, reject: (err: unknown) => void }> }

export class GroupedWrites {
  private pending = new Map<string, Pending>()
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor (private readonly storage: StorageAdapter, private readonly delayMs = 20) {}

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const id = JSON.stringify(key)
      const p = this.pending.get(id)
      if (p !== undefined) {
        p.data = data
        p.waiters.push({ resolve, reject })
      } else {
        this.pending.set(id, { key, data, waiters: [{ resolve, reject }] })
      }
      this.timer ??= setTimeout(() => { this.flush() }, this.delayMs)
    })
  }

  /** Issue everything gathered now (in one tick: one group commit). */
  flush (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const group = this.pending
    this.pending = new Map()
    for (const p of group.values()) {
      this.storage.save(p.key, p.data).then(() => { for (const w of p.waiters) w.resolve() }, (err: unknown) => { for (const w of p.waiters) w.reject(err) })
    }
  }
}
