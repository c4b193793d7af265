/**
 * Keep connections to a list of multiaddrs: dial, and redial with exponential
 * backoff and full jitter (a delay drawn from 0 to the backoff) whenever the
 * connection drops or a dial fails. The
 * backoff starts over only after a connection that lasted (STABLE_MS): a peer
 * that refuses us right after the handshake (its allow-list) is redialled
 * less and less often, not twice a second forever.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { logger } from '../../lib/log.js'

const log = logger('bootstrap')

/** a connection that lasts this long resets the backoff */
const STABLE_MS = 10_000
/**
 * For this long after a stable connection dropped, redial at least every
 * RECENT_CAP_MS (a gateway restarting is back in seconds; a fleet whose
 * backoff grew to 30 s while it was down came back over a minute in F1).
 * Five minutes, not one: a gateway of 1,500 devices was down 25 s and took
 * 45 s to let most back in, and the last ones, past the minute, waited up to
 * 30 s more (F1, 68.5 s in all). A device redialing a gateway that stays away
 * makes about 150 dials in those five minutes, each refused by its kernel.
 */
const RECENT_MS = 5 * 60_000
const RECENT_CAP_MS = 4_000

export interface KeepConnectedOptions {
  /** first retry delay in ms (default 500) */
  minDelayMs?: number
  /** cap on the retry delay in ms (default 30 s) */
  maxDelayMs?: number
  /** a dial failed; the next one is due in `retryInMs` */
  onDialFailed?: (failure: { addr: string, peer: string | undefined, message: string, retryInMs: number }) => void
}

interface Target { addr: Multiaddr, peer: string | undefined, attempt: number, timer: ReturnType<typeof setTimeout> | undefined, dialing: boolean, since: number, /** when a stable connection last dropped */ lost: number }

export class KeepConnected {
  private readonly targets: Target[]
  private readonly controller = new AbortController()
  private readonly min: number
  private readonly max: number
  private readonly onDialFailed: KeepConnectedOptions['onDialFailed']
  private running = false
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    for (const t of this.targets) {
      if (t.peer !== id) continue
      // a connection that did not last (refused after the handshake) keeps the backoff growing,
      // past RECENT_CAP_MS too: a gateway that refuses us is not redialed every 4 s for minutes
      if (Date.now() - t.since >= STABLE_MS) { t.attempt = 0; t.lost = Date.now() } else t.lost = 0
      this.schedule(t)
    }
  }

  constructor (private readonly libp2p: Libp2p, addrs: string[], opts: KeepConnectedOptions = {}) {
    this.targets = addrs.map(a => ({ addr: multiaddr(a), peer: multiaddr(a).getComponents().find(c => c.name === 'p2p')?.value, attempt: 0, timer: undefined, dialing: false, since: 0, lost: 0 }))
    this.min = opts.minDelayMs ?? 500
    this.max = opts.maxDelayMs ?? 30_000
    this.onDialFailed = opts.onDialFailed
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    for (const t of this.targets) void this.dial(t)
  }

  /** Dial every target not connected now, its backoff started over (the network is back). */
  redial (): void {
    if (!this.running) return
    for (const t of this.targets) {
      if (t.dialing || this.libp2p.getConnections().some(c => c.remotePeer.toString() === t.peer)) continue
      clearTimeout(t.timer)
      t.attempt = 0
      void this.dial(t)
    }
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    this.controller.abort()
    this.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const t of this.targets) if (t.timer !== undefined) clearTimeout(t.timer)
  }

  private async dial (t: Target): Promise<void> {
    t.timer = undefined
    if (!this.running || t.dialing) return
    t.dialing = true
    try {
      const conn = await this.libp2p.dial(t.addr, { signal: this.controller.signal })
      t.peer = conn.remotePeer.toString()
      t.since = Date.now()
      log('connected to %s', t.addr.toString())
      // closed before we got here (its peer:disconnect came while we were dialling, and scheduled nothing)
      if (conn.status !== 'open') {
        t.dialing = false
        this.schedule(t)
        return
      }
    } catch (err) {
      t.dialing = false // schedule() refuses while a dial is in progress
      if (!this.running) return
      log('dial %s failed (attempt %d): %s', t.addr.toString(), t.attempt + 1, (err as Error).message)
      const retryInMs = this.schedule(t)
      // told last: a listener may call redial() at once
      this.onDialFailed?.({ addr: t.addr.toString(), peer: t.peer, message: (err as Error).message, retryInMs })
      return
    }
    t.dialing = false
  }

  /** Dial `t` again after its backoff (with jitter); returns the delay. */
  private schedule (t: Target): number {
    if (!this.running || t.timer !== undefined || t.dialing) return 0
    const cap = Date.now() - t.lost < RECENT_MS ? Math.min(this.max, Math.max(this.min, RECENT_CAP_MS)) : this.max
    const base = Math.min(cap, this.min * 2 ** t.attempt)
    t.attempt = Math.min(t.attempt + 1, 30)
    // full jitter: a fleet that lost its gateway at once does not come back at once
    const delay = Math.max(this.min / 2, Math.random() * base)
    t.timer = setTimeout(() => { void this.dial(t) }, delay)
    return Math.round(delay)
  }
}
