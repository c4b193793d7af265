/**
 * One socket write per encrypted message.
 *
 * Noise hands the connection below it each message as a list of two chunks,
 * the 2-byte length and the ciphertext, and `@libp2p/tcp` (like the WebSocket
 * transport) writes every chunk of a list separately. A keystroke therefore cost
 * two `write` syscalls per frame, and the receiver often woke for the 2-byte
 * length alone and then again for the body (docs/BENCHMARKS.md, "Small
 * frames (P2)").
 *
 * `coalesceWrites(noise())` gives the encrypter a connection whose `send`
 * joins a small list into one buffer first. Large lists (bulk transfers) pass
 * through unchanged: joining them would only copy.
 */
import type { ConnectionEncrypter, MessageStream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** lists up to this size are joined: one Noise message is at most 65,535 B plus its 2-byte length */
const JOIN_MAX_BYTES = 65_537

type EncrypterFactory<C, E> = (components: C) => ConnectionEncrypter<E>

/** Wrap a connection encrypter factory (e.g. `noise()`) so each message it sends is one write below it. */
export function coalesceWrites<C, E> (factory: EncrypterFactory<C, E>): EncrypterFactory<C, E> {
  return (components: C) => {
    const inner = factory(components)
    return {
      protocol: inner.protocol,
      secureInbound: async (connection, options) => await inner.secureInbound(joinSends(connection), options),
      secureOutbound: async (connection, options) => await inner.secureOutbound(joinSends(connection), options)
    }
  }
}

function joinSends (connection: MessageStream): MessageStream {
  const send = connection.send.bind(connection)
  connection.send = (data: Uint8Array | Uint8ArrayList): boolean =>
    send(data instanceof Uint8Array || data.byteLength > JOIN_MAX_BYTES ? data : data.subarray())
  return connection
}
