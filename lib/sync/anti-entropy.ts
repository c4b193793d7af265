/**
 * Anti-entropy: nothing relies on a frame arriving exactly once. On a timer,
 * every session not known to be in sync runs a two-way SYNC round (SYNC1 with
 * WANT_REPLY); every `fullEvery` ticks, every doc with every peer does,
 * synced or not. Repairs for missing dependencies and incomplete answers are
 * sent where they are found (inbound.ts); this is the slow net under them.
 */
import { Sync1Flags } from '../protocol/constants.js'
import type { Answers } from './answer.js'
import type { SyncContext } from './context.js'

export interface AntiEntropyOptions {
  /** 0 disables the timer */
  intervalMs: number
  fullEvery: number
}

export class AntiEntropy {
  private timer: ReturnType<typeof setInterval> | undefined
  private ticks = 0

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

  /** One round now; with `full`, on every doc and peer. */
  run (opts: { full?: boolean } = {}): void {
    for (const peer of this.ctx.peers.values()) {
      if (!peer.helloReceived || peer.closed) continue
      if (opts.full === true) {
        for (const doc of this.ctx.docs()) this.answers.repair(peer, doc)
        continue
      }
      for (const s of peer.sessions.values()) {
        const doc = this.ctx.doc(s.keyHex)
        if (doc === undefined || doc.isSyncedWith(peer.id) || s.writesRefused !== undefined) continue
        this.answers.sendSync1(peer, doc, s, Sync1Flags.WANT_REPLY)
      }
    }
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }
}
