/**
 * Check an awareness update before y-protocols applies it: bounded client
 * count and state size, well-formed JSON. Returns the clientIDs it names.
 */
import * as decoding from 'lib0/decoding'
import { ProtocolError } from '../errors.js'
import { ByeReason } from '../protocol/constants.js'

export function checkAwarenessUpdate (update: Uint8Array, maxClients: number, maxStateBytes: number): number[] {
  const fail = (msg: string, code: number = ByeReason.PROTOCOL_ERROR): never => { throw new ProtocolError(msg, code) }
  const d = decoding.createDecoder(update.slice())
  const clients: number[] = []
  try {
    const n = decoding.readVarUint(d)
    if (n > maxClients) fail(`awareness update names ${n} clients (limit ${maxClients})`, ByeReason.LIMIT_EXCEEDED)
    for (let i = 0; i < n; i++) {
      clients.push(decoding.readVarUint(d))
      decoding.readVarUint(d) // clock
      const len = decoding.readVarUint(d)
      if (len > maxStateBytes) fail(`awareness state of ${len} bytes (limit ${maxStateBytes})`, ByeReason.LIMIT_EXCEEDED)
      if (d.arr.length - d.pos < len) fail('truncated awareness update')
      const json = new TextDecoder('utf-8', { fatal: true }).decode(decoding.readUint8Array(d, len))
      JSON.parse(json)
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err
    fail(`malformed awareness update: ${(err as Error).message}`)
  }
  if (decoding.hasContent(d)) fail('trailing bytes in awareness update')
  return clients
}
