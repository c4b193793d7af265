/**
 * Window updates once half the receive window is used, as go-yamux and
 * hashicorp/yamux send them.
 *
 * `@chainsafe/libp2p-yamux` 8 sends a window-update frame after *every* data
 * frame it consumes (`YamuxStream.handleData` -> `sendWindowUpdate`, with no
 * threshold). For sync traffic, which is many small frames, that doubles the
 * messages on every hop: each keystroke's UPDATE and each ACK is answered by a
 * window update that is encrypted, written, read, decrypted and parsed (bench
 * P2). The yamux spec leaves the timing to the receiver; the Go
 * implementations wait until at least half the window has been consumed.
 *
 * `halfWindowUpdates(yamux())` gives each stream of each muxer that rule. The
 * sender can still send a whole window without waiting, so bulk transfers do
 * not stall; auto-tuning of the window (doubling on fast links) still runs on
 * each update. Updates that carry flags (SYN/ACK while a stream opens) and
 * updates after a pause (read backpressure) go out as before.
 *
 * It reaches into the muxer's stream objects, so it checks their shape and
 * leaves any stream it does not recognise alone (a yamux upgrade that changes
 * them falls back to the stock behaviour; test/transport-tuning.spec.ts notices).
 */
import type { StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

/** YamuxStream.state while established (yamux 8's StreamState.Established) */
const ESTABLISHED = 3

interface YamuxStreamInternals {
  state: number
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate: () => void
}

interface YamuxMuxerInternals {
  _newStream: (...args: unknown[]) => unknown
}

function isYamuxStream (s: unknown): s is YamuxStreamInternals {
  const x = s as Partial<YamuxStreamInternals> | null
  return x !== null && typeof x === 'object' && typeof x.sendWindowUpdate === 'function' &&
    typeof x.recvWindow === 'number' && typeof x.recvWindowCapacity === 'number' && typeof x.state === 'number'
}

/** Give one stream the half-window rule; false if it does not look like a yamux 8 stream. */
export function useHalfWindowUpdates (stream: unknown): boolean {
  if (!isYamuxStream(stream)) return false
  const send = stream.sendWindowUpdate.bind(stream)
  stream.sendWindowUpdate = () => {
    if (stream.state === ESTABLISHED && stream.recvWindow - stream.recvWindowCapacity < stream.recvWindow / 2) return
    send()
  }
  return true
}

/** Wrap a stream muxer factory (`yamux()`) so its streams send window updates at half a window. */
export function halfWindowUpdates<A extends unknown[], M extends StreamMuxer> (factory: (...args: A) => StreamMuxerFactory<M>): (...args: A) => StreamMuxerFactory<M> {
  return (...args: A) => {
    const inner = factory(...args)
    // patched in place: the factory keeps its own identity (protocol, capabilities, tags)
    const create = inner.createStreamMuxer.bind(inner)
    inner.createStreamMuxer = (maConn) => {
      const muxer = create(maConn)
      const internals = muxer as unknown as Partial<YamuxMuxerInternals>
      const newStream = internals._newStream
      if (typeof newStream === 'function') {
        internals._newStream = (...args: unknown[]) => {
          const stream = newStream.apply(muxer, args)
          useHalfWindowUpdates(stream)
          return stream
        }
      }
      return muxer
    }
    return inner
  }
}
