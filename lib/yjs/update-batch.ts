/**
 * Encode "what changed since X" without a per-transaction `update` listener.
 *
 * Yjs encodes a V1/V2 update for every transaction as soon as anyone listens
 * for `update`, which makes a keystroke burst markedly dearer (the B4 replay
 * figures are in docs/BENCHMARKS.md, "Figures formerly in code comments"). Instead we
 * record, per transaction, only where the batch starts (the state vector before
 * the first transaction) and the delete ranges the transactions produced, and
 * encode one V1 update per batch straight from the struct store.
 *
 * This uses only Yjs' public exports (UpdateEncoderV1, findIndexSS, Item#write),
 * mirroring Yjs' own `writeClientsStructs` / `writeDeleteSet`. Structs are
 * written with Yjs' `struct.write(encoder, offset)` unless a `StructWriter` is
 * passed (the Node entry's flat one, lib/yjs/flat-struct-writer.ts).
 */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import type { StructWriter } from './flat-struct-writer.js'

/** client -> sorted, merged ranges of deleted clocks (a Yjs DeleteSet's `clients`) */
export type DeleteRanges = Map<number, Array<{ clock: number, len: number }>>

type DeleteSet = Y.Transaction['deleteSet']

export class UpdateBatch {
  /** client -> first clock not yet covered by the batch (taken before its first transaction) */
  readonly start = new Map<number, number>()
  /** the delete sets of what was absorbed, merged into one by `deletes` */
  private deleteSets: DeleteSet[] = []
  /** transactions absorbed */
  txns = 0

  get empty (): boolean {
    return this.txns === 0
  }

  /** Did this transaction add structs or delete anything? */
  static changes (tr: Y.Transaction): boolean {
    for (const [client, clock] of tr.afterState) if (clock > (tr.beforeState.get(client) ?? 0)) return true
    for (const items of tr.deleteSet.clients.values()) if (items.length > 0) return true
    return false
  }

  /** Record one finished transaction. Returns false if it changed nothing. */
  absorbTransaction (tr: Y.Transaction): boolean {
    if (!UpdateBatch.changes(tr)) return false
    tr.afterState.forEach((clock, client) => {
      const before = tr.beforeState.get(client) ?? 0
      if (clock > before && !this.start.has(client)) this.start.set(client, before)
    })
    // sorted and merged by Yjs, and never changed once the transaction is done
    if (tr.deleteSet.clients.size > 0) this.deleteSets.push(tr.deleteSet)
    this.txns++
    return true
  }

  /** Merge another batch into this one (used when a slow peer makes us coalesce). */
  absorbBatch (other: UpdateBatch): void {
    other.start.forEach((clock, client) => {
      const mine = this.start.get(client)
      if (mine === undefined || clock < mine) this.start.set(client, clock)
    })
    // merged at once: what a slow peer is owed stays as small as it can be
    this.deleteSets = [Y.mergeDeleteSets(this.deleteSets.concat(other.deleteSets))]
    this.txns += other.txns
  }

  /** This batch's deletions, sorted and merged (Yjs' merge leaves the sets it merges as they are). */
  get deletes (): DeleteRanges {
    if (this.deleteSets.length !== 1) this.deleteSets = [Y.mergeDeleteSets(this.deleteSets)]
    return this.deleteSets[0].clients
  }

  /** Encode structs added since `start` plus this batch's deletions, as one V1 update. */
  encode (doc: Y.Doc, writer?: StructWriter): Uint8Array {
    return encodeUpdateV1(doc, this.start, this.deletes, true, writer)
  }

  /**
   * The same, as V1 updates of at most `maxItems` items (structs and delete
   * ranges) each: one update nearly always. Each struct spans at least one
   * clock, so clocks spanned bound the structs, and only a batch spanning
   * more than `maxItems` is counted exactly (a paste is one struct).
   */
  encodeAll (doc: Y.Doc, maxItems: number, writer?: StructWriter): Uint8Array[] {
    const deletes = this.deletes
    let bound = rangesIn(deletes)
    for (const [client, clock] of this.start) bound += Y.getState(doc.store, client) - clock
    if (bound <= maxItems || countItems(doc, this.start, deletes, true) <= maxItems) return [encodeUpdateV1(doc, this.start, deletes, true, writer)]
    const parts = new UpdateParts(doc, this.start, deletes, { partBytes: Infinity, limitBytes: Infinity, maxItems, onlyListed: true, writer })
    const out: Uint8Array[] = []
    for (let u = parts.next(); u !== undefined; u = parts.next()) out.push(u)
    return out
  }
}

