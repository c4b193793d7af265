/**
 * The node's `change` event (`MeshNodeEvents.change`): each doc's persistence
 * reports what a commit stored (`DocPersistence.onCommit`), and this turns it
 * into one event per peer update (origin: the peer) and one for the local
 * changes (origin `'local'`), after the commit and before the peer's ACK.
 *
 * Node entry only (the Node preset builds it), so browser bundles leave it
 * out. Nothing is done per commit while nobody listens. A doc served by key
 * is named, when this node can, by the id its store keeps (`_names/`, read
 * once at start) or a connected peer's grant CLAIM (kept here, bounded);
 * otherwise it is `key:<hex>`.
 */
import { logger } from '../log.js'
import type { DocChange, MeshNode } from '../mesh-node.js'
import type { RemoteUpdate } from '../storage/doc-persistence.js'
import type { EngineDoc } from '../sync/engine-doc.js'
import { PeerOrigin } from '../sync/types.js'

const log = logger('feed')

/** ids learnt from CLAIMs kept for docs served by key (the oldest go first) */
const MAX_CLAIMED_NAMES = 65_536

export class ChangeFeed {
  private node: MeshNode | undefined
  private readonly claimed = new Map<string, string>()

  /** `names`: doc key (hex) to id, as the node's store keeps them (`readDocNames`) */
  constructor (private readonly names: ReadonlyMap<string, string> = new Map()) {}

  /** The node whose `change` event this feeds (docs that commit before it is known emit nothing: nobody can listen yet). */
  attach (node: MeshNode): void {
    this.node = node
  }

  /** `RepoOptions.opened`: hook the doc's commits. */
  readonly opened = (doc: EngineDoc): void => {
    if (doc.persistence !== undefined) doc.persistence.onCommit = (remote, local) => { this.committed(doc, remote, local) }
  }

  private committed (doc: EngineDoc, remote: readonly RemoteUpdate[], local: Uint8Array | undefined): void {
    const node = this.node
    if (node === undefined || !node._observers.has('change')) return
    const docId = doc.servedOnly ? this.nameOf(node, doc.keyHex, remote) : doc.id
    const emit = (update: Uint8Array, origin: string): void => {
      const change: DocChange = { docId, keyHex: doc.keyHex, update, origin, doc: doc.doc }
      try {
        node.emit('change', [change])
      } catch (err) {
        // the commit is done and the ACK must still go out: a listener's failure stays its own
        log.error('a change listener threw on %s: %e', docId, err)
      }
    }
    for (const r of remote) emit(r.update, r.origin instanceof PeerOrigin ? r.origin.peer : 'local')
    if (local !== undefined) emit(local, 'local')
  }

  private nameOf (node: MeshNode, keyHex: string, remote: readonly RemoteUpdate[]): string {
    const known = this.names.get(keyHex) ?? this.claimed.get(keyHex)
    if (known !== undefined) return known
    const from = remote[0]?.origin
    const id = node.grantsHere?.claimedId?.(keyHex, from instanceof PeerOrigin ? from.peer : undefined)
    if (id === undefined) return `key:${keyHex}`
    if (this.claimed.size >= MAX_CLAIMED_NAMES) this.claimed.delete(this.claimed.keys().next().value as string)
    this.claimed.set(keyHex, id)
    return id
  }
}
