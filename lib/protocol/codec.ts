/**
 * Frame codec: one `writeFrame` / `readFrame` pair over lib0 encoders, the
 * encoding Yjs and y-protocols use (and yrs speaks).
 *
 * Frame body: [version varuint][type varuint][docKey 16 B, doc frames only][payload]
 * The length prefix that delimits bodies on a byte stream lives in `framing.ts`.
 * Every read is bounds-checked; nothing is allocated from an untrusted length.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ProtocolError } from '../errors.js'
import { ByeReason, DOC_KEY_BYTES, DS_DIGEST_BYTES, EPOCH_BYTES, type MessageType, PROTOCOL_VERSION } from './constants.js'

export interface HelloFrame { type: typeof MessageType.HELLO, maxFrameBytes: number, features: number, epoch: Uint8Array }
export interface Sync1Frame { type: typeof MessageType.SYNC1, docKey: Uint8Array, flags: number, stateVector: Uint8Array, dsDigest: Uint8Array }
export interface Sync2Frame { type: typeof MessageType.SYNC2, docKey: Uint8Array, seq: number, update: Uint8Array }
/** `partsLeft`: frames of the answer still to come after this one (the last is the SYNC2) */
export interface Sync2PartFrame { type: typeof MessageType.SYNC2_PART, docKey: Uint8Array, seq: number, partsLeft: number, update: Uint8Array }
export interface UpdateFrame { type: typeof MessageType.UPDATE, docKey: Uint8Array, seq: number, update: Uint8Array }
export interface AckFrame { type: typeof MessageType.ACK, docKey: Uint8Array, seq: number, stateVector: Uint8Array }
export interface AwarenessFrame { type: typeof MessageType.AWARENESS, docKey: Uint8Array, update: Uint8Array }
export interface DeniedFrame { type: typeof MessageType.DENIED, docKey: Uint8Array, reason: number }
export interface ByeFrame { type: typeof MessageType.BYE, reason: number, message: string }

/** GRANTS, REVOKE, CLAIM, E2E: frames of an engine extension (lib/grants, lib/e2e), whose body it reads itself */
export interface ExtensionFrame { type: typeof MessageType.GRANTS | typeof MessageType.REVOKE | typeof MessageType.CLAIM | typeof MessageType.E2E, body: Uint8Array }

export type DocFrame = Sync1Frame | Sync2Frame | Sync2PartFrame | UpdateFrame | AckFrame | AwarenessFrame | DeniedFrame
export type Frame = HelloFrame | ByeFrame | DocFrame | ExtensionFrame

const MAX_BYE_MESSAGE = 256

/**
 * How a field is laid out: a varuint, bytes with a varuint length, BYE's
 * message (UTF-8 with a varuint length), the rest of the body, or exactly
 * that many bytes.
 */
type FieldKind = 'uint' | 'bytes' | 'text' | 'rest' | number
type Field = readonly [name: string, kind: FieldKind]

const DOC_KEY: Field = ['docKey', DOC_KEY_BYTES]
const SEQ: Field = ['seq', 'uint']
const UPDATE: Field = ['update', 'bytes']
const EXTENSION: readonly Field[] = [['body', 'rest']]

/**
 * The fields of each frame type after the version and the type, in wire
 * order (`docs/PROTOCOL.md`), by frame type: MessageType numbers its types
 * 0, 1, 2… in the order it lists them (one entry per type, checked when compiling).
 */
const LAYOUTS = [
  /* HELLO */ [['maxFrameBytes', 'uint'], ['features', 'uint'], ['epoch', EPOCH_BYTES]],
  /* SYNC1 */ [DOC_KEY, ['flags', 'uint'], ['stateVector', 'bytes'], ['dsDigest', DS_DIGEST_BYTES]],
  /* SYNC2 */ [DOC_KEY, SEQ, UPDATE],
  /* UPDATE */ [DOC_KEY, SEQ, UPDATE],
  /* ACK */ [DOC_KEY, SEQ, ['stateVector', 'bytes']],
  /* AWARENESS */ [DOC_KEY, UPDATE],
  /* DENIED */ [DOC_KEY, ['reason', 'uint']],
  /* BYE */ [['reason', 'uint'], ['message', 'text']],
  /* SYNC2_PART */ [DOC_KEY, SEQ, ['partsLeft', 'uint'], UPDATE],
  /* GRANTS */ EXTENSION,
  /* REVOKE */ EXTENSION,
  /* CLAIM */ EXTENSION,
  /* E2E */ EXTENSION
] as const satisfies { readonly [K in keyof typeof MessageType as typeof MessageType[K]]: readonly Field[] }

export function encodeFrame (frame: Frame): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, PROTOCOL_VERSION)
  encoding.writeVarUint(e, frame.type)
  for (const [name, kind] of LAYOUTS[frame.type]) {
    const value = (frame as unknown as Record<string, never>)[name]
    if (kind === 'uint') encoding.writeVarUint(e, value)
    else if (kind === 'bytes') encoding.writeVarUint8Array(e, value)
    else if (kind === 'text') encoding.writeVarString(e, (value as string).slice(0, MAX_BYE_MESSAGE))
    else {
      if (kind !== 'rest' && (value as Uint8Array).length !== kind) throw new TypeError(`${name} must be ${kind} bytes`)
      encoding.writeUint8Array(e, value)
    }
  }
  return encoding.toUint8Array(e)
}

const fail = (msg: string, code: number = ByeReason.PROTOCOL_ERROR): never => {
  throw new ProtocolError(msg, code)
}

function readUint (d: decoding.Decoder): number {
  // lib0 reads at most 53 bits; a varuint that runs off the end throws, which we map
  if (!decoding.hasContent(d)) fail('truncated frame')
  try {
    return decoding.readVarUint(d)
  } catch {
    return fail('malformed varuint')
  }
}

function readFixed (d: decoding.Decoder, len: number): Uint8Array {
  if (d.arr.length - d.pos < len) fail('truncated frame')
  return decoding.readUint8Array(d, len)
}

function readBytes (d: decoding.Decoder): Uint8Array {
  const len = readUint(d)
  return readFixed(d, len)
}

/** BYE's message: bounded, and strict UTF-8 */
function readText (d: decoding.Decoder): string {
  const raw = readBytes(d)
  if (raw.length > MAX_BYE_MESSAGE * 4) fail('BYE message too long')
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw)
  } catch {
    return fail('BYE message is not UTF-8')
  }
}

/**
 * Decode a frame body. Throws `ProtocolError` (with the BYE reason to send) on
 * anything malformed: unknown version or type, truncation, trailing bytes.
 * Byte fields are views into `body`, not copies.
 */
export function decodeFrame (body: Uint8Array): Frame {
  const d = decoding.createDecoder(body)
  const version = readUint(d)
  if (version !== PROTOCOL_VERSION) fail(`unsupported protocol version ${version}`, ByeReason.UNSUPPORTED_VERSION)
  const type = readUint(d)
  const layout = LAYOUTS[type] ?? fail(`unknown frame type ${type}`)
  const frame: Record<string, unknown> = { type }
  for (const [name, kind] of layout) {
    const value = kind === 'uint'
      ? readUint(d)
      : kind === 'bytes' ? readBytes(d) : kind === 'text' ? readText(d) : readFixed(d, kind === 'rest' ? d.arr.length - d.pos : kind)
    if (name === 'partsLeft' && value === 0) fail('SYNC2_PART with no parts left')
    frame[name] = value
  }
  if (decoding.hasContent(d)) fail('trailing bytes after frame')
  return frame as unknown as Frame
}
