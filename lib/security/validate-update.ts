/**
 * Validate a remote V1 update completely before anything touches the live doc.
 * Yjs does not roll back an apply that throws halfway (its delete set is read
 * after the structs are integrated), and it ignores trailing bytes, so an
 * update is applied only after this strict parser accepted every byte of it.
 *
 * The parser walks the V1 format exactly as Yjs reads it (readClientsStructRefs,
 * readItemContent, readDeleteSet) but allocates no Items: bounds-checked reads,
 * JSON-like values skipped iteratively with a depth cap, type nesting measured
 * through parent and origin references, clocks kept below 2^53.
 */
import * as Y from 'yjs'
import { InvalidUpdateError, ProtocolError } from '../errors.js'
import { ByeReason } from '../protocol/constants.js'

export interface ValidatedUpdate {
  /** an exact-size copy: Yjs' decoder can never read past it into a neighbouring frame */
  bytes: Uint8Array
  /** clientIDs that author structs in the update that the doc does not have yet (structs it has add nothing) */
  authors: Set<number>
  /** clientIDs under which the update holds any struct (held by the doc or not; Skip and GC structs included) */
  clients: Set<number>
  /** structs and delete ranges in it (what applying it costs; the count `maxItems` caps) */
  items: number
}

const BIT6 = 32
const BIT7 = 64
const BIT8 = 128
const BITS5 = 31
/** ContentType refs that carry a node name (YXmlElement, YXmlHook) */
const NAMED_TYPE_REFS = new Set([3, 5])
const MAX_TYPE_REF = 6

class Reader {
  pos = 0
  constructor (readonly arr: Uint8Array) {}

  fail (msg: string): never {
    throw new InvalidUpdateError(`${msg} at byte ${this.pos}`)
  }

  get done (): boolean {
    return this.pos >= this.arr.length
  }

  u8 (): number {
    if (this.pos >= this.arr.length) this.fail('unexpected end of update')
    return this.arr[this.pos++]
  }

  uint (): number {
    let num = 0
    let mult = 1
    for (;;) {
      const b = this.u8()
      num += (b & 0x7f) * mult
      if (b < 0x80) return num
      mult *= 128
      if (num > Number.MAX_SAFE_INTEGER) this.fail('integer out of range')
    }
  }

  /** signed varint (lib0 readVarInt): sign bit in the first byte */
  int (): void {
    let b = this.u8()
    while (b >= 0x80) b = this.u8()
  }

  bytes (): Uint8Array {
    const len = this.uint()
    if (this.arr.length - this.pos < len) this.fail('length runs past the end')
    const out = this.arr.subarray(this.pos, this.pos + len)
    this.pos += len
    return out
  }

  skip (n: number): void {
    if (this.arr.length - this.pos < n) this.fail('unexpected end of update')
    this.pos += n
  }

  string (): string {
    return decoder.decode(this.bytes())
  }

  /**
   * Length in UTF-16 code units (what Yjs counts) of a string, without
   * building it when it is ASCII; anything else is decoded exactly as Yjs
   * decodes it, so malformed UTF-8 gets the same length on both sides.
   */
  stringLength (): number {
    const bytes = this.bytes()
    for (const b of bytes) if (b >= 0x80) return decoder.decode(bytes).length
    return bytes.length
  }
}

const decoder = new TextDecoder()

/** Skip one lib0 `any` value without recursion; fails past `maxDepth` levels. */
function skipAny (r: Reader, maxDepth: number): void {
  // per open level: values still to read, and whether each is preceded by a key
  const remaining: number[] = [1]
  const keyed: boolean[] = [false]
  while (remaining.length > 0) {
    const top = remaining.length - 1
    if (remaining[top] === 0) { remaining.pop(); keyed.pop(); continue }
    remaining[top]--
    if (keyed[top]) r.bytes()
    const tag = r.u8()
    switch (tag) {
      case 127: case 126: case 121: case 120: break // undefined, null, false, true
      case 125: r.int(); break
      case 124: r.skip(4); break
      case 123: case 122: r.skip(8); break
      case 119: case 116: r.bytes(); break // string, Uint8Array
      case 118: case 117: { // object, array
        const n = r.uint()
        if (n === 0) break
        if (remaining.length >= maxDepth) r.fail('values nested too deeply')
        remaining.push(n)
        keyed.push(tag === 118)
        break
      }
      default: r.fail(`unknown value tag ${tag}`)
    }
  }
}

function checkJson (r: Reader, text: string, maxDepth: number): void {
  if (text === 'undefined') return
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    r.fail('invalid JSON content')
  }
  const stack: Array<[unknown, number]> = [[v, 1]]
  while (stack.length > 0) {
    const [x, d] = stack.pop()!
    if (x === null || typeof x !== 'object') continue
    if (d > maxDepth) r.fail('JSON nested too deeply')
    for (const c of Array.isArray(x) ? x : Object.values(x)) stack.push([c, d + 1])
  }
}

/** Length (in clock units) of one item's content, validating it on the way. */
function readContent (r: Reader, ref: number, maxDepth: number): number {
  switch (ref) {
    case 1: return r.uint() // deleted
    case 2: { // JSON
      const n = r.uint()
      for (let i = 0; i < n; i++) checkJson(r, r.string(), maxDepth)
      return n
    }
    case 3: r.bytes(); return 1 // binary
    case 4: return r.stringLength() // string: Yjs counts UTF-16 code units
    case 5: checkJson(r, r.string(), maxDepth); return 1 // embed
    case 6: r.bytes(); checkJson(r, r.string(), maxDepth); return 1 // format
    case 7: { // type
      const typeRef = r.uint()
      if (typeRef > MAX_TYPE_REF) r.fail(`unknown type ref ${typeRef}`)
      if (NAMED_TYPE_REFS.has(typeRef)) r.bytes()
      return 1
    }
    case 8: { // any
      const n = r.uint()
      for (let i = 0; i < n; i++) skipAny(r, maxDepth)
      return n
    }
    case 9: r.bytes(); skipAny(r, maxDepth); return 1 // subdoc: guid, opts
    default: return r.fail(`unknown content ref ${ref}`)
  }
}

