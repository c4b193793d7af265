/**
 * The seam through which a part outside the engine takes part in sessions
 * (grants: lib/grants/grant-exchange.ts). It announces feature bits in HELLO,
 * reads and sends frames of its own (GRANTS, REVOKE, CLAIM), and narrows
 * what the policy grants. The engine stays free of what the part does, so a
 * browser bundle without it carries none of its code. Types only.
 */
import type { Access } from '../policy/types.js'
import type { Frame } from '../protocol/codec.js'
import type { EngineDoc } from './engine-doc.js'
import type { Peers, PeerState } from './peers.js'

export interface EngineExtension {
  /** feature bits this part adds to our HELLO */
  readonly features: number
  /** true while our HELLO must not be followed by SYNC1s at once: we present grants first, after the peer's HELLO */
  presentsFirst: () => boolean
  /** the engine is ready; keep `api` to act on peers */
  attach: (api: ExtensionApi) => void
  /** the peer's HELLO arrived (its features are known); our offers follow right after */
  hello: (peer: PeerState) => void
  /** we are about to offer `doc` to the peer (our SYNC1 follows) */
  offering: (peer: PeerState, doc: EngineDoc) => void
  /** what `peerId` may do with `docId` (or `key:<hex>`): the policy's answer `policy`, narrowed; undefined: no say */
  access: (peerId: string, docId: string, policy: Access) => Access | undefined
  /**
   * Every frame from the peer comes here first. True: the extension took it,
   * being one of its own (GRANTS, REVOKE, CLAIM: a malformed one closes the
   * peer), or any frame of a peer whose grants are being checked (handed
   * back later, `ExtensionApi.handle`), or a frame in clear for a doc held
   * end-to-end encrypted here (lib/e2e: refused). False: the engine handles it.
   */
  intercept: (peer: PeerState, frame: Frame) => boolean
  /** the peer is gone */
  peerGone: (peer: PeerState) => void
  stop: () => void
}

export interface ExtensionApi {
  /** connected peers: find one, send frames, close one with a reason (`reject`, counted) */
  peers: Pick<Peers, 'get' | 'send' | 'reject' | 'values'>
  /** handle a frame the extension held, as if it had just arrived */
  handle: (peer: PeerState, frame: Frame) => void
  /** access may have changed: end sessions now refused, offer docs now allowed (all peers, or one) */
  recheck: (peer?: PeerState) => void
  countRejection: (name: string) => void
  ignore: (name: string) => void
}