/**
 * V1 update with the structs `doc` has beyond `since` and the given delete
 * ranges. With `onlyListed`, only clients named in `since` are written (a
 * batch); otherwise clients absent from `since` are written from clock 0 (a
 * diff against a remote state vector). Structs are written by `writer` if
 * given, else by Yjs.
 */
export function encodeUpdateV1 (doc: Y.Doc, since: Map<number, number>, deletes: DeleteRanges, onlyListed = false, writer?: StructWriter): Uint8Array {
  const clients = doc.store.clients as Map<number, Array<Y.Item | Y.GC>>
  return encodeSlice(clients, structsBeyond(clients, since, onlyListed), deletes, writer)
}

/** Per client, the structs beyond `since` (clients absent from it: all of them, unless `onlyListed`). */
function structsBeyond (clients: Map<number, Array<Y.Item | Y.GC>>, since: Map<number, number>, onlyListed: boolean): Slice {
  const slice: Slice = []
  clients.forEach((structs, client) => {
    const from = since.get(client)
    if (from === undefined && onlyListed) return
    const clock = Math.max(from ?? 0, structs[0].id.clock)
    const last = structs[structs.length - 1]
    if (last.id.clock + last.length <= clock) return
    const idx = Y.findIndexSS(structs, clock)
    slice.push({ client, from: idx, offset: clock - structs[idx].id.clock, to: structs.length })
  })
  return slice
}

/**
 * A diff against a remote state vector (what `encodeUpdateV1(doc, since,
 * deletes)` encodes; with `onlyListed`, a batch), cut into parts that are each
 * a valid V1 update: the structs of every client are split at struct
 * boundaries, in proportion to an estimate of their encoded size, so part k
 * holds roughly the k-th slice of every client's history (usually causal
 * order: few structs wait for a later part). The delete set goes with the
 * last part, when the items it names are all there. Parts are planned at about
 * `partBytes` each, and hold at most `maxItems` items (structs and delete
 * ranges, what a receiver's work grows with): a delete set with more ranges
 * than that goes in parts of its own, after the structs.
 *
 * Encode the parts one at a time with `next()`, without changing the doc in
 * between; a part that comes out larger than `limitBytes` is cut in two and
 * encoded again.
 */
export class UpdateParts {
  private readonly queue: Part[]
  private readonly clients: Map<number, Array<Y.Item | Y.GC>>
  private readonly limitBytes: number
  private readonly maxItems: number
  private readonly writer: StructWriter | undefined

  constructor (doc: Y.Doc, since: Map<number, number>, deletes: DeleteRanges, opts: PartsOptions) {
    this.clients = doc.store.clients as Map<number, Array<Y.Item | Y.GC>>
    this.limitBytes = opts.limitBytes
    this.maxItems = opts.maxItems ?? Infinity
    this.writer = opts.writer
    // per client: the structs beyond `since`, with their cumulative estimated size
    const runs = structsBeyond(this.clients, since, opts.onlyListed ?? false).map(({ client, from: start, offset }) => {
      const structs = this.clients.get(client)!
      const costs = new Float64Array(structs.length - start)
      let total = 0
      for (let i = start; i < structs.length; i++) total = costs[i - start] = total + structCost(structs[i])
      return { client, start, offset, costs, total }
    })
    const estimate = runs.reduce((n, r) => n + r.total, 0)
    const structs = runs.reduce((n, r) => n + r.costs.length, 0)
    // where each part ends, as a fraction of the whole: parts of partBytes, or
    // more, equal ones if that many structs need more
    const ends: number[] = []
    for (let sum = opts.partBytes; sum - opts.partBytes < estimate; sum += opts.partBytes) ends.push(Math.min(1, sum / estimate))
    const byItems = Math.ceil(structs / this.maxItems)
    if (byItems > ends.length) {
      ends.length = 0
      for (let k = 1; k <= byItems; k++) ends.push(k / byItems)
    }
    if (ends.length === 0) ends.push(1)
    const slices: Slice[] = ends.map(() => [])
    for (const r of runs) {
      // struct i goes to the first part whose end covers its cumulative cost (the last part takes the rest)
      let from = 0
      for (let k = 0; k < ends.length; k++) {
        let to = r.costs.length
        if (k < ends.length - 1) {
          const limit = ends[k] * r.total
          for (to = from; to < r.costs.length && r.costs[to] <= limit;) to++
        }
        if (to > from) slices[k].push({ client: r.client, from: r.start + from, offset: from === 0 ? r.offset : 0, to: r.start + to })
        from = to
      }
    }
    // a part can come out empty (one struct held most of a client's size): skip it
    this.queue = slices.filter(slice => slice.length > 0).map(slice => ({ slice, deletes: EMPTY_DELETES }))
    // the delete set: with the last part if it fits, else in parts of its own
    const chunks = chunkDeletes(deletes, this.maxItems)
    const last = this.queue[this.queue.length - 1]
    if (last !== undefined && chunks.length === 1 && itemsOf(last.slice) + rangesIn(chunks[0]) <= this.maxItems) last.deletes = chunks[0]
    else for (const d of chunks) this.queue.push({ slice: [], deletes: d })
    // always one part at least: an empty update answers too
    if (this.queue.length === 0) this.queue.push({ slice: [], deletes: EMPTY_DELETES })
  }

