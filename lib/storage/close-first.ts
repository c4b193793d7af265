/**
 * A storage adapter whose `close()` first runs what must be written before
 * the storage goes (a node's quota ledger, its author bindings): a node
 * calls `close()` last, once its engine has stopped. Everything else is the
 * adapter's own.
 */
import type { StorageAdapter } from './types.js'

export function closingFirst (storage: StorageAdapter, first: Array<() => Promise<void>>): StorageAdapter {
  if (first.length === 0) return storage
  const close = async (): Promise<void> => {
    for (const f of first) await f()
    await storage.close?.()
  }
  return new Proxy(storage, {
    get (target, prop) {
      if (prop === 'close') return close
      const v: unknown = Reflect.get(target, prop, target)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
}
