/**
 * Awareness (presence) in, out and on session end. Awareness is not stored
 * and not acknowledged: a change is sent to every peer holding the doc except
 * the one it came from, a joiner gets every state we know, and the states a
 * peer announced are removed when its session ends (unless another session
 * still announces them).
 */
import * as awarenessProtocol from 'y-protocols/awareness'
import { Access } from '../policy/types.js'
import { ByeReason, MessageType } from '../protocol/constants.js'
import { admitAwareness, BENIGN_AWARENESS_DROPS, type AwarenessDrop } from './admit.js'
import type { SyncContext } from './context.js'
import type { DocSession } from './doc-session.js'
import type { EngineDoc } from './engine-doc.js'
import type { PeerState } from './peers.js'
import { PeerOrigin } from './types.js'

/** Awareness changes made by the engine itself (peer gone); forwarded to everyone. */
const AWARENESS_CLEANUP = Symbol('meshdoc:awareness-cleanup')

interface AwarenessChange { added: number[], updated: number[], removed: number[] }

/** how long the clock of a departed client is kept (y-protocols times states out after 30 s) */
const DEPARTED_KEEP_MS = 60_000

export class AwarenessRelay {
  /** per doc: clients that left, oldest first, with when */
  private readonly departed = new WeakMap<EngineDoc, Map<number, number>>()

  constructor (private readonly ctx: SyncContext) {}

  /** Relay the doc's awareness changes from now on; returns the function that stops it. */
  attach (doc: EngineDoc): () => void {
    const onChange = (change: AwarenessChange, origin: unknown): void => { this.relay(doc, change, origin) }
    doc.awareness.on('update', onChange)
    return () => { doc.awareness.off('update', onChange) }
  }

  /** An AWARENESS frame from a peer that holds the doc. */
  receive (peer: PeerState, doc: EngineDoc, update: Uint8Array): void {
    const s = this.ctx.sessions.get(peer, doc.keyHex)
    // a peer whose SYNC1 waits for its answer (answer.ts) holds the doc already
    if (s === undefined || (!s.remoteHolds && s.deferredSync1 === undefined)) return
    const admitted = admitAwareness(doc, s, update, this.ctx.limits)
    if ('code' in admitted) {
      this.ctx.peers.reject(peer, admitted.code, admitted.reason)
      return
    }
    for (const [why, n] of Object.entries(admitted.dropped) as Array<[AwarenessDrop, number]>) {
      const count = BENIGN_AWARENESS_DROPS.has(why) ? this.ctx.ignore : this.ctx.countRejection
      for (let i = 0; i < n; i++) count(why)
    }
    for (const c of admitted.seen) s.awarenessSeen.add(c)
    for (const c of admitted.unseen) s.awarenessSeen.delete(c)
    if (admitted.update === undefined) return
    try {
      awarenessProtocol.applyAwarenessUpdate(doc.awareness, admitted.update, s.origin)
    } catch (err) {
      this.ctx.peers.reject(peer, ByeReason.PROTOCOL_ERROR, `malformed awareness update: ${(err as Error).message}`)
    }
  }

  /** A peer joined the doc: tell it every state we know. */
  greet (peer: PeerState, doc: EngineDoc): void {
    const clients = [...doc.awareness.getStates().keys()]
    if (clients.length === 0) return
    this.ctx.peers.send(peer, { type: MessageType.AWARENESS, docKey: doc.key, update: awarenessProtocol.encodeAwarenessUpdate(doc.awareness, clients) })
  }

  /** A session ended: remove the states only that peer announced. */
  sessionEnded (doc: EngineDoc, s: DocSession): void {
    const stillKnown = new Set<number>()
    for (const other of doc.sessions.values()) {
      for (const c of other.awarenessClients) stillKnown.add(c)
      for (const c of other.awarenessSeen) stillKnown.add(c)
    }
    const gone = [...s.awarenessClients].filter(c => !stillKnown.has(c) && c !== doc.awareness.clientID)
    if (gone.length > 0) awarenessProtocol.removeAwarenessStates(doc.awareness, gone, AWARENESS_CLEANUP)
  }

  /**
   * y-protocols keeps the clock of every client that ever left, forever, so
   * peers that come and go (or a flood of fresh clients) would grow it without
   * end. The clock is also what stops a departed state that is still in
   * flight from coming back and circling the mesh, so it is kept for
   * DEPARTED_KEEP_MS, and for at most `maxAwarenessClientsPerDoc` departed
   * clients (the oldest forgotten first).
   */
  private forgetDeparted (doc: EngineDoc, removed: number[]): void {
    let departed = this.departed.get(doc)
    if (departed === undefined) {
      departed = new Map()
      this.departed.set(doc, departed)
    }
    const now = Date.now()
    for (const c of removed) {
      if (c === doc.awareness.clientID) continue
      departed.delete(c)
      departed.set(c, now)
    }
    for (const [c, at] of departed) {
      if (now - at < DEPARTED_KEEP_MS && departed.size <= this.ctx.limits.maxAwarenessClientsPerDoc) break
      departed.delete(c)
      // forgotten after this event's listeners ran: they may encode the removal, which reads the clock
      queueMicrotask(() => { if (!doc.awareness.states.has(c)) doc.awareness.meta.delete(c) })
    }
  }

  private relay (doc: EngineDoc, change: AwarenessChange, origin: unknown): void {
    const changed = [...change.added, ...change.updated, ...change.removed]
    if (changed.length === 0) return
    const from = origin instanceof PeerOrigin ? origin.peer : null
    if (from !== null) {
      const s = doc.sessions.get(from)
      if (s !== undefined) {
        for (const c of [...change.added, ...change.updated]) s.awarenessClients.add(c)
        for (const c of change.removed) s.awarenessClients.delete(c)
      }
    }
    // a client that left (whoever removed it: its peer, or y-protocols' timeout)
    // is spoken for and announced by nobody any more
    for (const c of change.removed) {
      for (const other of doc.sessions.values()) {
        other.awarenessClients.delete(c)
        other.awarenessSeen.delete(c)
      }
    }
    if (change.removed.length > 0) this.forgetDeparted(doc, change.removed)
    let update: Uint8Array | undefined
    for (const s of doc.sessions.values()) {
      if (!s.remoteHolds || s.peer === from) continue
      const peer = this.ctx.peers.get(s.peer)
      if (peer === undefined || peer.closed || this.ctx.access(s.peer, doc) === Access.NONE) continue
      update ??= awarenessProtocol.encodeAwarenessUpdate(doc.awareness, changed)
      this.ctx.peers.send(peer, { type: MessageType.AWARENESS, docKey: doc.key, update })
    }
  }
}
