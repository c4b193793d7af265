/**
 * What the engine's parts share. `SyncEngine` builds one `SyncContext` and
 * hands it (and, to each part, only the few collaborators it calls) to the
 * modules in this folder, the way js-libp2p hands a service its components.
 * Types only: every part depends on this file, and this file on no part.
 */
import type { Access } from '../policy/types.js'
import type { Limits } from '../security/limits.js'
import type { StructWriter } from '../yjs/flat-struct-writer.js'
import type { EngineDoc } from './engine-doc.js'
import type { Fingerprints } from './fingerprint.js'
import type { Peers } from './peers.js'
import type { Sessions } from './sessions.js'
import type { EngineCounters } from './types.js'

export interface SyncContext {
  readonly limits: Limits
  readonly counters: EngineCounters
  /** connected peers: send, close with a reason */
  readonly peers: Peers
  /** the (peer, doc) sessions */
  readonly sessions: Sessions
  /** cached digests and fingerprints of docs */
  readonly fingerprints: Fingerprints
  /** writes structs into updates for peers (SyncEngineOptions.structWriter; default: Yjs') */
  readonly structWriter: StructWriter | undefined
  /** the open doc with this key, if any */
  doc: (keyHex: string) => EngineDoc | undefined
  /** every open doc */
  docs: () => Iterable<EngineDoc>
  /** how many docs are open */
  docCount: () => number
  /** what the policy grants this peer on this doc now (a throwing policy grants nothing) */
  access: (peerId: string, doc: Pick<EngineDoc, 'id'>) => Access
  /** a refusal or violation, by reason name (`counters.rejected`) */
  countRejection: (name: string) => void
  /** a benign race that was dropped, by name (`counters.ignored`) */
  ignore: (name: string) => void
}
