/**
 * Drive one SyncEngine directly through its transport seam, as a hostile (or
 * honest) peer would: feed frame bodies, record what the engine answers.
 */
import * as Y from 'yjs'
import { SyncEngine, type SyncEngineOptions } from '../../lib/sync/engine.js'
import type { EngineDoc } from '../../lib/sync/engine-doc.js'
import { decodeFrame, encodeFrame, type Frame } from '../../lib/protocol/codec.js'
import { MessageType } from '../../lib/protocol/constants.js'
import type { PeerConnection } from '../../lib/sync/types.js'
import { openEngineDoc } from './engine-doc.js'

export interface Target {
  engine: SyncEngine
  sync: EngineDoc
  doc: Y.Doc
  close: () => void
}

export function target (docId = 'doc', opts: SyncEngineOptions = {}): Target {
  const engine = new SyncEngine({ antiEntropyIntervalMs: 0, ...opts })
  const sync = openEngineDoc(engine, docId)
  const doc = sync.doc
  return { engine, sync, doc, close: () => { engine.stop(); sync.awareness.destroy(); doc.destroy() } }
}

export interface Attacker {
  conn: PeerConnection
  /** frames the engine sent to this peer, decoded */
  received: Frame[]
  closed: boolean
  send: (frame: Frame | Uint8Array) => void
}

export function attach (t: Target, peerId: string): Attacker {
  const a: Attacker = {
    conn: undefined as unknown as PeerConnection,
    received: [],
    closed: false,
    send: (f) => { a.conn.receive(f instanceof Uint8Array ? f : encodeFrame(f)) }
  }
  a.conn = t.engine.addPeer(peerId, {
    send: (body) => { a.received.push(decodeFrame(body)) },
    get writable () { return true },
    close: () => { a.closed = true; a.conn.closed() }
  })
  return a
}

export const hello: Frame = { type: MessageType.HELLO, maxFrameBytes: 1 << 24, features: 0, epoch: new Uint8Array(8).fill(1) }

/** Let queued microtasks (batch flushes, ACK loops) run. */
export const settle = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** Everything observable about a doc's state, for "unchanged" assertions. */
export const snapshot = (doc: Y.Doc): string =>
  JSON.stringify([Array.from(Y.encodeStateVector(doc)), doc.getText('t').toString(), doc.getMap('m').toJSON(), doc.getArray('a').toJSON(), Array.from(Y.encodeStateAsUpdate(doc))])
