/**
 * The (peer, doc) sessions of every connection. A session is opened and ended
 * here and nowhere else: it lives in two indexes, by doc on the peer
 * (`PeerState.sessions`) and by peer on the doc (`EngineDoc.sessions`), and
 * this class is the only writer of both, so they cannot drift apart.
 */
import { DeniedReason, MessageType } from '../protocol/constants.js'
import type { Limits } from '../security/limits.js'
import { DocSession } from './doc-session.js'
import type { EngineDoc } from './engine-doc.js'
import type { Peers, PeerState } from './peers.js'

export interface SessionsOptions {
  readonly limits: Limits
  readonly peers: Peers
  countRejection: (name: string) => void
  /** a session ended (already out of both indexes) */
  onEnd: (peer: PeerState, doc: EngineDoc, s: DocSession) => void
}

export class Sessions {
  constructor (private readonly opts: SessionsOptions) {}

  get (peer: PeerState, keyHex: string): DocSession | undefined {
    return peer.sessions.get(keyHex)
  }

  /** The session of this peer on this doc, opened if there is none; undefined past the per-peer cap. */
  open (peer: PeerState, doc: EngineDoc): DocSession | undefined {
    let s = peer.sessions.get(doc.keyHex)
    if (s === undefined) {
      if (peer.sessions.size >= this.opts.limits.maxDocsPerPeer) {
        this.opts.countRejection('too_many_docs')
        return undefined
      }
      s = new DocSession(peer.id, doc.keyHex)
      peer.sessions.set(doc.keyHex, s)
      doc.sessions.set(peer.id, s)
    }
    return s
  }

  /** End a session; with `notify`, the peer is told (DENIED unavailable) that we no longer serve the doc to it. */
  end (peer: PeerState, doc: EngineDoc, s: DocSession, notify: boolean): void {
    if (peer.sessions.get(doc.keyHex) === s) peer.sessions.delete(doc.keyHex)
    peer.owing.delete(s)
    peer.answering.delete(s)
    if (doc.sessions.get(peer.id) === s) doc.sessions.delete(peer.id)
    if (notify && !peer.closed) this.opts.peers.send(peer, { type: MessageType.DENIED, docKey: doc.key, reason: DeniedReason.UNAVAILABLE })
    this.opts.onEnd(peer, doc, s)
  }

  /** End every session of a peer (it is gone). */
  endAll (peer: PeerState, docOf: (keyHex: string) => EngineDoc | undefined): void {
    for (const [keyHex, s] of [...peer.sessions]) {
      const doc = docOf(keyHex)
      if (doc !== undefined) this.end(peer, doc, s, false)
    }
    peer.sessions.clear()
    peer.owing.clear()
  }
}
