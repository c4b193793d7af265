/**
 * What a read-only peer may send: an update that adds nothing to the doc (no
 * struct past what the doc holds, no deletion it lacks) is not a write, so it
 * is acknowledged rather than refused. That is every answer of a reader to
 * our SYNC1, whatever it held: without this, a reader that was behind on some
 * deletion (or held anything at all) was refused `read_only` on every connect,
 * counted as `forbidden`, and never in sync with the gateway. Node only (the
 * Node preset hands it to the engine, `SyncEngineOptions.addsNothing`); a
 * browser node refuses every update of a read-only peer.
 *
 * The update is validated here first (as any peer's is), and only the verdict
 * leaves: the engine then takes the frame as one that holds nothing, so no
 * byte of a reader's update is ever applied, and none claims an author or
 * charges a quota.
 */
import * as Y from 'yjs'
import type { Limits } from './limits.js'
import { validateUpdate } from './validate-update.js'
import type { EngineDoc } from '../sync/engine-doc.js'
import { deleteRangesOf } from '../yjs/update-batch.js'

/** Is every struct of the update already in the doc, and every deletion already made? False for any update that does not validate. */
export function addsNothing (doc: EngineDoc, update: Uint8Array, limits: Limits): boolean {
  if (update.length > limits.maxUpdateBytes) return false
  let checked: Uint8Array
  try {
    checked = validateUpdate(doc.doc, update, limits.maxNestingDepth, limits.maxItemsPerUpdate).bytes
  } catch {
    return false
  }
  const { structs, ds } = Y.decodeUpdate(checked)
  const store = doc.doc.store
  for (const s of structs) {
    // a struct that starts at or past what we hold is new, even an empty one (Yjs integrates
    // a zero-length item at the clock it starts at, and an item replaces a map value)
    if (!(s instanceof Y.Skip) && s.id.clock + Math.max(s.length, 1) > Y.getState(store, s.id.client)) return false
  }
  if (ds.clients.size === 0) return true
  // the doc's deletions, merged and sorted (the fingerprints' cache, kept until the next change)
  const ours = doc.deleteRanges ??= deleteRangesOf(doc.doc)
  for (const [client, items] of ds.clients) {
    const ranges = ours.get(client) ?? []
    for (const { clock, len } of items) if (!covered(ranges, clock, len)) return false
  }
  return true
}

/** Is [clock, clock + len) inside one of the sorted, merged ranges? */
function covered (ranges: Array<{ clock: number, len: number }>, clock: number, len: number): boolean {
  let lo = 0
  let hi = ranges.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const { clock: start, len: n } = ranges[mid]
    if (clock < start) hi = mid - 1
    else if (clock >= start + n) lo = mid + 1
    else return clock + len <= start + n
  }
  return false
}
