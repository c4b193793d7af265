/**
 * The storage seam: opaque keys and bytes, in the spirit of automerge-repo's
 * five-method interface. Adapters know nothing about Yjs or documents.
 */

/**
 * A key is a path of string parts (at least one; any string, case-sensitive);
 * prefixes select ranges by whole parts: ['a'] covers ['a', 'b'] but not ['ab'].
 */
export type StorageKey = readonly string[]

export interface StorageChunk {
  key: StorageKey
  data: Uint8Array
}

export interface StorageAdapter {
  /** The bytes at `key`, or `undefined` when there are none. */
  load: (key: StorageKey) => Promise<Uint8Array | undefined>
  /**
   * Store `data` at `key`, replacing what was there. Resolves only once the
   * write is durable (fsync / a strict IndexedDB transaction). If it rejects
   * (StorageError), the key holds the previous value or, when the failure came
   * after the bytes reached the disk (a failed fsync), possibly the new one;
   * never anything else.
   *
   * Every method takes effect in the order of the calls on one adapter, even
   * when the caller does not await: a load sees the saves issued before it.
   * Several adapters on one store (tabs, processes) see each other's committed
   * writes; an operation started after another one resolved takes effect after it.
   */
  save: (key: StorageKey, data: Uint8Array) => Promise<void>
  /** Remove `key`; removing a missing key is not an error. Durable on resolve. */
  remove: (key: StorageKey) => Promise<void>
  /** Every chunk whose key starts with `prefix` (all of them for `[]`). */
  loadRange: (prefix: StorageKey) => Promise<StorageChunk[]>
  /** Remove every chunk whose key starts with `prefix`. Durable on resolve. */
  removeRange: (prefix: StorageKey) => Promise<void>
  /** Release files or connections. Optional; idempotent. */
  close?: () => Promise<void>
}

/** True when `key` starts with `prefix`. */
export function keyHasPrefix (key: StorageKey, prefix: StorageKey): boolean {
  if (prefix.length > key.length) return false
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false
  return true
}

/** Throw a TypeError unless `key` is an array of at least `min` strings. */
export function checkKey (key: StorageKey, min: number): void {
  if (!Array.isArray(key) || key.length < min || key.some(p => typeof p !== 'string')) {
    throw new TypeError(`a storage key must be an array of at least ${min} string(s)`)
  }
}
