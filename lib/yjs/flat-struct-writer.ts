/**
 * A flat V1 struct writer: the Node entry's, handed to the engine as
 * `SyncEngineOptions.structWriter` (adapters/presets/node.ts) so that browser
 * bundles leave it out; without one, `update-batch.ts` writes with Yjs' own
 * `struct.write(encoder, offset)` (docs/BENCHMARKS.md, "A flat V1 writer").
 */
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'

/** writes one struct from `offset` into it, byte for byte what `s.write(encoder, offset)` writes */
export type StructWriter = (encoder: Y.UpdateEncoderV1, s: Y.Item | Y.GC, offset: number) => void

const utf8 = new TextEncoder()
/** scratch for short strings: encoded here, then copied in one go */
const strScratch = new Uint8Array(3 * 1024)

/**
 * `struct.write(encoder, offset)`, byte for byte, with a flat path for the
 * structs text is made of: a string or deleted item with an origin. Yjs'
 * general path goes Item#write -> content.write -> encoder method -> lib0 per
 * field, which is what a cold process pays for on every struct of a big answer
 * (`test/update-batch.spec.ts` compares the bytes with Yjs' own).
 */
export const flatStructWriter: StructWriter = (encoder, s, offset) => {
  if (s.constructor === Y.Item) {
    const item = s as Y.Item
    const content = item.content
    const isString = content.constructor === Y.ContentString
    const origin = item.origin
    const right = item.rightOrigin
    if ((isString || content.constructor === Y.ContentDeleted) && (offset > 0 || origin !== null || right !== null)) {
      const e = encoder.restEncoder
      // info: content ref (4 string, 1 deleted), then origin / right origin / parentSub bits
      encoding.writeUint8(e, (isString ? 4 : 1) | (offset > 0 || origin !== null ? 0x80 : 0) | (right !== null ? 0x40 : 0) | (item.parentSub !== null ? 0x20 : 0))
      if (offset > 0) {
        encoding.writeVarUint(e, item.id.client)
        encoding.writeVarUint(e, item.id.clock + offset - 1)
      } else if (origin !== null) {
        encoding.writeVarUint(e, origin.client)
        encoding.writeVarUint(e, origin.clock)
      }
      if (right !== null) {
        encoding.writeVarUint(e, right.client)
        encoding.writeVarUint(e, right.clock)
      }
      if (isString) {
        const str = (content as Y.ContentString).str
        writeVarString(e, offset === 0 ? str : str.slice(offset))
      } else {
        encoding.writeVarUint(e, (content as Y.ContentDeleted).len - offset)
      }
      return
    }
  }
  s.write(encoder, offset)
}

/** lib0's writeVarString (UTF-8 length, then the bytes), copying short strings in one go instead of byte by byte */
function writeVarString (e: encoding.Encoder, str: string): void {
  if (str.length * 3 <= strScratch.length) {
    const written = utf8.encodeInto(str, strScratch).written
    encoding.writeVarUint(e, written)
    encoding.writeUint8Array(e, strScratch.subarray(0, written))
  } else {
    encoding.writeVarUint8Array(e, utf8.encode(str))
  }
}
