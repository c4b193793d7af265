/**
 * Acknowledgements, both ways. We ACK a peer's updates only once what we
 * applied is durably stored (one ACK loop per session coalesces bursts; a
 * failed commit acknowledges nothing). A peer's ACK tells us what it has
 * stored: it drives `whenSynced` and "stored by the gateway".
 */
import * as Y from 'yjs'
import { logger } from '../log.js'
import type { AckFrame } from '../protocol/codec.js'
import { MessageType } from '../protocol/constants.js'
import type { SyncContext } from './context.js'
import { ourStateVector } from './fingerprint.js'
import type { DocSession } from './doc-session.js'
import type { EngineDoc } from './engine-doc.js'
import type { PeerState } from './peers.js'

const log = logger('sync')

/** clients an ACK may name that we do not hold, and still be kept whole */
const FEW_UNKNOWN_CLIENTS = 16

export class Acks {
  /** ACK loops waiting for storage: a stopping node sends them before BYE */
  private readonly waiting = new Set<Promise<void>>()

  constructor (private readonly ctx: SyncContext) {}

  /** ACK what this session has received, once it is durably stored. */
  schedule (peer: PeerState, doc: EngineDoc, s: DocSession): void {
    s.ackWanted = Math.max(s.ackWanted, s.recvContig)
    if (s.ackLoop) return
    s.ackLoop = true
    const run = (): void => {
      // seq and state vector are taken now: the commit below covers exactly what they claim
      const target = s.ackWanted
      const stateVector = Y.encodeStateVector(doc.doc)
      const stored = doc.persistence?.flush() ?? Promise.resolve()
      const loop = stored.then(() => {
        if (peer.closed || this.ctx.sessions.get(peer, doc.keyHex) !== s) { s.ackLoop = false; return }
        this.ctx.peers.send(peer, { type: MessageType.ACK, docKey: doc.key, seq: target, stateVector })
        if (s.ackWanted > target) run()
        else s.ackLoop = false
      }, (err: Error) => {
        // not stored: acknowledge nothing; anti-entropy retries later
        s.ackLoop = false
        log.error('not acknowledging %s to %s: %e', doc.id, peer.id, err)
        doc.emit('error', [err])
      })
      this.waiting.add(loop)
      void loop.finally(() => { this.waiting.delete(loop) })
    }
    run()
  }

  /** The peer's ACK: what it has stored of what we sent. */
  receive (peer: PeerState, doc: EngineDoc, frame: AckFrame): void {
    const s = this.ctx.sessions.get(peer, doc.keyHex)
    if (s === undefined) return
    // an ACK from an earlier session of this doc (closed and reopened while it was in flight)
    if (frame.seq > s.sentSeq) { this.ctx.ignore('stale_ack'); return }
    // What the peer says it stored, re-encoded, never kept as sent (the decoder
    // ignores trailing bytes). A few clients we do not hold yet are kept: they
    // are often on their way to us (the peer's own edits, whose answer its ACK
    // overtook), and the session is in sync only if we end up holding exactly
    // them. Past a few, only the clients we hold are kept, so what we keep per
    // session stays near the size of our own state vector, whatever the peer
    // sends (and with any seq, 0 included).
    const clocks = this.ctx.peers.readStateVector(peer, frame.stateVector, ' in ACK')
    if (clocks === undefined) return
    s.ackedSeq = Math.max(s.ackedSeq, frame.seq)
    s.remoteStateVector = clocks.size <= doc.doc.store.clients.size + FEW_UNKNOWN_CLIENTS ? Y.encodeStateVector(clocks) : ourStateVector(doc, clocks)
    doc.notifyStatus()
  }

  /** Wait until every ACK that waits on storage has been sent (or given up). */
  async drain (): Promise<void> {
    while (this.waiting.size > 0) await Promise.allSettled([...this.waiting])
  }
}
