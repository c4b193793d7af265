/**
 * Finding dead connections cheaply, for nodes that hold many (a gateway).
 *
 * libp2p's connection monitor pings every connection from one timer every
 * 10 s, each ping a new stream with a protocol negotiation: at 1,000 devices
 * that was a 0.4–0.8 s burst of work every 10 s, most of an idle gateway's
 * CPU and its tail latency (issue 18). This instead sends a yamux PING (one
 * 12-byte frame: no stream, no negotiation) on each connection, every
 * `intervalMs`, each connection at its own random phase, so the work is
 * spread evenly; a connection that does not answer within `timeoutMs` is
 * aborted, so a black-holed peer (gone without a FIN) is still found and
 * redialled. yamux's own keep-alive only measures and never aborts, so the
 * Node preset turns it off and libp2p's monitor with it.
 *
 * A connection that delivered bytes since its last check is not pinged
 * then: the peer was alive a moment ago (its own ping, a frame). Both ends
 * monitor, so one ping per connection and interval is enough: the end that
 * hears the other's pings skips its own (at 1,000 devices the gateway's 33
 * pings and 33 answers a second; issue 18). The answer to our own ping is
 * not news, and a connection that went quiet is pinged at its next check, so
 * a dead peer is still found within two intervals and the timeout.
 *
 * Reaches into libp2p's Connection for its muxer (`muxer.ping` and
 * `muxer.onData`, the yamux muxer's); a connection with another muxer is not
 * monitored.
 */
import type { Connection, Libp2p } from '@libp2p/interface'
import { logger } from '../../lib/log.js'

const log = logger('libp2p')

export interface LinkMonitorOptions {
  /** ping each connection this often (default 30 s) */
  intervalMs?: number
  /** abort a connection whose ping is not answered within this (default 15 s) */
  timeoutMs?: number
}

export const DEFAULT_LINK_PING_INTERVAL_MS = 30_000
export const DEFAULT_LINK_PING_TIMEOUT_MS = 15_000

/** setTimeout's longest delay (a longer one fires at once) */
const MAX_TIMER_MS = 2 ** 31 - 1

const HEARD = Symbol('meshdoc:heard')

interface Pingable {
  ping: (options?: { signal?: AbortSignal }) => Promise<number>
  /** every chunk the connection reads goes through it (AbstractStreamMuxer) */
  onData?: (buf: unknown) => void
  /** bytes arrived since the last check (set by the `onData` wrapper below) */
  [HEARD]?: boolean
}

function muxerOf (conn: Connection): Pingable | undefined {
  const muxer = (conn as unknown as { muxer?: Partial<Pingable> }).muxer
  return typeof muxer?.ping === 'function' ? muxer as Pingable : undefined
}

/** Note on the muxer when its connection reads anything (once per muxer; false: cannot, always ping). */
function watchReads (muxer: Pingable): boolean {
  if (muxer[HEARD] !== undefined) return true
  const onData = muxer.onData
  if (typeof onData !== 'function') return false
  muxer[HEARD] = false
  muxer.onData = function (this: Pingable, buf: unknown) {
    this[HEARD] = true
    onData.call(this, buf)
  }
  return true
}

/** Start monitoring every connection of `libp2p` (open now or later); returns the stop. */
export function monitorLinks (libp2p: Libp2p, opts: LinkMonitorOptions = {}): () => void {
  const intervalMs = opts.intervalMs ?? DEFAULT_LINK_PING_INTERVAL_MS
  const timeoutMs = opts.timeoutMs ?? DEFAULT_LINK_PING_TIMEOUT_MS
  const timers = new Map<string, ReturnType<typeof setTimeout>>()
  let stopped = false

  const schedule = (conn: Connection, delay: number): void => {
    const timer = setTimeout(() => { void ping(conn) }, Math.min(delay, MAX_TIMER_MS))
    timer.unref?.()
    timers.set(conn.id, timer)
  }

  const ping = async (conn: Connection): Promise<void> => {
    timers.delete(conn.id)
    const muxer = muxerOf(conn)
    if (stopped || conn.status !== 'open' || muxer === undefined) return
    if (muxer[HEARD] === true) {
      // alive a moment ago: check again an interval from now
      muxer[HEARD] = false
      schedule(conn, intervalMs)
      return
    }
    try {
      await muxer.ping({ signal: AbortSignal.timeout(timeoutMs) })
    } catch (err) {
      if (stopped || conn.status !== 'open') return
      log('no answer to a ping from %s within %d ms: aborting the connection (%s)', conn.remotePeer.toString(), timeoutMs, (err as Error).message)
      conn.abort(new Error(`no answer to a ping within ${timeoutMs} ms`))
      return
    }
    // the answer is not news: only what arrives from now on spares the next ping
    muxer[HEARD] = false
    if (!stopped && conn.status === 'open') schedule(conn, intervalMs)
  }

  const watch = (conn: Connection): void => {
    const muxer = muxerOf(conn)
    if (muxer !== undefined) watchReads(muxer)
    // a random phase: a thousand devices that connected at once are not pinged at once
    schedule(conn, Math.random() * intervalMs)
  }
  const onOpen = (evt: CustomEvent<Connection>): void => { watch(evt.detail) }
  const onClose = (evt: CustomEvent<Connection>): void => {
    clearTimeout(timers.get(evt.detail.id))
    timers.delete(evt.detail.id)
  }
  libp2p.addEventListener('connection:open', onOpen)
  libp2p.addEventListener('connection:close', onClose)
  for (const conn of libp2p.getConnections()) watch(conn)
  return () => {
    stopped = true
    libp2p.removeEventListener('connection:open', onOpen)
    libp2p.removeEventListener('connection:close', onClose)
    for (const t of timers.values()) clearTimeout(t)
    timers.clear()
  }
}
