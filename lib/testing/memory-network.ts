/**
 * A seeded in-memory transport for `SyncEngine`s, for deterministic fuzzing.
 *
 * Each `connect(a, b)` is one connection with two directions. Frames sent on a
 * link are held in flight until the test delivers them: `step()` delivers one,
 * chosen by the network's PRNG, so the same seed and the same calls give the
 * same run. Between connections delivery is always interleaved at random; the
 * `Chaos` settings add reordering inside a connection, duplication and loss.
 *
 * The first frame of each direction (the HELLO) is always delivered first,
 * once, and never lost: it stands for the transport's own handshake. Every
 * other frame is fair game. Frames of a closed connection are never delivered.
 */
import * as prng from 'lib0/prng'
import type { PeerConnection, PeerLink } from '../sync/types.js'

/** What the network needs of a node: the engine's transport seam. `SyncEngine` fits. */
export interface NetworkNode {
  addPeer: (peerId: string, link: PeerLink) => PeerConnection
}

export interface Chaos {
  /** deliver any in-flight frame of a direction next, not only its oldest */
  reorder: boolean
  /** probability that a delivered frame is delivered once more, later */
  duplicate: number
  /** probability that a frame is lost instead of delivered */
  drop: number
}

/** In order per connection, nothing lost or repeated: a healed, reliable network. */
export const RELIABLE: Readonly<Chaos> = Object.freeze({ reorder: false, duplicate: 0, drop: 0 })

export interface MemoryNetworkOptions {
  seed: number
  chaos?: Partial<Chaos>
}

/** A frame in flight, as tests see it. */
export interface FrameInFlight {
  readonly id: number
  readonly from: string
  readonly to: string
  readonly body: Uint8Array
}

export interface NetworkStats {
  sent: number
  delivered: number
  dropped: number
  duplicated: number
  /** delivered ahead of an older frame of the same direction */
  reordered: number
  /** frames discarded because their connection closed */
  discarded: number
}

interface Side {
  readonly node: string
  conn: PeerConnection | undefined
  writable: boolean
  /** closed() was called (or is queued) for this side */
  notified: boolean
  /** this side's link was closed by its engine */
  closedByNode: boolean
  /** its first frame has been sent */
  sentFirst: boolean
}

type State = 'open' | 'closing' | 'closed'

interface Connection {
  readonly id: number
  readonly sides: [Side, Side]
  state: State
}

interface Frame {
  readonly id: number
  readonly conn: Connection
  readonly from: 0 | 1
  readonly body: Uint8Array
  readonly first: boolean
}

export const tick = async (): Promise<void> => {
  await new Promise<void>(resolve => { setImmediate(resolve) })
}

