/**
 * How one stored chunk of a document is laid out. Every chunk starts with a
 * one-byte tag: 1 = a V1 update, 2 = a V2 update, 3 = parts (a varuint
 * count, then per part a tag byte, a varuint length and the bytes), used when
 * a commit also carries structs Yjs holds back for missing dependencies.
 * `docs/ARCHITECTURE.md` ("Storage") describes the records and snapshots
 * built from chunks.
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'

export const TAG_V1 = 1
export const TAG_V2 = 2
const TAG_PARTS = 3

/** one update of a chunk, with its tag */
export type Part = [tag: number, bytes: Uint8Array]

let counter = 0
/** An id for a new chunk: sorts by creation time, unique across writers. */
export const uniqueId = (): string =>
  `${Date.now().toString(36).padStart(9, '0')}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 10)}`

export function tagged (tag: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1)
  out[0] = tag
  out.set(bytes, 1)
  return out
}

export function encodeParts (parts: Part[]): Uint8Array {
  if (parts.length === 1) return tagged(parts[0][0], parts[0][1])
  const enc = encoding.createEncoder()
  encoding.writeUint8(enc, TAG_PARTS)
  encoding.writeVarUint(enc, parts.length)
  for (const [tag, bytes] of parts) {
    encoding.writeUint8(enc, tag)
    encoding.writeVarUint8Array(enc, bytes)
  }
  return encoding.toUint8Array(enc)
}

export function applyChunk (doc: Y.Doc, data: Uint8Array, origin: unknown): void {
  const body = data.subarray(1)
  if (data[0] === TAG_V1) Y.applyUpdate(doc, body, origin)
  else if (data[0] === TAG_V2) Y.applyUpdateV2(doc, body, origin)
  else if (data[0] === TAG_PARTS) {
    const dec = decoding.createDecoder(body)
    const n = decoding.readVarUint(dec)
    const parts: Part[] = []
    for (let i = 0; i < n; i++) parts.push([decoding.readUint8(dec), decoding.readVarUint8Array(dec)])
    if (decoding.hasContent(dec)) throw new Error('trailing bytes after the parts of a chunk')
    // one unreadable part must not cost the others (each is an update of its own)
    let failed: unknown
    for (const [tag, bytes] of parts) {
      try {
        if (tag === TAG_PARTS) throw new Error('nested parts')
        applyChunk(doc, tagged(tag, bytes), origin)
      } catch (err) {
        failed ??= err
      }
    }
    if (failed !== undefined) throw failed
  } else throw new Error(`unknown chunk tag ${data[0]}`)
}
