/**
 * Encode "what changed since X" without a per-transaction `update` listener.
 *
 * Yjs encodes a V1/V2 update for every transaction as soon as anyone listens
 * for `update`, which roughly doubles the cost of a keystroke burst. Instead we
 * record, per transaction, only where the batch starts (the state vector before
 * the first transaction) and the delete ranges the transactions produced, and
 * encode one V1 update per batch straight from the struct store.
 *
 * This uses only Yjs' public exports (UpdateEncoderV1, findIndexSS, Item#write),
 * mirroring Yjs' own `writeClientsStructs` / `writeDeleteSet`.
 */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'

/** client -> sorted, merged [clock, len] ranges */
export type DeleteRanges = Map<number, Array<[number, number]>>

export class UpdateBatch {
  /** client -> first clock not yet covered by the batch (taken before its first transaction) */
  readonly start = new Map<number, number>()
  readonly deletes: DeleteRanges = new Map()
  /** transactions absorbed */
  txns = 0
  private sorted = true

  get empty (): boolean {
    return this.txns === 0
  }

  /** Record one finished transaction. Returns false if it changed nothing. */
  absorbTransaction (tr: Y.Transaction): boolean {
    let changed = false
    tr.afterState.forEach((clock, client) => {
      const before = tr.beforeState.get(client) ?? 0
      if (clock > before) {
        changed = true
        if (!this.start.has(client)) this.start.set(client, before)
      }
    })
    tr.deleteSet.clients.forEach((items, client) => {
      if (items.length === 0) return
      changed = true
      let ranges = this.deletes.get(client)
      if (ranges === undefined) this.deletes.set(client, (ranges = []))
      for (const it of items) ranges.push([it.clock, it.len])
      this.sorted = false
    })
    if (changed) this.txns++
    return changed
  }

  /** Merge another batch into this one (used when a slow peer makes us coalesce). */
  absorbBatch (other: UpdateBatch): void {
    other.start.forEach((clock, client) => {
      const mine = this.start.get(client)
      if (mine === undefined || clock < mine) this.start.set(client, clock)
    })
    other.deletes.forEach((ranges, client) => {
      let mine = this.deletes.get(client)
      if (mine === undefined) this.deletes.set(client, (mine = []))
      for (const r of ranges) mine.push([r[0], r[1]])
      this.sorted = false
    })
    this.txns += other.txns
  }

  /** Encode structs added since `start` plus this batch's deletions, as one V1 update. */
  encode (doc: Y.Doc): Uint8Array {
    if (!this.sorted) {
      sortAndMerge(this.deletes)
      this.sorted = true
    }
    return encodeUpdateV1(doc, this.start, this.deletes, true)
  }
}

/**
 * V1 update with the structs `doc` has beyond `since` and the given delete
 * ranges. With `onlyListed`, only clients named in `since` are written (a
 * batch); otherwise clients absent from `since` are written from clock 0 (a
 * diff against a remote state vector).
 */
export function encodeUpdateV1 (doc: Y.Doc, since: Map<number, number>, deletes: DeleteRanges, onlyListed = false): Uint8Array {
  const encoder = new Y.UpdateEncoderV1()
  writeStructsSince(encoder, doc, since, onlyListed)
  writeDeleteRanges(encoder, deletes)
  return encoder.toUint8Array()
}

function writeStructsSince (encoder: Y.UpdateEncoderV1, doc: Y.Doc, since: Map<number, number>, onlyListed: boolean): void {
  const clients = doc.store.clients as Map<number, Array<Y.Item | Y.GC>>
  const todo: Array<[number, number]> = []
  clients.forEach((structs, client) => {
    const from = since.get(client)
    if (from === undefined && onlyListed) return
    const clock = from ?? 0
    const last = structs[structs.length - 1]
    const state = last.id.clock + last.length
    if (state > clock) todo.push([client, clock])
  })
  // same order as Yjs: higher client ids first
  todo.sort((a, b) => b[0] - a[0])
  encoding.writeVarUint(encoder.restEncoder, todo.length)
  for (const [client, from] of todo) {
    const structs = clients.get(client)!
    const clock = Math.max(from, structs[0].id.clock)
    const startIdx = Y.findIndexSS(structs, clock)
    encoding.writeVarUint(encoder.restEncoder, structs.length - startIdx)
    encoder.writeClient(client)
    encoding.writeVarUint(encoder.restEncoder, clock)
    const first = structs[startIdx]
    first.write(encoder, clock - first.id.clock)
    for (let i = startIdx + 1; i < structs.length; i++) structs[i].write(encoder, 0)
  }
}

function writeDeleteRanges (encoder: Y.UpdateEncoderV1, deletes: DeleteRanges): void {
  const entries = [...deletes.entries()].filter(([, r]) => r.length > 0).sort((a, b) => b[0] - a[0])
  encoding.writeVarUint(encoder.restEncoder, entries.length)
  for (const [client, ranges] of entries) {
    encoder.resetDsCurVal()
    encoding.writeVarUint(encoder.restEncoder, client)
    encoding.writeVarUint(encoder.restEncoder, ranges.length)
    for (const [clock, len] of ranges) {
      encoder.writeDsClock(clock)
      encoder.writeDsLen(len)
    }
  }
}

function sortAndMerge (deletes: DeleteRanges): void {
  deletes.forEach((ranges, client) => {
    ranges.sort((a, b) => a[0] - b[0])
    const out: Array<[number, number]> = []
    for (const r of ranges) {
      const prev = out[out.length - 1]
      if (prev !== undefined && r[0] <= prev[0] + prev[1]) {
        prev[1] = Math.max(prev[1], r[0] + r[1] - prev[0])
      } else {
        out.push([r[0], r[1]])
      }
    }
    deletes.set(client, out)
  })
}

/** The doc's whole delete set as sorted, merged ranges (canonical: equal sets give equal ranges). */
export function deleteRangesOf (doc: Y.Doc): DeleteRanges {
  const ds = Y.createDeleteSetFromStructStore(doc.store)
  const out: DeleteRanges = new Map()
  ds.clients.forEach((items, client) => {
    out.set(client, items.map(it => [it.clock, it.len] as [number, number]))
  })
  sortAndMerge(out)
  return out
}

/** The canonical V1 encoding of a delete set, used for digests and comparisons. */
export function encodeDeleteRanges (deletes: DeleteRanges): Uint8Array {
  const encoder = new Y.UpdateEncoderV1()
  writeDeleteRanges(encoder, deletes)
  return encoder.toUint8Array()
}

export const EMPTY_DELETES: DeleteRanges = new Map()
