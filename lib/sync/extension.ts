/**
 * The seam through which a part outside the engine takes part in sessions
 * (grants: lib/grants/grant-exchange.ts). It announces feature bits in HELLO,
 * reads and sends frames of its own (GRANTS, REVOKE, CLAIM), and narrows
 * what the policy grants. The engine stays free of what the part does, so a
 * browser bundle without it carries none of its code. Types only.
 */
import type { Access } from '../policy/types.js'
import type { ExtensionFrame } from '../protocol/codec.js'
import type { EngineDoc } from './engine-doc.js'
import type { PeerState } from './peers.js'

export interface EngineExtension {
  /** feature bits this part adds to our HELLO */
  readonly features: number
  /** true while our HELLO must not be followed by SYNC1s at once: we present grants first, after the peer's HELLO */
  presentsFirst: () => boolean
  /** the engine is ready; keep `api` to act on peers */
  attach: (api: ExtensionApi) => void
  /** the peer's HELLO arrived (its features are known); our offers follow right after */
  hello: (peer: PeerState) => void
  /** a frame of ours from the peer; throws ProtocolError on a malformed one */
  receive: (peer: PeerState, frame: ExtensionFrame) => void
  /** we are about to offer `doc` to the peer (our SYNC1 follows) */
  offering: (peer: PeerState, doc: EngineDoc) => void
  /**
   * The most `peerId` may do with `docId` (or `key:<hex>`), before the
   * policy narrows it further; undefined: no say.
   */
  access: (peerId: string, docId: string) => Access | undefined
  /** the peer is gone */
  peerGone: (peer: PeerState) => void
  stop: () => void
}

export interface ExtensionApi {
  send: (peer: PeerState, frame: ExtensionFrame) => boolean
  /** close the peer with BYE `code`, counted under its name */
  reject: (peer: PeerState, code: number, message: string) => void
  /** the peer's later frames wait until `work` settles (a bounded number; past that the peer is closed) */
  hold: (peer: PeerState, work: Promise<void>) => void
  /** access may have changed: end sessions now refused, offer docs now allowed (all peers, or one) */
  recheck: (peer?: PeerState) => void
  peers: () => Iterable<PeerState>
  countRejection: (name: string) => void
  ignore: (name: string) => void
}