  /** parts not yet encoded (a part that has to be cut in two counts once more) */
  get left (): number {
    return this.queue.length
  }

  /** The next part, or undefined after the last. */
  next (): Uint8Array | undefined {
    for (;;) {
      const part = this.queue.shift()
      if (part === undefined) return undefined
      const { slice, deletes } = part
      // too many items: cut before encoding; too many bytes: cut after
      let halves = itemsOf(slice) + rangesIn(deletes) > this.maxItems ? cutInTwo(slice) : undefined
      if (halves === undefined) {
        const update = encodeSlice(this.clients, slice, deletes, this.writer)
        halves = update.length > this.limitBytes ? cutInTwo(slice) : undefined
        if (halves === undefined) return update
      }
      // the delete set stays with the later half
      this.queue.unshift({ slice: halves[0], deletes: EMPTY_DELETES }, { slice: halves[1], deletes })
    }
  }
}

export interface PartsOptions {
  /** plan parts of about this many encoded bytes */
  partBytes: number
  /** a part encoded larger than this is cut in two (unless it is one struct) */
  limitBytes: number
  /** items (structs and delete ranges) per part at most (default: no limit) */
  maxItems?: number
  /** only clients named in `since` (a batch), as `encodeUpdateV1`'s `onlyListed` */
  onlyListed?: boolean
  /** writes each struct (default: Yjs' `struct.write`) */
  writer?: StructWriter
}

interface Part { slice: Slice, deletes: DeleteRanges }

const itemsOf = (slice: Slice): number => slice.reduce((n, r) => n + r.to - r.from, 0)

function rangesIn (deletes: DeleteRanges): number {
  let n = 0
  for (const r of deletes.values()) n += r.length
  return n
}

/** The delete set in pieces of at most `max` ranges (one piece, the set itself, if it fits). */
function chunkDeletes (deletes: DeleteRanges, max: number): DeleteRanges[] {
  if (rangesIn(deletes) <= max) return [deletes]
  const chunks: DeleteRanges[] = []
  let chunk: DeleteRanges = new Map()
  let n = 0
  for (const [client, ranges] of deletes) {
    for (let i = 0; i < ranges.length;) {
      const take = Math.min(ranges.length - i, max - n)
      chunk.set(client, ranges.slice(i, i + take))
      i += take
      n += take
      if (n === max) {
        chunks.push(chunk)
        chunk = new Map()
        n = 0
      }
    }
  }
  if (n > 0) chunks.push(chunk)
  return chunks
}

/**
 * Items (structs and delete ranges) of what `encodeUpdateV1(doc, since,
 * deletes, onlyListed)` would encode: the work a receiver does to apply it.
 */
export function countItems (doc: Y.Doc, since: Map<number, number>, deletes: DeleteRanges, onlyListed = false): number {
  return itemsOf(structsBeyond(doc.store.clients as Map<number, Array<Y.Item | Y.GC>>, since, onlyListed)) + rangesIn(deletes)
}

