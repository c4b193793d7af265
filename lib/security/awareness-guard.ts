/**
 * Parse an awareness update before y-protocols applies it: bounded entry
 * count and state size, well-formed JSON, no trailing bytes. Returns its
 * entries, so the caller can keep only those the sender may send, and
 * `encodeAwarenessEntries` writes the kept ones back in the same format.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { ProtocolError } from '../errors.js'
import { ByeReason } from '../protocol/constants.js'

export interface AwarenessEntry {
  clientID: number
  clock: number
  /** the state as JSON text (`null` for a removal) */
  json: string
  /** the state is `null`: the client left */
  removal: boolean
}

export function parseAwarenessUpdate (update: Uint8Array, maxEntries: number, maxStateBytes: number): AwarenessEntry[] {
  const fail = (msg: string, code: number = ByeReason.PROTOCOL_ERROR): never => { throw new ProtocolError(msg, code) }
  const d = decoding.createDecoder(update.slice())
  const entries: AwarenessEntry[] = []
  try {
    const n = decoding.readVarUint(d)
    if (n > maxEntries) fail(`awareness update names ${n} clients (limit ${maxEntries})`, ByeReason.LIMIT_EXCEEDED)
    for (let i = 0; i < n; i++) {
      const clientID = decoding.readVarUint(d)
      const clock = decoding.readVarUint(d)
      const len = decoding.readVarUint(d)
      if (len > maxStateBytes) fail(`awareness state of ${len} bytes (limit ${maxStateBytes})`, ByeReason.LIMIT_EXCEEDED)
      if (d.arr.length - d.pos < len) fail('truncated awareness update')
      const json = new TextDecoder('utf-8', { fatal: true }).decode(decoding.readUint8Array(d, len))
      const state: unknown = JSON.parse(json)
      entries.push({ clientID, clock, json, removal: state === null })
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    fail(`malformed awareness update: ${(err as Error).message}`)
  }
  if (decoding.hasContent(d)) fail('trailing bytes in awareness update')
  return entries
}

/** An awareness update (y-protocols format) holding exactly these entries. */
export function encodeAwarenessEntries (entries: readonly AwarenessEntry[]): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, entries.length)
  for (const entry of entries) {
    encoding.writeVarUint(e, entry.clientID)
    encoding.writeVarUint(e, entry.clock)
    encoding.writeVarString(e, entry.json)
  }
  return encoding.toUint8Array(e)
}