export class MemoryNetwork {
  chaos: Chaos
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, reordered: 0, discarded: 0 }
  private readonly gen: prng.PRNG
  private readonly nodes = new Map<string, NetworkNode>()
  private readonly conns = new Set<Connection>()
  private inFlight: Frame[] = []
  private nextConn = 1
  private nextFrame = 1

  constructor (opts: MemoryNetworkOptions) {
    this.gen = prng.create(opts.seed)
    this.chaos = { ...RELIABLE, ...opts.chaos }
  }

  /** Register (or, after a restart, replace) the node reachable as `id`. */
  add (id: string, node: NetworkNode): void {
    this.nodes.set(id, node)
  }

  /** The node crashed: cut all its connections, forget it until `add` again. */
  remove (id: string): void {
    this.isolate(id)
    this.nodes.delete(id)
  }

  /** Open a new connection between `a` and `b` (a second one if one is open: the engines resolve it). */
  connect (a: string, b: string): void {
    if (a === b) throw new Error(`cannot connect ${a} to itself`)
    const na = this.nodeOf(a)
    const nb = this.nodeOf(b)
    const side = (node: string): Side => ({ node, conn: undefined, writable: true, notified: false, closedByNode: false, sentFirst: false })
    const conn: Connection = { id: this.nextConn++, sides: [side(a), side(b)], state: 'open' }
    this.conns.add(conn)
    conn.sides[0].conn = na.addPeer(b, this.link(conn, 0))
    conn.sides[1].conn = nb.addPeer(a, this.link(conn, 1))
  }

  /** Cut every connection between `a` and `b` at once: in-flight frames are lost. */
  disconnect (a: string, b: string): void {
    for (const c of [...this.conns]) if (this.joins(c, a, b)) this.cut(c)
  }

  /** Cut every connection of `id`. */
  isolate (id: string): void {
    for (const c of [...this.conns]) if (c.sides[0].node === id || c.sides[1].node === id) this.cut(c)
  }

  /** Is there an open (not closing) connection between `a` and `b`? */
  connected (a: string, b: string): boolean {
    for (const c of this.conns) if (c.state === 'open' && this.joins(c, a, b)) return true
    return false
  }

  /** Pairs with an open connection, each once, in connection order. */
  get links (): Array<[string, string]> {
    const out: Array<[string, string]> = []
    for (const c of this.conns) {
      if (c.state !== 'open') continue
      const pair: [string, string] = [c.sides[0].node, c.sides[1].node]
      if (!out.some(([x, y]) => (x === pair[0] && y === pair[1]) || (x === pair[1] && y === pair[0]))) out.push(pair)
    }
    return out
  }

  /**
   * Backpressure on the `from` -> `to` direction of open connections. Turning
   * it back on tells the sender `drained()`.
   */
  setWritable (from: string, to: string, writable: boolean): void {
    for (const c of [...this.conns]) {
      if (c.state !== 'open') continue
      for (const i of [0, 1] as const) {
        const s = c.sides[i]
        if (s.node !== from || c.sides[1 - i].node !== to || s.writable === writable) continue
        s.writable = writable
        if (writable) s.conn?.drained()
      }
    }
  }

  /** Make every direction writable again (draining each). */
  setAllWritable (): void {
    for (const c of [...this.conns]) {
      for (const i of [0, 1] as const) {
        const s = c.sides[i]
        if (s.writable) continue
        s.writable = true
        if (c.state === 'open') s.conn?.drained()
      }
    }
  }

  get inFlightCount (): number {
    return this.inFlight.length
  }

  /** Frames in flight, oldest first, optionally only `from` -> `to`. */
  frames (from?: string, to?: string): FrameInFlight[] {
    return this.inFlight
      .filter(f => (from === undefined || f.conn.sides[f.from].node === from) && (to === undefined || f.conn.sides[1 - f.from].node === to))
      .map(f => ({ id: f.id, from: f.conn.sides[f.from].node, to: f.conn.sides[1 - f.from].node, body: f.body }))
  }

  /** Deliver one specific frame now (whatever the chaos settings say). */
  deliver (id: number): void {
    const f = this.take(id)
    this.handOver(f)
  }

  /** Lose one specific frame. */
  drop (id: number): void {
    const f = this.take(id)
    this.stats.dropped++
    this.settle(f.conn)
  }

  /**
   * Deliver (or, by chance, lose) one frame chosen by the PRNG.
   * Returns false when nothing is in flight.
   */
  step (): boolean {
    const eligible = this.eligible()
    if (eligible.length === 0) return false
    const f = eligible[prng.int32(this.gen, 0, eligible.length - 1)]
    this.inFlight.splice(this.inFlight.indexOf(f), 1)
    if (!f.first && this.chance(this.chaos.drop)) {
      this.stats.dropped++
      this.settle(f.conn)
      return true
    }
    if (!f.first && this.chance(this.chaos.duplicate)) {
      this.stats.duplicated++
      this.inFlight.push({ ...f, id: this.nextFrame++ })
    }
    this.handOver(f)
    return true
  }

  /**
   * Deliver until nothing is in flight, letting microtasks and immediates run
   * after every frame (the engine flushes batches and sends ACKs from there).
   * Throws if the network is still busy after `maxSteps` frames.
   */
  async runUntilQuiet (maxSteps = 100_000): Promise<number> {
    let steps = 0
    for (;;) {
      await tick()
      if (this.inFlight.length === 0) return steps
      if (steps >= maxSteps) throw new Error(`network not quiet after ${maxSteps} frames (${this.inFlight.length} in flight)`)
      this.step()
      steps++
    }
  }

  // ------------------------------------------------------------------ internals

  private nodeOf (id: string): NetworkNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`unknown node ${id}`)
    return n
  }

  private joins (c: Connection, a: string, b: string): boolean {
    const [x, y] = [c.sides[0].node, c.sides[1].node]
    return (x === a && y === b) || (x === b && y === a)
  }

  private link (conn: Connection, i: 0 | 1): PeerLink {
    const side = conn.sides[i]
    return {
      send: (body) => { this.send(conn, i, body) },
      get writable () { return side.writable },
      close: () => { this.closeFrom(conn, i) }
    }
  }

  private send (conn: Connection, i: 0 | 1, body: Uint8Array): void {
    const side = conn.sides[i]
    if (conn.state === 'closed' || side.closedByNode || conn.sides[1 - i].closedByNode) return
    this.stats.sent++
    const first = !side.sentFirst
    side.sentFirst = true
    // copy: the sender may reuse its buffer, and a frame may be delivered twice
    this.inFlight.push({ id: this.nextFrame++, conn, from: i, body: body.slice(), first })
  }

  /** The engine on side `i` closed its link: what it sent still arrives, then the far side sees the close. */
  private closeFrom (conn: Connection, i: 0 | 1): void {
    if (conn.state === 'closed' || conn.sides[i].closedByNode) return
    conn.sides[i].closedByNode = true
    if (conn.state === 'closing') {
      this.cut(conn)
      return
    }
    conn.state = 'closing'
    this.discard(f => f.conn === conn && f.from !== i)
    const me = conn.sides[i]
    if (!me.notified) {
      // a transport reports its own close asynchronously
      me.notified = true
      queueMicrotask(() => { me.conn?.closed() })
    }
    this.settle(conn)
  }

  /** A closing connection whose closer has nothing left in flight is closed. */
  private settle (conn: Connection): void {
    if (conn.state !== 'closing') return
    if (this.inFlight.some(f => f.conn === conn)) return
    this.cut(conn)
  }

  private cut (conn: Connection): void {
    if (conn.state === 'closed') return
    conn.state = 'closed'
    this.conns.delete(conn)
    this.discard(f => f.conn === conn)
    for (const s of conn.sides) {
      if (s.notified) continue
      s.notified = true
      s.conn?.closed()
    }
  }

  private discard (which: (f: Frame) => boolean): void {
    const keep: Frame[] = []
    for (const f of this.inFlight) {
      if (which(f)) this.stats.discarded++
      else keep.push(f)
    }
    this.inFlight = keep
  }

  private take (id: number): Frame {
    const idx = this.inFlight.findIndex(f => f.id === id)
    if (idx < 0) throw new Error(`frame ${id} is not in flight`)
    return this.inFlight.splice(idx, 1)[0]
  }

  private handOver (f: Frame): void {
    const conn = f.conn
    if (this.inFlight.some(o => o.conn === conn && o.from === f.from && o.id < f.id)) this.stats.reordered++
    this.stats.delivered++
    const to = conn.sides[1 - f.from]
    to.conn?.receive(f.body)
    this.settle(conn)
  }

  /**
   * Frames that may go next. Without reordering: the oldest of each direction.
   * With it: any frame, except that a direction's first frame goes before the rest.
   */
  private eligible (): Frame[] {
    const seen = new Set<number>()
    const out: Frame[] = []
    const firstPending = new Set<number>()
    for (const f of this.inFlight) if (f.first) firstPending.add(key(f))
    for (const f of this.inFlight) {
      const k = key(f)
      if (!this.chaos.reorder || firstPending.has(k)) {
        if (seen.has(k)) continue
        seen.add(k)
      }
      out.push(f)
    }
    return out
  }

  private chance (p: number): boolean {
    return p > 0 && this.gen.next() < p
  }
}

const key = (f: Frame): number => f.conn.id * 2 + f.from