/** per client, structs [from, to) of its struct array, the first one from `offset` into it */
type Slice = Array<{ client: number, from: number, offset: number, to: number }>

/**
 * A rough size of a struct in V1: ids and info, plus its content. It only
 * places the cuts; `next()` checks every part's real size against the limit.
 */
function structCost (s: Y.Item | Y.GC): number {
  if (!(s instanceof Y.Item)) return 4
  const c = s.content
  if (c instanceof Y.ContentString) return 12 + c.str.length
  if (c instanceof Y.ContentDeleted || c instanceof Y.ContentType) return 12
  if (c instanceof Y.ContentBinary) return 12 + c.content.length
  // values (map entries, array elements, embeds): their JSON is a fair guess
  try {
    return 12 + (JSON.stringify(c.getContent())?.length ?? 16)
  } catch {
    return 12 + 16 * c.getLength()
  }
}

/** A V1 update of these structs and delete ranges. */
function encodeSlice (clients: Map<number, Array<Y.Item | Y.GC>>, slice: Slice, deletes: DeleteRanges, writer: StructWriter = (e, s, offset) => { s.write(e, offset) }): Uint8Array {
  const encoder = new Y.UpdateEncoderV1()
  // same order as Yjs: higher client ids first
  const runs = [...slice].sort((a, b) => b.client - a.client)
  encoding.writeVarUint(encoder.restEncoder, runs.length)
  for (const { client, from, offset, to } of runs) {
    const structs = clients.get(client)!
    encoding.writeVarUint(encoder.restEncoder, to - from)
    encoder.writeClient(client)
    encoding.writeVarUint(encoder.restEncoder, structs[from].id.clock + offset)
    for (let i = from; i < to; i++) writer(encoder, structs[i], i === from ? offset : 0)
  }
  writeDeleteRanges(encoder, deletes)
  return encoder.toUint8Array()
}

/** Split a slice that encoded too large; undefined if it is a single struct (it cannot be cut). */
function cutInTwo (slice: Slice): [Slice, Slice] | undefined {
  if (itemsOf(slice) <= 1) return undefined
  if (slice.length > 1) {
    // several clients: half of them each way (clients stay whole, so order within each is kept)
    const mid = Math.ceil(slice.length / 2)
    return [slice.slice(0, mid), slice.slice(mid)]
  }
  const r = slice[0]
  const mid = r.from + Math.ceil((r.to - r.from) / 2)
  return [[{ ...r, to: mid }], [{ client: r.client, from: mid, offset: 0, to: r.to }]]
}

function writeDeleteRanges (encoder: Y.UpdateEncoderV1, deletes: DeleteRanges): void {
  const entries = [...deletes.entries()].filter(([, r]) => r.length > 0).sort((a, b) => b[0] - a[0])
  encoding.writeVarUint(encoder.restEncoder, entries.length)
  for (const [client, ranges] of entries) {
    encoder.resetDsCurVal()
    encoding.writeVarUint(encoder.restEncoder, client)
    encoding.writeVarUint(encoder.restEncoder, ranges.length)
    for (const { clock, len } of ranges) {
      encoder.writeDsClock(clock)
      encoder.writeDsLen(len)
    }
  }
}

/** The doc's whole delete set as sorted, merged ranges (canonical: equal sets give equal ranges). */
export function deleteRangesOf (doc: Y.Doc): DeleteRanges {
  // Yjs builds it from the struct store in clock order, joining adjacent deleted structs: sorted and merged
  return Y.createDeleteSetFromStructStore(doc.store).clients
}

/** The canonical V1 encoding of a delete set, used for digests and comparisons. */
export function encodeDeleteRanges (deletes: DeleteRanges): Uint8Array {
  const encoder = new Y.UpdateEncoderV1()
  writeDeleteRanges(encoder, deletes)
  return encoder.toUint8Array()
}

export const EMPTY_DELETES: DeleteRanges = new Map()

/** Bytes Yjs holds as pending (gapped) structs and deletions for this doc. */
export function pendingBytes (doc: Y.Doc): number {
  const store = doc.store
  return (store.pendingStructs?.update.length ?? 0) + (store.pendingDs?.length ?? 0)
}

/** A V1 update that holds nothing: no structs, no deletions. */
export const EMPTY_UPDATE = new Uint8Array([0, 0])
