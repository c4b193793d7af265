/** What the crash-test writer and its parent agree on. */
import type { FsStorageOptions } from '../../adapters/fs-storage/index.js'

/** the document's storage key (hex, like a real doc key) */
export const CRASH_DOC = 'c7a5' + '0'.repeat(28)

/** merges after almost every compaction, so kills land in them too */
export const CRASH_STORE_OPTIONS: FsStorageOptions = { mergeMinDeadBytes: 0, maxFilesPerBucket: 3 }

/** The value written for `seq`: deterministic, so the parent can check it; some are big enough to span pages. */
export function valueFor (seq: number): string {
  if (seq % 211 === 0) {
    let s = `v${seq}:`
    let x = seq
    while (s.length < 9_000) { x = (x * 1103515245 + 12345) % 2147483648; s += String.fromCharCode(97 + (x % 26)) }
    return s
  }
  return `v${seq}:${'x'.repeat(seq % 97)}`
}
