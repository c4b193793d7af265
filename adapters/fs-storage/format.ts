/**
 * The on-disk format of the fs adapter: file names and checksummed records.
 *
 * `.log` and `.snap` files are plain sequences of records, no file header:
 *
 *   record  magic 'M' 'D' 'R' '1'  length:u32le  crc:u32le  payload[length]
 *   payload op:u8 (1 PUT, 2 DEL, 3 DEL_RANGE)  parts:varuint  (len:varuint utf8[len])*  data (PUT only: the rest)
 *
 * `crc` is CRC-32 (zlib) of the data directory's 16-byte salt (kept in
 * meshdoc-fs.json), the four length bytes and the payload. A record that is
 * short, oversized, fails its checksum or does not decode starts a damaged
 * region: the reader skips to the next magic that begins a good record, so a
 * torn or garbage tail is cut off and every record before it is kept (and,
 * when several writers share a log, records a live writer appended after a
 * dead writer's torn one are kept too). The adapter then merges the bucket at
 * once, which rewrites it without the damaged bytes. The salt keeps bytes that a peer put
 * into a document from ever passing for a record while the reader resyncs.
 *
 * File names inside a bucket directory:
 *   <gen:10 digits>.log                  the append-only log of generation `gen`, shared by every writer
 *   <gen:10 digits>-<writer:12 hex>.snap  a merged file: the bucket's whole state up to and including `gen`
 *   *.tmp                                 a snapshot being written (ignored; removed by the next merge)
 */
import { crc32 } from 'node:zlib'
import type { StorageKey } from '../../lib/storage/types.js'

export const RECORD_HEADER_BYTES = 12
export const SALT_BYTES = 16
/** what the adapter creates is private to the user: the store holds the node's identity key */
export const DIR_MODE = 0o700
export const FILE_MODE = 0o600
/** a record larger than this is treated as garbage */
export const MAX_RECORD_BYTES = 1 << 30
const MAGIC = [0x4d, 0x44, 0x52, 0x31] // 'MDR1'

export const Op = { PUT: 1, DEL: 2, DEL_RANGE: 3 } as const
export type Op = typeof Op[keyof typeof Op]

export interface Record {
  op: Op
  key: StorageKey
  /** PUT only */
  data?: Uint8Array
}

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** The CRC-32 state after the salt: the seed every record checksum continues from. */
export function saltSeed (salt: Uint8Array): number {
  return crc32(salt)
}

function varuintSize (n: number): number {
  let size = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); size++ }
  return size
}

function writeVaruint (buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[pos++] = n
  return pos
}

/** Payload size of a record, without its RECORD_HEADER_BYTES header (magic, length, crc: 12 bytes). */
export function payloadSize (rec: Record, encodedParts: Uint8Array[]): number {
  let size = 1 + varuintSize(encodedParts.length)
  for (const p of encodedParts) size += varuintSize(p.length) + p.length
  if (rec.op === Op.PUT) size += rec.data!.length
  return size
}

/** Total bytes `records` take in a file (for buffer sizing and accounting). */
export function encodedSize (rec: Record): number {
  return RECORD_HEADER_BYTES + payloadSize(rec, rec.key.map(p => utf8.encode(p)))
}

/** Encode records into one buffer. */
export function encodeRecords (records: Record[], seed: number): Uint8Array {
  const parts = records.map(r => r.key.map(p => utf8.encode(p)))
  const sizes = records.map((r, i) => payloadSize(r, parts[i]))
  let total = 0
  for (const s of sizes) total += RECORD_HEADER_BYTES + s
  const buf = new Uint8Array(total)
  const view = new DataView(buf.buffer)
  let pos = 0
  for (let i = 0; i < records.length; i++) {
    const rec = records[i]
    const start = pos
    buf.set(MAGIC, pos)
    view.setUint32(pos + 4, sizes[i], true)
    pos += RECORD_HEADER_BYTES
    buf[pos++] = rec.op
    pos = writeVaruint(buf, pos, parts[i].length)
    for (const p of parts[i]) {
      pos = writeVaruint(buf, pos, p.length)
      buf.set(p, pos)
      pos += p.length
    }
    if (rec.op === Op.PUT) { buf.set(rec.data!, pos); pos += rec.data!.length }
    view.setUint32(start + 8, checksum(buf, start, pos, seed), true)
  }
  return buf
}

function checksum (buf: Uint8Array, start: number, end: number, seed: number): number {
  return crc32(buf.subarray(start + RECORD_HEADER_BYTES, end), crc32(buf.subarray(start + 4, start + 8), seed))
}

export interface ParsedFile {
  records: Record[]
  /** damaged regions skipped, as [start, end) byte offsets */
  damaged: Array<[number, number]>
  /** bytes in damaged regions */
  damagedBytes: number
}