interface Span { clock: number, end: number, depth: number }

/**
 * Throws `InvalidUpdateError` unless `update` is a well-formed V1 update that
 * nests types and values at most `maxDepth` deep (counting what `doc` has).
 */
export function validateUpdate (doc: Y.Doc, update: Uint8Array, maxDepth: number, maxItems = Infinity): ValidatedUpdate {
  const bytes = update.slice()
  const r = new Reader(bytes)
  const authors = new Set<number>()
  const structClients = new Set<number>()
  /** client -> spans of items in this update with their depth, in clock order */
  const spans = new Map<number, Span[]>()
  const depthOf = (client: number, clock: number): number | undefined => {
    const list = spans.get(client)
    if (list !== undefined) {
      let lo = 0
      let hi = list.length - 1
      while (lo <= hi) {
        const mid = (lo + hi) >> 1
        const s = list[mid]
        if (clock < s.clock) hi = mid - 1
        else if (clock >= s.end) lo = mid + 1
        else return s.depth
      }
    }
    return depthInDoc(doc, client, clock, maxDepth)
  }

  // structs and delete ranges: what applying the update costs; counted as
  // announced, so an update with too many is refused before it is walked
  let items = 0
  const count = (n: number): void => {
    items += n
    if (items > maxItems) throw new ProtocolError(`update of more than ${maxItems} items (structs and delete ranges)`, ByeReason.LIMIT_EXCEEDED)
  }
  const clients = r.uint()
  for (let c = 0; c < clients; c++) {
    const structs = r.uint()
    count(structs)
    const client = r.uint()
    let clock = r.uint()
    if (structs > 0) structClients.add(client)
    const known = Y.getState(doc.store, client)
    for (let i = 0; i < structs; i++) {
      const info = r.u8()
      const ref = info & BITS5
      if (ref === 0) { // GC: claims a clock range, so it is authored too
        clock += r.uint()
        if (clock > known) authors.add(client)
      } else if (ref === 10) { // Skip
        clock += r.uint()
      } else {
        const hasOrigin = (info & BIT8) !== 0
        const hasRightOrigin = (info & BIT7) !== 0
        // the first of origin / right origin (each a client and a clock) decides the depth
        let refClient = -1
        let refClock = 0
        if (hasOrigin) { refClient = r.uint(); refClock = r.uint() }
        if (hasRightOrigin) {
          const c = r.uint()
          const k = r.uint()
          if (!hasOrigin) { refClient = c; refClock = k }
        }
        let depth = 1
        if (!hasOrigin && !hasRightOrigin) {
          const isRootParent = r.uint() === 1
          if (isRootParent) {
            r.bytes()
          } else {
            const parentClient = r.uint()
            const parentClock = r.uint()
            // unknown parents count from 1: a chain inside one update is still capped
            depth = (depthOf(parentClient, parentClock) ?? 0) + 1
          }
          if ((info & BIT6) !== 0) r.bytes() // parentSub
        } else {
          depth = depthOf(refClient, refClock) ?? 1
        }
        if (depth > maxDepth) r.fail(`types nested deeper than ${maxDepth}`)
        const len = readContent(r, ref, maxDepth)
        if (len < 1 && ref !== 4) r.fail('empty item')
        let list = spans.get(client)
        if (list === undefined) spans.set(client, (list = []))
        // consecutive items at one depth (typing into one text, say) share a span
        const last = list[list.length - 1]
        if (last !== undefined && last.end === clock && last.depth === depth) last.end = clock + Math.max(len, 1)
        else list.push({ clock, end: clock + Math.max(len, 1), depth })
        if (clock + Math.max(len, 1) > known) authors.add(client)
        clock += len
      }
      if (clock > Number.MAX_SAFE_INTEGER) r.fail('clock out of range')
    }
  }
  // delete set
  const dsClients = r.uint()
  for (let c = 0; c < dsClients; c++) {
    r.uint() // client
    const ranges = r.uint()
    count(ranges)
    for (let i = 0; i < ranges; i++) {
      const clock = r.uint()
      const len = r.uint()
      if (clock + len > Number.MAX_SAFE_INTEGER) r.fail('delete range out of range')
    }
  }
  if (!r.done) r.fail('trailing bytes after update')
  return { bytes, authors, clients: structClients, items }
}

/** Depth of an existing item in the doc (1 = lives in a root type), or undefined if unknown. */
function depthInDoc (doc: Y.Doc, client: number, clock: number, max: number): number | undefined {
  const structs = doc.store.clients.get(client)
  if (structs === undefined) return undefined
  const last = structs[structs.length - 1]
  if (clock >= last.id.clock + last.length) return undefined
  let cur: Y.Item | null
  try {
    const found = Y.getItem(doc.store, Y.createID(client, clock))
    cur = found instanceof Y.Item ? found : null
  } catch {
    return undefined
  }
  if (cur === null) return 1
  let depth = 0
  while (cur !== null && depth <= max) {
    depth++
    cur = (cur.parent as Y.AbstractType<unknown> | null)?._item ?? null
  }
  return depth
}
