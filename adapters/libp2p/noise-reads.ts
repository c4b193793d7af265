/**
 * No exception per read on a Noise connection.
 *
 * `@chainsafe/libp2p-noise` 17 splits incoming bytes into messages with
 * `@libp2p/utils`' LengthPrefixedDecoder and its `uint16BEDecode`, which
 * signals "fewer than 2 bytes buffered" by *constructing and throwing* a
 * RangeError that the decoder catches. That happens at the end of every read
 * that ends on a message boundary, which is nearly every read: a new Error
 * captures a stack trace each time, which cost a gateway more CPU than the
 * sync engine's own receive path (docs/BENCHMARKS.md, "Small frames (P2)").
 *
 * `quietShortReads(noise())` gives each secured connection a length decoder
 * that throws one preallocated RangeError instead. The decoder's contract is
 * unchanged (a RangeError still means "wait for more bytes"); only the cost of
 * saying so goes. A connection whose decoder does not look as expected is left
 * as it is.
 */
import type { ConnectionEncrypter, SecuredConnection } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

type EncrypterFactory<C, E> = (components: C) => ConnectionEncrypter<E>

/** thrown for every short read; allocated once, so no stack is captured per read */
const NEED_MORE = new RangeError('Could not decode int16BE')

/** Big-endian uint16 length prefix, as Noise frames its messages. */
export function uint16BEDecodeQuiet (data: Uint8Array | Uint8ArrayList): number {
  if (data.byteLength < 2) throw NEED_MORE
  if (data instanceof Uint8Array) return (data[0] << 8) | data[1]
  return data.getUint16(0)
}

interface DecoderHolder { decoder?: { lengthDecoder?: unknown } }

/** Swap the length decoder of one secured connection; false if it is not the expected shape. */
export function quietDecoderOf (connection: unknown): boolean {
  const decoder = (connection as DecoderHolder | null)?.decoder
  if (decoder === undefined || typeof decoder.lengthDecoder !== 'function') return false
  decoder.lengthDecoder = uint16BEDecodeQuiet
  return true
}

/** Wrap a connection encrypter factory (`noise()`) so its connections read without exceptions. */
export function quietShortReads<C, E> (factory: EncrypterFactory<C, E>): EncrypterFactory<C, E> {
  return (components: C) => {
    const inner = factory(components)
    const quiet = (secured: SecuredConnection<E>): SecuredConnection<E> => {
      quietDecoderOf(secured.connection)
      return secured
    }
    return {
      protocol: inner.protocol,
      secureInbound: async (connection, options) => quiet(await inner.secureInbound(connection, options)),
      secureOutbound: async (connection, options) => quiet(await inner.secureOutbound(connection, options))
    }
  }
}