/** Parse a whole file. Never throws: damaged regions are skipped and reported. */
export function parseFile (input: Uint8Array, seed: number): ParsedFile {
  // a plain view (a Buffer's slice() would not copy), so records own their bytes
  const buf = new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const records: Record[] = []
  const damaged: Array<[number, number]> = []
  let damagedBytes = 0
  let pos = 0
  while (pos < buf.length) {
    const rec = readRecord(buf, view, pos, seed)
    if (rec !== undefined) {
      records.push(rec.record)
      pos = rec.end
      continue
    }
    // damaged: find the next magic that starts a good record
    let next = pos + 1
    for (;;) {
      next = findMagic(buf, next)
      if (next < 0 || readRecord(buf, view, next, seed) !== undefined) break
      next++
    }
    const end = next < 0 ? buf.length : next
    damaged.push([pos, end])
    damagedBytes += end - pos
    pos = end
  }
  return { records, damaged, damagedBytes }
}

function findMagic (buf: Uint8Array, from: number): number {
  for (let i = buf.indexOf(MAGIC[0], from); i >= 0 && i + 4 <= buf.length; i = buf.indexOf(MAGIC[0], i + 1)) {
    if (buf[i + 1] === MAGIC[1] && buf[i + 2] === MAGIC[2] && buf[i + 3] === MAGIC[3]) return i
  }
  return -1
}

function readRecord (buf: Uint8Array, view: DataView, start: number, seed: number): { record: Record, end: number } | undefined {
  if (buf.length - start < RECORD_HEADER_BYTES) return undefined
  if (buf[start] !== MAGIC[0] || buf[start + 1] !== MAGIC[1] || buf[start + 2] !== MAGIC[2] || buf[start + 3] !== MAGIC[3]) return undefined
  const len = view.getUint32(start + 4, true)
  const end = start + RECORD_HEADER_BYTES + len
  if (len < 2 || len > MAX_RECORD_BYTES || end > buf.length) return undefined
  if (checksum(buf, start, end, seed) !== view.getUint32(start + 8, true)) return undefined
  const record = decodePayload(buf.subarray(start + RECORD_HEADER_BYTES, end))
  return record === undefined ? undefined : { record, end }
}

function decodePayload (p: Uint8Array): Record | undefined {
  const op = p[0]
  if (op !== Op.PUT && op !== Op.DEL && op !== Op.DEL_RANGE) return undefined
  let pos = 1
  const readVaruint = (): number | undefined => {
    let n = 0
    let mult = 1
    for (let i = 0; i < 8 && pos < p.length; i++) {
      const b = p[pos++]
      n += (b & 0x7f) * mult
      if (b < 0x80) return n
      mult *= 0x80
    }
    return undefined
  }
  const count = readVaruint()
  if (count === undefined || count > p.length) return undefined
  const key: string[] = []
  for (let i = 0; i < count; i++) {
    const len = readVaruint()
    if (len === undefined || pos + len > p.length) return undefined
    try {
      key.push(utf8Strict.decode(p.subarray(pos, pos + len)))
    } catch {
      return undefined
    }
    pos += len
  }
  if (op === Op.PUT) return { op, key, data: p.slice(pos) }
  return pos === p.length ? { op, key } : undefined
}

// ------------------------------------------------------------------ names

const LOG_RE = /^(\d{10})\.log$/
const SNAP_RE = /^(\d{10})-([0-9a-f]{12})\.snap$/

export interface FileName {
  name: string
  gen: number
  kind: 'log' | 'snap'
}

export function logName (gen: number): string {
  return `${String(gen).padStart(10, '0')}.log`
}

export function snapName (gen: number, writer: string): string {
  return `${String(gen).padStart(10, '0')}-${writer}.snap`
}

export function parseFileName (name: string): FileName | undefined {
  let m = LOG_RE.exec(name)
  if (m !== null) return { name, gen: Number(m[1]), kind: 'log' }
  m = SNAP_RE.exec(name)
  if (m !== null) return { name, gen: Number(m[1]), kind: 'snap' }
  return undefined
}

/**
 * The files that make up a bucket's state, in replay order: the newest
 * snapshot (it holds everything of its generation and before) and every log of
 * a later generation.
 */
export function selectFiles (files: FileName[]): FileName[] {
  let snap: FileName | undefined
  for (const f of files) {
    if (f.kind === 'snap' && (snap === undefined || f.gen > snap.gen || (f.gen === snap.gen && f.name > snap.name))) snap = f
  }
  const after = files.filter(f => f.kind === 'log' && (snap === undefined || f.gen > snap.gen)).sort((a, b) => a.gen - b.gen)
  return snap === undefined ? after : [snap, ...after]
}

const PLAIN = /^[a-z0-9_-]{1,128}$/
const KEEP = /[a-z0-9_-]/

/**
 * Directory name for a key's first part. Names made only of [a-z0-9_-] are
 * used as they are (doc keys are lowercase hex); anything else is `~` plus
 * upper-case percent-escapes, which no two strings share even on a
 * case-insensitive filesystem; very long ones become `~~` plus a hash. Records
 * carry their full key, so the name only has to spread keys, not identify them.
 */
export function bucketName (part: string, hash: (s: string) => string): string {
  if (PLAIN.test(part)) return part
  let out = '~'
  for (const ch of part) {
    if (KEEP.test(ch)) out += ch
    else for (const b of utf8.encode(ch)) out += '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out.length <= 160 ? out : '~~' + hash(part)
}
