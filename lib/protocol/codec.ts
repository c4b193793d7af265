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
import { ByeReason, DOC_KEY_BYTES, DS_DIGEST_BYTES, EPOCH_BYTES, MessageType, PROTOCOL_VERSION } from './constants.js'

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

/** GRANTS, REVOKE, CLAIM: frames of an engine extension (lib/grants), whose body it reads itself */
export interface ExtensionFrame { type: typeof MessageType.GRANTS | typeof MessageType.REVOKE | typeof MessageType.CLAIM, body: Uint8Array }

export type DocFrame = Sync1Frame | Sync2Frame | Sync2PartFrame | UpdateFrame | AckFrame | AwarenessFrame | DeniedFrame
export type Frame = HelloFrame | ByeFrame | DocFrame | ExtensionFrame

const MAX_BYE_MESSAGE = 256

export function encodeFrame (frame: Frame): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, PROTOCOL_VERSION)
  encoding.writeVarUint(e, frame.type)
  switch (frame.type) {
    case MessageType.HELLO:
      encoding.writeVarUint(e, frame.maxFrameBytes)
      encoding.writeVarUint(e, frame.features)
      if (frame.epoch.length !== EPOCH_BYTES) throw new TypeError('epoch must be 8 bytes')
      encoding.writeUint8Array(e, frame.epoch)
      break
    case MessageType.BYE:
      encoding.writeVarUint(e, frame.reason)
      encoding.writeVarString(e, frame.message.slice(0, MAX_BYE_MESSAGE))
      break
    case MessageType.GRANTS:
    case MessageType.REVOKE:
    case MessageType.CLAIM:
      encoding.writeUint8Array(e, frame.body)
      break
    default:
      if (frame.docKey.length !== DOC_KEY_BYTES) throw new TypeError('docKey must be 16 bytes')
      encoding.writeUint8Array(e, frame.docKey)
      writeDocPayload(e, frame)
  }
  return encoding.toUint8Array(e)
}

function writeDocPayload (e: encoding.Encoder, frame: DocFrame): void {
  switch (frame.type) {
    case MessageType.SYNC1:
      encoding.writeVarUint(e, frame.flags)
      encoding.writeVarUint8Array(e, frame.stateVector)
      encoding.writeUint8Array(e, frame.dsDigest)
      break
    case MessageType.SYNC2:
    case MessageType.UPDATE:
      encoding.writeVarUint(e, frame.seq)
      encoding.writeVarUint8Array(e, frame.update)
      break
    case MessageType.SYNC2_PART:
      encoding.writeVarUint(e, frame.seq)
      encoding.writeVarUint(e, frame.partsLeft)
      encoding.writeVarUint8Array(e, frame.update)
      break
    case MessageType.ACK:
      encoding.writeVarUint(e, frame.seq)
      encoding.writeVarUint8Array(e, frame.stateVector)
      break
    case MessageType.AWARENESS:
      encoding.writeVarUint8Array(e, frame.update)
      break
    case MessageType.DENIED:
      encoding.writeVarUint(e, frame.reason)
      break
  }
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
  let frame: Frame
  switch (type) {
    case MessageType.HELLO:
      frame = { type, maxFrameBytes: readUint(d), features: readUint(d), epoch: readFixed(d, EPOCH_BYTES) }
      break
    case MessageType.BYE: {
      const reason = readUint(d)
      const raw = readBytes(d)
      if (raw.length > MAX_BYE_MESSAGE * 4) fail('BYE message too long')
      let message: string
      try {
        message = new TextDecoder('utf-8', { fatal: true }).decode(raw)
      } catch {
        return fail('BYE message is not UTF-8')
      }
      frame = { type, reason, message }
      break
    }
    case MessageType.SYNC1:
    case MessageType.SYNC2:
    case MessageType.SYNC2_PART:
    case MessageType.UPDATE:
    case MessageType.ACK:
    case MessageType.AWARENESS:
    case MessageType.DENIED:
      frame = readDocFrame(d, type)
      break
    case MessageType.GRANTS:
    case MessageType.REVOKE:
    case MessageType.CLAIM:
      return { type, body: readFixed(d, d.arr.length - d.pos) }
    default:
      return fail(`unknown frame type ${type}`)
  }
  if (decoding.hasContent(d)) fail('trailing bytes after frame')
  return frame
}

function readDocFrame (d: decoding.Decoder, type: DocFrame['type']): DocFrame {
  const docKey = readFixed(d, DOC_KEY_BYTES)
  switch (type) {
    case MessageType.SYNC1: {
      const flags = readUint(d)
      const stateVector = readBytes(d)
      const dsDigest = readFixed(d, DS_DIGEST_BYTES)
      return { type, docKey, flags, stateVector, dsDigest }
    }
    case MessageType.SYNC2:
    case MessageType.UPDATE:
      return { type, docKey, seq: readUint(d), update: readBytes(d) }
    case MessageType.SYNC2_PART: {
      const seq = readUint(d)
      const partsLeft = readUint(d)
      if (partsLeft < 1) fail('SYNC2_PART with no parts left')
      return { type, docKey, seq, partsLeft, update: readBytes(d) }
    }
    case MessageType.ACK:
      return { type, docKey, seq: readUint(d), stateVector: readBytes(d) }
    case MessageType.AWARENESS:
      return { type, docKey, update: readBytes(d) }
    case MessageType.DENIED:
      return { type, docKey, reason: readUint(d) }
  }
}
