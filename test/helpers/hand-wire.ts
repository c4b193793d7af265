/**
 * Engines wired to each other by hand, for tests that need to see or hold
 * every frame: `HeldLink` is a PeerLink that queues what an engine sends (and
 * keeps each frame, decoded), and `Wire` is one connection between two
 * engines whose frames move only when the test calls `settle()`.
 */
import { decodeFrame, type Frame } from '../../lib/protocol/codec.js'
import type { SyncEngine } from '../../lib/sync/engine.js'
import type { PeerConnection, PeerLink } from '../../lib/sync/types.js'

export class HeldLink implements PeerLink {
  /** frame bodies sent and not yet delivered */
  readonly queue: Uint8Array[] = []
  private readonly sent: Frame[] = []
  writable = true
  closed = false
  constructor (readonly initiator: boolean) {}
  send (body: Uint8Array): void {
    this.queue.push(body)
    this.sent.push(decodeFrame(body))
  }

  close (): void { this.closed = true }
  /** every frame sent over this link so far, delivered or not */
  frames (): Frame[] { return [...this.sent] }
}

/** One connection between engine A (which opened it) and engine B. */
export class Wire {
  readonly toB = new HeldLink(false)
  readonly toA = new HeldLink(true)
  readonly atA: PeerConnection
  readonly atB: PeerConnection
  constructor (a: SyncEngine, aId: string, b: SyncEngine, bId: string) {
    this.atA = a.addPeer(bId, this.toB)
    this.atB = b.addPeer(aId, this.toA)
  }

  /**
   * Deliver both ways until nothing moves. With `quietMs`, "nothing moves"
   * must also hold that long (an open by key finishes a few ticks after the
   * frame that asked for it).
   */
  async settle (quietMs = 0): Promise<void> {
    const idle = (): boolean => this.toA.queue.length === 0 && this.toB.queue.length === 0
    for (let i = 0; i < 1000; i++) {
      await new Promise(resolve => setImmediate(resolve))
      if (idle()) {
        if (quietMs === 0) return
        await new Promise(resolve => setTimeout(resolve, quietMs))
        if (idle()) return
      }
      for (const body of this.toB.queue.splice(0)) this.atB.receive(body)
      for (const body of this.toA.queue.splice(0)) this.atA.receive(body)
    }
    throw new Error('never went quiet')
  }

  close (): void { this.atA.closed(); this.atB.closed() }
}
