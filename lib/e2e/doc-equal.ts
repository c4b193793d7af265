/**
 * Whether two Y.Docs hold the same structs: the same items under the same
 * ids, with the same origins, parents, keys, deletion and content. Comparing
 * state vectors and delete sets is not enough to check a snapshot: they
 * name ids only, so a snapshot could keep every id and change what an item
 * says, or where it sits. Yjs may split one item into several structs, and
 * two docs built from the same updates in another order may be split
 * differently, so structs are compared as canonical runs: consecutive ids
 * of one client are merged whenever Yjs could have merged them (the next
 * one's origin is the previous id, the same right origin, parent and key,
 * both deleted or both live content of a kind that merges).
 *
 * Deleted items keep their origins (they position what is inserted next to
 * them) and are compared with them; a struct that one doc holds as a GC
 * struct and the other as a deleted item is a difference. That refuses a
 * few honest pairs (a subtree garbage-collected in one doc only), which is
 * the safe side: a snapshot is then not attested, and nothing is dropped.
 */
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { toHex } from './codec.js'

export function sameStructs (a: Y.Doc, b: Y.Doc): boolean {
  const ra = canonicalRuns(a)
  const rb = canonicalRuns(b)
  if (ra === undefined || rb === undefined || ra.length !== rb.length) return false
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return false
  return true
}

/** ContentJSON, ContentString, ContentAny: the kinds Yjs merges */
const MERGING_REFS = new Set([2, 4, 8])

interface Run {
  gc: boolean
  start: number
  end: number
  origin: string
  right: string
  parent: string
  sub: string
  deleted: boolean
  ref: number
  payload: string[]
}

const idString = (id: Y.ID | null): string => id === null ? '-' : `${id.client}:${id.clock}`

function canonicalRuns (doc: Y.Doc): string[] | undefined {
  const roots = new Map<unknown, string>()
  for (const [name, type] of doc.share) roots.set(type, name)
  const parentOf = (item: Y.Item): string => {
    const p = item.parent
    if (p instanceof Y.AbstractType) return p._item === null ? `root:${JSON.stringify(roots.get(p) ?? null)}` : `item:${idString(p._item.id)}`
    return `id:${idString(p)}`
  }
  const out: string[] = []
  for (const client of [...doc.store.clients.keys()].sort((x, y) => x - y)) {
    let run: Run | undefined
    const flush = (): void => {
      if (run !== undefined) out.push(JSON.stringify([client, run.gc, run.start, run.end, run.origin, run.right, run.parent, run.sub, run.deleted, run.ref, run.payload.join('')]))
      run = undefined
    }
    for (const s of doc.store.clients.get(client)!) {
      const clock = s.id.clock
      if (s instanceof Y.GC) {
        if (run?.gc === true && run.end === clock) run.end += s.length
        else {
          flush()
          run = { gc: true, start: clock, end: clock + s.length, origin: '', right: '', parent: '', sub: '', deleted: true, ref: 0, payload: [] }
        }
        continue
      }
      if (!(s instanceof Y.Item)) return undefined
      const deleted = s.deleted
      const ref = deleted ? 0 : s.content.getRef()
      const parent = parentOf(s)
      const sub = s.parentSub ?? '-'
      const right = idString(s.rightOrigin)
      const continues = run !== undefined && !run.gc && run.end === clock && run.deleted === deleted && run.ref === ref &&
        (deleted || MERGING_REFS.has(ref)) && run.right === right && run.parent === parent && run.sub === sub &&
        s.origin !== null && s.origin.client === client && s.origin.clock === clock - 1
      if (continues) {
        run!.end += s.length
        if (!deleted) run!.payload.push(payloadOf(s.content))
      } else {
        flush()
        run = { gc: false, start: clock, end: clock + s.length, origin: idString(s.origin), right, parent, sub, deleted, ref, payload: deleted ? [] : [payloadOf(s.content)] }
      }
    }
    flush()
  }
  return out
}

/** What a live item says, so that runs split anywhere concatenate to the same string. */
function payloadOf (content: Y.Item['content']): string {
  if (content instanceof Y.ContentString) return content.str
  if (content instanceof Y.ContentAny) return content.arr.map(v => anyHex(v) + ',').join('')
  if (content instanceof Y.ContentJSON) return content.arr.map(v => (v === undefined ? 'u' : JSON.stringify(v)) + ',').join('')
  const e = new Y.UpdateEncoderV1()
  content.write(e, 0)
  return toHex(e.toUint8Array())
}

function anyHex (v: unknown): string {
  const e = encoding.createEncoder()
  encoding.writeAny(e, v as Parameters<typeof encoding.writeAny>[1])
  return toHex(encoding.toUint8Array(e))
}
