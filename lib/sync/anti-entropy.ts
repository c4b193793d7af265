/**
 * Anti-entropy: nothing relies on a frame arriving exactly once. On a timer,
 * every session not known to be in sync runs a two-way SYNC round (SYNC1 with
 * WANT_REPLY); every `fullEvery` ticks, every session does, synced or not,
 * and every doc the app opened is offered to every peer that has no session
 * on it. Repairs for missing dependencies and incomplete answers are sent
 * where they are found (inbound.ts); this is the slow net under them.
 *
 * A full round never offers a doc served by key (`servedOnly`, a gateway's)
 * to a peer without a session on it: such a doc is offered only to the peers
 * that hold it, as when a peer connects (session-start.ts). Offering every
 * served doc to every peer cost a gateway with N devices, each holding its
 * own doc, N² SYNC1s and as many DENIEDs per full round.
 *
 * A round walks the peers in slices of at most SLICE_MS, yielding to the
 * event loop between them, so that a gateway with thousands of peers never
 * stalls on one tick; a round asked for while one is under way runs after it.
 */
import { Sync1Flags } from '../protocol/constants.js'
import type { Answers } from './answer.js'
import type { SyncContext } from './context.js'
import type { EngineDoc } from './engine-doc.js'
import type { PeerState } from './peers.js'

export interface AntiEntropyOptions {
  /** 0 disables the timer */
  intervalMs: number
  fullEvery: number
}

/** work on the event loop in one go, at most (then the round yields) */
const SLICE_MS = 4

interface Round {
  full: boolean
  peers: PeerState[]
  next: number
  /** a full round's docs opened by the app (not served by key) */
  own: EngineDoc[]
}

export class AntiEntropy {
  private timer: ReturnType<typeof setInterval> | undefined
  private ticks = 0
  private round: Round | undefined
  /** a round asked for while one ran: undefined, or whether it is full */
  private queued: boolean | undefined
  private yielded: ReturnType<typeof setTimeout> | undefined

  constructor (
    private readonly ctx: SyncContext,
    private readonly answers: Pick<Answers, 'sendSync1' | 'repair'>,
    opts: AntiEntropyOptions
  ) {
    if (opts.intervalMs > 0) {
      this.timer = setInterval(() => {
        this.run({ full: ++this.ticks % opts.fullEvery === 0 })
      }, opts.intervalMs)
    }
  }

  /** A round now (its first slice at once); with `full`, on every session and every doc the app opened. */
  run (opts: { full?: boolean } = {}): void {
    const full = opts.full === true
    if (this.round !== undefined) {
      this.queued = this.queued === true || full
      return
    }
    this.round = { full, peers: [...this.ctx.peers.values()], next: 0, own: full ? [...this.ctx.docs()].filter(d => !d.servedOnly) : [] }
    this.slice()
  }

  private slice (): void {
    const r = this.round
    if (r === undefined) return
    const started = performance.now()
    while (r.next < r.peers.length) {
      this.runPeer(r.peers[r.next++], r)
      if (r.next < r.peers.length && performance.now() - started >= SLICE_MS) {
        this.yielded = setTimeout(() => { this.yielded = undefined; this.slice() }, 0)
        return
      }
    }
    this.round = undefined
    const queued = this.queued
    this.queued = undefined
    if (queued !== undefined) this.run({ full: queued })
  }

  private runPeer (peer: PeerState, r: Round): void {
    if (!peer.helloReceived || peer.closed) return
    for (const s of [...peer.sessions.values()]) {
      const doc = this.ctx.doc(s.keyHex)
      if (doc === undefined) continue
      if (r.full) this.answers.repair(peer, doc)
      else if (!doc.isSyncedWith(peer.id) && s.writesRefused === undefined) this.answers.sendSync1(peer, doc, s, Sync1Flags.WANT_REPLY)
    }
    for (const doc of r.own) {
      if (!doc.closed && !peer.sessions.has(doc.keyHex) && this.ctx.doc(doc.keyHex) === doc) this.answers.repair(peer, doc)
    }
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    clearTimeout(this.yielded)
    this.timer = undefined
    this.round = undefined
    this.queued = undefined
  }
}
