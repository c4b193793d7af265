/**
 * The y-websocket wire format: one WebSocket binary message per y-protocols
 * message, in y-websocket's envelope (a varuint message type first). Read
 * strictly (every field bounds-checked, nothing may follow the last one:
 * @y/websocket-server reads leniently, but no y-websocket client sends more),
 * written exactly as @y/websocket-server writes it. Also the close codes the
 * bridge ends a socket with.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { ProtocolError } from '../../lib/errors.js'
import { ByeReason, byeReasonName } from '../../lib/protocol/constants.js'

/** y-websocket's message types (y-websocket.js `messageSync`…) */
const MESSAGE_SYNC = 0
const MESSAGE_AWARENESS = 1
const MESSAGE_AUTH = 2
const MESSAGE_QUERY_AWARENESS = 3

/** y-protocols sync.js: `messageYjsSyncStep1`, `messageYjsSyncStep2`, `messageYjsUpdate` */
const SYNC_STEP1 = 0
const SYNC_STEP2 = 1
const SYNC_UPDATE = 2

/** A client's message, read. */
export type ClientMessage =
  | { type: 'sync1', stateVector: Uint8Array }
  | { type: 'sync2', update: Uint8Array }
  | { type: 'update', update: Uint8Array }
  | { type: 'awareness', update: Uint8Array }
  /** y-protocols auth: a server's message; from a client it means nothing */
  | { type: 'auth' }
  | { type: 'query_awareness' }

const fail = (message: string): never => { throw new ProtocolError(message, ByeReason.PROTOCOL_ERROR) }

function readUint (d: decoding.Decoder): number {
  if (!decoding.hasContent(d)) fail('truncated message')
  try {
    return decoding.readVarUint(d)
  } catch {
    return fail('malformed varuint')
  }
}

function readBytes (d: decoding.Decoder): Uint8Array {
  const len = readUint(d)
  if (d.arr.length - d.pos < len) fail('truncated message')
  return decoding.readUint8Array(d, len)
}

function end<T> (d: decoding.Decoder, message: T): T {
  if (decoding.hasContent(d)) fail('trailing bytes after the message')
  return message
}

/** Read one client message; throws ProtocolError (`protocol_error`) on anything malformed. Byte fields are views into `data`. */
export function readClientMessage (data: Uint8Array): ClientMessage {
  const d = decoding.createDecoder(data)
  const type = readUint(d)
  switch (type) {
    case MESSAGE_SYNC: {
      const step = readUint(d)
      const payload = readBytes(d)
      if (step === SYNC_STEP1) return end(d, { type: 'sync1', stateVector: payload })
      if (step === SYNC_STEP2) return end(d, { type: 'sync2', update: payload })
      if (step === SYNC_UPDATE) return end(d, { type: 'update', update: payload })
      return fail(`unknown sync message type ${step}`)
    }
    case MESSAGE_AWARENESS: return end(d, { type: 'awareness', update: readBytes(d) })
    // whatever follows: it is never read
    case MESSAGE_AUTH: return { type: 'auth' }
    case MESSAGE_QUERY_AWARENESS: return end(d, { type: 'query_awareness' })
    default: return fail(`unknown message type ${type}`)
  }
}

/** A sync message to a client: step 1 (a state vector), step 2 or an update (a V1 update). */
export function syncMessage (step: 'sync1' | 'sync2' | 'update', payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MESSAGE_SYNC)
  encoding.writeVarUint(e, step === 'sync1' ? SYNC_STEP1 : step === 'sync2' ? SYNC_STEP2 : SYNC_UPDATE)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}

/** An awareness message to a client. */
export function awarenessMessage (update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MESSAGE_AWARENESS)
  encoding.writeVarUint8Array(e, update)
  return encoding.toUint8Array(e)
}

/**
 * WebSocket close codes. y-websocket's WebsocketProvider stops reconnecting
 * on 4400–4499 (the server decided; reconnecting cannot fix it) and
 * reconnects, with backoff, on anything else.
 */
export const CloseCode = {
  NORMAL: 1000,
  /** the gateway is stopping: reconnect later */
  GOING_AWAY: 1001,
  /** a malformed message, update or room name */
  BAD_REQUEST: 4400,
  /** the token was refused (expired, revoked, forged, from an owner not trusted) */
  UNAUTHORIZED: 4401,
  /** no access to the room, or no longer (a grant ended, the policy changed) */
  FORBIDDEN: 4403,
  /** a cap was exceeded: an update, an awareness state, too many awareness clients */
  TOO_LARGE: 4413,
  /** the gateway failed, not the client's fault: reconnect */
  INTERNAL: 4500,
  /** the client read nothing of what waited for it: reconnect */
  SLOW_CONSUMER: 4503,
  /** too many messages or bytes: reconnect later */
  RATE_LIMITED: 4529
} as const

/** The close code for a BYE reason of the engine. */
export function closeCodeFor (reason: number): number {
  switch (reason) {
    case ByeReason.NORMAL: return CloseCode.NORMAL
    case ByeReason.SHUTDOWN: return CloseCode.GOING_AWAY
    case ByeReason.PROTOCOL_ERROR:
    case ByeReason.FRAME_TOO_LARGE:
    case ByeReason.UNSUPPORTED_VERSION:
    case ByeReason.MALFORMED_UPDATE: return CloseCode.BAD_REQUEST
    case ByeReason.FORBIDDEN: return CloseCode.FORBIDDEN
    case ByeReason.LIMIT_EXCEEDED: return CloseCode.TOO_LARGE
    case ByeReason.RATE_LIMITED: return CloseCode.RATE_LIMITED
    case ByeReason.SLOW_CONSUMER: return CloseCode.SLOW_CONSUMER
    default: return CloseCode.INTERNAL
  }
}

/** A close reason: `<reason name>: <message>`, cut to the 123 bytes of UTF-8 a close frame holds. */
export function closeReason (reason: number | string, message: string): string {
  const text = `${typeof reason === 'number' ? byeReasonName(reason) : reason}: ${message}`
  const bytes = new TextEncoder().encode(text)
  if (bytes.length <= 123) return text
  // cut at a character boundary: a continuation byte is 10xxxxxx
  let n = 123
  while (n > 0 && (bytes[n] & 0xc0) === 0x80) n--
  return new TextDecoder().decode(bytes.subarray(0, n))
}
