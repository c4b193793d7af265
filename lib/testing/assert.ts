/**
 * The few strict assertions the exported test suites use, without Node's
 * `node:assert`, so `meshdoc/testing` runs in browsers too. Semantics follow
 * `node:assert/strict` for what is here: `equal` is `Object.is`; `deepEqual`
 * compares arrays, typed arrays, Maps, Sets and plain objects structurally.
 */
export class AssertionError extends Error {
  override name = 'AssertionError'
}

function show (v: unknown): string {
  try {
    return typeof v === 'string' ? JSON.stringify(v) : ArrayBuffer.isView(v) ? `${v.constructor.name}(${(v as Uint8Array).length})` : JSON.stringify(v) ?? String(v)
  } catch { return String(v) }
}

export function ok (value: unknown, message?: string): asserts value {
  if (value !== true && !value) throw new AssertionError(message ?? `expected a truthy value, got ${show(value)}`)
}

export function fail (message: string): never {
  throw new AssertionError(message)
}

export function equal<T> (actual: unknown, expected: T, message?: string): asserts actual is T {
  if (!Object.is(actual, expected)) throw new AssertionError(message ?? `expected ${show(expected)}, got ${show(actual)}`)
}

function same (a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false
  if (ArrayBuffer.isView(a)) {
    const x = a as unknown as ArrayLike<unknown>
    const y = b as unknown as ArrayLike<unknown>
    if (x.length !== y.length) return false
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false
    return true
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false
    for (const [k, v] of a) if (!b.has(k) || !same(v, b.get(k))) return false
    return true
  }
  if (a instanceof Set && b instanceof Set) {
    if (a.size !== b.size) return false
    for (const v of a) if (!b.has(v)) return false
    return true
  }
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false
    if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false
  }
  return true
}

export function deepEqual<T> (actual: unknown, expected: T, message?: string): asserts actual is T {
  if (!same(actual, expected)) throw new AssertionError(message ?? `expected ${show(expected)}, got ${show(actual)}`)
}

/** Resolves if `promise` rejects with an instance of `type` (when given); throws otherwise. */
export async function rejects (promise: Promise<unknown>, type?: abstract new (...args: never[]) => unknown, message?: string): Promise<void> {
  try {
    await promise
  } catch (err) {
    if (type !== undefined && !(err instanceof type)) throw new AssertionError(message ?? `expected a ${type.name}, got ${String(err)}`)
    return
  }
  throw new AssertionError(message ?? 'expected a rejection')
}

interface Assert {
  ok: typeof ok
  fail: typeof fail
  equal: typeof equal
  deepEqual: typeof deepEqual
  rejects: typeof rejects
}

const assert: Assert = { ok, fail, equal, deepEqual, rejects }
export default assert
