/**
 * One timer for the presence of many documents.
 *
 * y-protocols gives every Awareness its own 3 s interval (renew the local
 * state every 15 s, time out remote states silent for 30 s). A gateway holds
 * a doc per device, so 1,000 devices meant 333 timer callbacks a second at
 * idle, each waking the event loop for a check that found nothing to do
 * (issue 18). `AwarenessSweep` stops the interval of each awareness it is
 * given and runs the same check for all of them from one timer, at the same
 * period: renewals and timeouts happen as before, within the same 3 s.
 */
import * as awarenessProtocol from 'y-protocols/awareness'

type Awareness = awarenessProtocol.Awareness

/** y-protocols' own check period (outdatedTimeout / 10) */
const PERIOD_MS = Math.floor(awarenessProtocol.outdatedTimeout / 10)

export class AwarenessSweep {
  private readonly all = new Set<Awareness>()
  private timer: ReturnType<typeof setInterval> | undefined

  /** Check `awareness` from the shared timer from now on, until it is destroyed. */
  add (awareness: Awareness): void {
    if (this.all.has(awareness)) return
    clearInterval(awareness._checkInterval)
    this.all.add(awareness)
    awareness.on('destroy', () => { this.remove(awareness) })
    if (this.timer === undefined) {
      this.timer = setInterval(() => { this.sweep() }, PERIOD_MS)
      this.timer.unref?.()
    }
  }

  private remove (awareness: Awareness): void {
    this.all.delete(awareness)
    if (this.all.size === 0) this.stop()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** What each awareness's own interval does (y-protocols 1.0.x), for all of them. */
  sweep (now = Date.now()): void {
    const timeout = awarenessProtocol.outdatedTimeout
    for (const a of this.all) {
      const local = a.getLocalState()
      if (local !== null && timeout / 2 <= now - (a.meta.get(a.clientID)?.lastUpdated ?? 0)) a.setLocalState(local)
      let remove: number[] | undefined
      for (const [client, meta] of a.meta) {
        if (client !== a.clientID && timeout <= now - meta.lastUpdated && a.states.has(client)) (remove ??= []).push(client)
      }
      if (remove !== undefined) awarenessProtocol.removeAwarenessStates(a, remove, 'timeout')
    }
  }
}
