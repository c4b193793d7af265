/**
 * The storage seam: opaque keys and bytes, in the spirit of automerge-repo's
 * five-method interface. Adapters know nothing about Yjs or documents.
 */

/** A key is a path of string parts; prefixes select ranges. */
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
   * write is durable (fsync / a strict IndexedDB transaction); rejects, and
   * leaves the previous value readable, if it is not.
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
