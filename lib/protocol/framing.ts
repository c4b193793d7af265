/**
 * Length-prefixed framing for byte streams: [body length varuint][body].
 * `FrameReader` checks every announced length against the limit before it
 * buffers a single byte of the body, so a hostile 100 MB prefix costs nothing.
 */
import * as encoding from 'lib0/encoding'
import { Uint8ArrayList } from 'uint8arraylist'
import { FrameTooLargeError, ProtocolError } from '../errors.js'
import { ByeReason, MAX_LENGTH_PREFIX_BYTES } from './constants.js'

/** Prefix `body` with its varuint length. */
export function lengthPrefix (body: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, body.length)
  encoding.writeUint8Array(e, body)
  return encoding.toUint8Array(e)
}

export class FrameReader {
  private readonly buffer = new Uint8ArrayList()
  private expected = -1
  private failed = false

  constructor (private readonly maxFrameBytes: number) {}

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes (): number {
    return this.buffer.byteLength
  }

  /** Announced size of the frame being received, or -1 when no length prefix is pending (no allocation, unlike `partial`). */
  get expecting (): number {
    return this.expected
  }

  /** The frame being received, if its length is known: bytes so far and announced size. */
  get partial (): { received: number, expected: number } | undefined {
    return this.expected < 0 ? undefined : { received: Math.min(this.buffer.byteLength, this.expected), expected: this.expected }
  }

  /**
   * Feed received bytes; returns the complete frame bodies they finish.
   * Throws `FrameTooLargeError` / `ProtocolError`; after a throw the reader is
   * unusable and the stream must be closed.
   */
  push (chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    if (this.failed) throw new ProtocolError('frame reader already failed', ByeReason.PROTOCOL_ERROR)
    this.buffer.append(chunk)
    try {
      return this.drain()
    } catch (err) {
      // fatal: release everything held; the stream is about to be closed
      this.failed = true
      this.buffer.consume(this.buffer.byteLength)
      throw err
    }
  }

  private drain (): Uint8Array[] {
    const out: Uint8Array[] = []
    for (;;) {
      if (this.expected < 0) {
        const len = this.readPrefix()
        if (len === undefined) break
        this.expected = len
      }
      if (this.buffer.byteLength < this.expected) break
      out.push(this.buffer.subarray(0, this.expected))
      this.buffer.consume(this.expected)
      this.expected = -1
    }
    return out
  }

  private readPrefix (): number | undefined {
    let len = 0
    let mult = 1
    const avail = Math.min(this.buffer.byteLength, MAX_LENGTH_PREFIX_BYTES)
    for (let i = 0; i < avail; i++) {
      const b = this.buffer.get(i)
      len += (b & 0x7f) * mult
      if (len > this.maxFrameBytes) {
        throw new FrameTooLargeError(`frame of at least ${len} bytes exceeds the limit of ${this.maxFrameBytes}`, ByeReason.FRAME_TOO_LARGE)
      }
      if (b < 0x80) {
        this.buffer.consume(i + 1)
        return len
      }
      mult *= 128
    }
    if (this.buffer.byteLength >= MAX_LENGTH_PREFIX_BYTES) {
      throw new ProtocolError('length prefix too long', ByeReason.PROTOCOL_ERROR)
    }
    return undefined
  }
}
