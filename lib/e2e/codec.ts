/**
 * Byte-level helpers shared by the e2e codecs. Writing uses lib0's encoder;
 * reading uses this strict reader instead of lib0's decoder, because every
 * input here is hostile: each read is bounds-checked against the input
 * itself (lib0 would read past the end of a subarray into the bytes of a
 * neighbouring frame), integers must be in their shortest lib0 var-uint form
 * and at most 2^53 − 1 (so every field has exactly one encoding and a
 * message is canonical by construction), and every failure is an
 * `E2eError('malformed')`.
 */
import * as encoding from 'lib0/encoding'
import { refuse } from './errors.js'

export class Reader {
  pos = 0
  constructor (readonly arr: Uint8Array, readonly what: string) {}

  fail (why: string): never {
    refuse('malformed', `${this.what}: ${why} at byte ${this.pos}`)
  }

  /** a lib0 var-uint in its shortest form, at most 2^53 − 1 */
  uint (): number {
    let num = 0
    let mult = 1
    for (let i = 0; ; i++) {
      if (this.pos >= this.arr.length) this.fail('unexpected end')
      const b = this.arr[this.pos++]
      num += (b & 0x7f) * mult
      if (b < 0x80) {
        if (b === 0 && i > 0) this.fail('an integer not in its shortest form')
        if (num > Number.MAX_SAFE_INTEGER) this.fail('an integer out of range')
        return num
      }
      mult *= 128
      if (i >= 7) this.fail('an integer out of range')
    }
  }

  /** a var-uint within [min, max] */
  bounded (min: number, max: number, field: string): number {
    const v = this.uint()
    if (v < min || v > max) this.fail(`${field} ${v} outside ${min}..${max}`)
    return v
  }

  /** exactly `n` bytes (a view) */
  raw (n: number): Uint8Array {
    if (this.arr.length - this.pos < n) this.fail('unexpected end')
    const out = this.arr.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** a var-uint length (at most `max`) and that many bytes (a view) */
  bytes (max: number, field: string): Uint8Array {
    const len = this.uint()
    if (len > max) this.fail(`${field} of ${len} bytes, over ${max}`)
    return this.raw(len)
  }

  end (): void {
    if (this.pos !== this.arr.length) this.fail(`${this.arr.length - this.pos} bytes after the end`)
  }
}

export function writeRaw (e: encoding.Encoder, bytes: Uint8Array, n: number): void {
  if (bytes.length !== n) throw new TypeError(`expected ${n} bytes, got ${bytes.length}`)
  encoding.writeUint8Array(e, bytes)
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i]
  return diff === 0
}

/** strict byte order (-1, 0, 1): the order of writers and members in every list */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

export function u32be (n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex (bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += HEX[b]
  return s
}
