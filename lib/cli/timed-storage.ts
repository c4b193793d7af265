/**
 * Times every commit a StorageAdapter makes (`save`, `remove`, `removeRange`
 * resolve only once durable, so their duration is the commit latency) without
 * changing anything else: every other property, including ones added to the
 * interface later, passes straight through.
 */
import type { StorageAdapter } from '../storage/types.js'

export type CommitOp = 'save' | 'remove' | 'removeRange'

/** `onCommit(seconds, op, ok)` is called once per commit, after it settles. */
export function timeCommits<A extends StorageAdapter> (adapter: A, onCommit: (seconds: number, op: CommitOp, ok: boolean) => void): A {
  const timed = (op: CommitOp) => async (...args: unknown[]): Promise<void> => {
    const t0 = process.hrtime.bigint()
    let ok = false
    try {
      await (adapter[op] as (...a: unknown[]) => Promise<void>).apply(adapter, args)
      ok = true
    } finally {
      onCommit(Number(process.hrtime.bigint() - t0) / 1e9, op, ok)
    }
  }
  const wrapped: Record<CommitOp, (...args: unknown[]) => Promise<void>> = {
    save: timed('save'),
    remove: timed('remove'),
    removeRange: timed('removeRange')
  }
  return new Proxy(adapter, {
    get (target, prop) {
      if (prop === 'save' || prop === 'remove' || prop === 'removeRange') return wrapped[prop]
      const v: unknown = Reflect.get(target, prop, target)
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
}
