/**
 * What a webhook keeps in the node's storage (webhook.ts): per doc, the
 * cursor (what the receiver has acknowledged) and the outbox (the batch being
 * delivered, as the exact bytes posted), and per webhook a watermark for the
 * sweep after a restart.
 *
 *   ['_meshdoc', 'webhooks', hookId, 'd', docKey]   a DocRecord
 *   ['_meshdoc', 'webhooks', hookId, 'm']           a HookRecord
 *
 * Records are versioned lib0 encodings, every length checked against what
 * is left before it is read; one that does not decode is skipped by the
 * caller (and logged).
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import type { StorageKey } from '../storage/types.js'

const VERSION = 1
/** a doc id, an idempotency key */
const MAX_FIELD_BYTES = 64 * 1024
/** a state vector: a few bytes per client that ever wrote the doc */
const MAX_STATE_VECTOR_BYTES = 1024 * 1024

export const hooksPrefix = (hookId: string): StorageKey => ['_meshdoc', 'webhooks', hookId]
export const docRecordKey = (hookId: string, keyHex: string): StorageKey => ['_meshdoc', 'webhooks', hookId, 'd', keyHex]
export const hookRecordKey = (hookId: string): StorageKey => ['_meshdoc', 'webhooks', hookId, 'm']

/** Where the receiver is for one doc: the state it acknowledged. */
export interface Cursor {
  /** state vector (V1) of what was delivered; empty: nothing yet */
  stateVector: Uint8Array
  /** SHA-256 of the delete set delivered with it (empty: none) */
  deletes: Uint8Array
}

/** A batch written before it is posted, and posted as it is until the receiver takes it. */
export interface OutboxBatch {
  idempotencyKey: string
  /** the cursor once the receiver has taken it */
  to: Cursor
  /** the request body, exactly as posted */
  body: Uint8Array
}

export interface DocRecord {
  /** the doc's id as the batch named it (`key:<hex>` when unknown) */
  docId: string
  cursor: Cursor
  outbox: OutboxBatch | undefined
}

export interface HookRecord {
  /**
   * Every change stored before this time (ms since the epoch) in a doc whose
   * files are older is covered by that doc's record: the sweep after a start
   * loads only docs changed since. 0: a new webhook (every stored doc is swept).
   */
  watermark: number
}

export function encodeDocRecord (r: DocRecord): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, VERSION)
  encoding.writeVarString(e, r.docId)
  writeCursor(e, r.cursor)
  encoding.writeUint8(e, r.outbox !== undefined ? 1 : 0)
  if (r.outbox !== undefined) {
    encoding.writeVarString(e, r.outbox.idempotencyKey)
    writeCursor(e, r.outbox.to)
    encoding.writeVarUint8Array(e, r.outbox.body)
  }
  return encoding.toUint8Array(e)
}

export function decodeDocRecord (data: Uint8Array): DocRecord {
  const d = decoding.createDecoder(data)
  version(d)
  const docId = readString(d)
  const cursor = readCursor(d)
  const outbox = decoding.readUint8(d) === 1
    ? { idempotencyKey: readString(d), to: readCursor(d), body: readBytes(d, Infinity) }
    : undefined
  end(d)
  return { docId, cursor, outbox }
}

export function encodeHookRecord (r: HookRecord): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeUint8(e, VERSION)
  encoding.writeFloat64(e, r.watermark)
  return encoding.toUint8Array(e)
}

export function decodeHookRecord (data: Uint8Array): HookRecord {
  const d = decoding.createDecoder(data)
  version(d)
  const watermark = decoding.readFloat64(d)
  end(d)
  if (!Number.isFinite(watermark) || watermark < 0) throw new Error('a webhook record with a bad watermark')
  return { watermark }
}

function writeCursor (e: encoding.Encoder, c: Cursor): void {
  encoding.writeVarUint8Array(e, c.stateVector)
  encoding.writeVarUint8Array(e, c.deletes)
}

function readCursor (d: decoding.Decoder): Cursor {
  return { stateVector: readBytes(d, MAX_STATE_VECTOR_BYTES), deletes: readBytes(d, 32) }
}

function version (d: decoding.Decoder): void {
  const v = decoding.readUint8(d)
  if (v !== VERSION) throw new Error(`a webhook record of version ${v} (this meshdoc reads ${VERSION})`)
}

function readBytes (d: decoding.Decoder, max: number): Uint8Array {
  const len = decoding.readVarUint(d)
  if (len > max || len > d.arr.length - d.pos) throw new Error('a webhook record field past its size')
  return decoding.readUint8Array(d, len)
}

function readString (d: decoding.Decoder): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(readBytes(d, MAX_FIELD_BYTES))
}

function end (d: decoding.Decoder): void {
  if (decoding.hasContent(d)) throw new Error('trailing bytes after a webhook record')
}
