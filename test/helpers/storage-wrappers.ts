/**
 * StorageAdapter wrappers for tests: log every call, hold saves at a gate,
 * fail on demand.
 */
import type { StorageAdapter, StorageChunk, StorageKey } from '../../lib/storage/types.js'

export interface Call { op: 'save' | 'remove' | 'load' | 'loadRange' | 'removeRange', key: StorageKey, phase: 'start' | 'done' | 'failed' }

/** Forwards to `inner`, logging calls; `beforeSave` / `beforeRemove` may delay or throw. */
export class InstrumentedAdapter implements StorageAdapter {
  readonly calls: Call[] = []
  beforeSave: ((key: StorageKey, data: Uint8Array) => Promise<void>) | undefined
  beforeRemove: ((key: StorageKey) => Promise<void>) | undefined
  beforeLoadRange: ((prefix: StorageKey) => Promise<void>) | undefined
  removesInFlight = 0
  maxRemovesInFlight = 0

  constructor (readonly inner: StorageAdapter) {}

  private async track<T> (op: Call['op'], key: StorageKey, run: () => Promise<T>): Promise<T> {
    this.calls.push({ op, key: [...key], phase: 'start' })
    try {
      const out = await run()
      this.calls.push({ op, key: [...key], phase: 'done' })
      return out
    } catch (err) {
      this.calls.push({ op, key: [...key], phase: 'failed' })
      throw err
    }
  }

  async load (key: StorageKey): Promise<Uint8Array | undefined> {
    return await this.track('load', key, async () => await this.inner.load(key))
  }

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    await this.track('save', key, async () => {
      await this.beforeSave?.(key, data)
      await this.inner.save(key, data)
    })
  }

  async remove (key: StorageKey): Promise<void> {
    this.removesInFlight++
    this.maxRemovesInFlight = Math.max(this.maxRemovesInFlight, this.removesInFlight)
    try {
      await this.track('remove', key, async () => {
        await this.beforeRemove?.(key)
        await this.inner.remove(key)
      })
    } finally {
      this.removesInFlight--
    }
  }

  async loadRange (prefix: StorageKey): Promise<StorageChunk[]> {
    return await this.track('loadRange', prefix, async () => {
      await this.beforeLoadRange?.(prefix)
      return await this.inner.loadRange(prefix)
    })
  }

  async removeRange (prefix: StorageKey): Promise<void> {
    await this.track('removeRange', prefix, async () => { await this.inner.removeRange(prefix) })
  }

  async close (): Promise<void> {
    await this.inner.close?.()
  }

  /** Keys of calls of `op` that reached `phase`. */
  keys (op: Call['op'], phase: Call['phase'] = 'done'): string[] {
    return this.calls.filter(c => c.op === op && c.phase === phase).map(c => c.key.join('/'))
  }
}

/** A promise with its resolve function: a gate a test opens when it wants. */
export function gate (): { promise: Promise<void>, open: () => void } {
  let open!: () => void
  const promise = new Promise<void>(resolve => { open = resolve })
  return { promise, open }
}

/** Poll `cond` every 5 ms; rejects after `timeout` ms naming `what`. */
export async function waitUntil (cond: () => boolean, what: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

export const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']
