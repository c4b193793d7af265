/**
 * What the admin port shows of a running node: peers, open documents with
 * their sync lag, stored documents, and the engine's counters. It follows the
 * node's open documents (whoever opened them) and listens to their `status`
 * events, so lag is measured from the moment a document fell behind, not from
 * the last scrape.
 */
import type { DocHandle, DocStatus } from '../doc-handle.js'
import type { MeshNode } from '../mesh-node.js'
import type { EngineCounters } from '../sync/types.js'
import type { YwsBridgeStats } from '../yws-bridge.js'
import { SyncLagTracker } from './sync-lag.js'

export interface DocView {
  id: string
  /** connected peers holding the doc */
  peers: number
  /** of those, peers that have not acknowledged all our changes */
  unsyncedPeers: number
  /** seconds the doc has been behind (0 when synced) */
  lagSeconds: number
  /** every local change is committed */
  saved: boolean
}

export interface NodeSnapshot {
  peerId: string
  multiaddrs: string[]
  uptimeSeconds: number
  peers: string[]
  /** documents open by id (the app's, e.g. --open), with their sync lag */
  openDocs: DocView[]
  /** documents loaded only because a peer asked for them (known by key; unloaded when idle) */
  servedDocs: number
  /** documents in storage, when known */
  storedDocs: number | undefined
  /** libp2p connections open, when the node has libp2p */
  connections?: number
  stats: EngineCounters
  /** the y-websocket endpoint's counters, when it runs (gateway --yws) */
  yws?: YwsBridgeStats
}

/** The part of MeshNode the view reads. */
export type ViewedNode = Pick<MeshNode, 'peerId' | 'multiaddrs' | 'peers' | 'openDocs' | 'servedDocCount' | 'stats' | 'open'>

interface Followed { handle: DocHandle, onStatus: (s: DocStatus) => void }

export class NodeView {
  readonly lag = new SyncLagTracker()
  private readonly followed = new Map<string, Followed>()
  private readonly started = Date.now()

  constructor (
    private readonly node: ViewedNode,
    private readonly countStored: () => Promise<number | undefined> = async () => undefined,
    private readonly ywsStats: () => YwsBridgeStats | undefined = () => undefined
  ) {}

  /** Start following newly opened docs and drop closed ones. */
  async refresh (): Promise<void> {
    const open = new Set(this.node.openDocs)
    for (const [id, f] of this.followed) {
      if (open.has(id) && !f.handle.closed) continue
      f.handle.off('status', f.onStatus)
      this.followed.delete(id)
      this.lag.forget(id)
    }
    const fresh: Array<Promise<void>> = []
    for (const id of open) {
      if (this.followed.has(id)) continue
      // the doc is open now, so this returns its existing handle without loading anything
      fresh.push(this.node.open(id).then(handle => { this.follow(id, handle) }, () => {}))
    }
    await Promise.all(fresh)
  }

  private follow (id: string, handle: DocHandle): void {
    if (this.followed.has(id) || handle.closed) return
    const onStatus = (s: DocStatus): void => { this.lag.observe(id, s) }
    handle.on('status', onStatus)
    this.followed.set(id, { handle, onStatus })
    this.lag.observe(id, handle.status)
  }

  docs (): DocView[] {
    const out: DocView[] = []
    for (const [id, { handle }] of this.followed) {
      if (handle.closed) continue
      const s = handle.status
      this.lag.observe(id, s)
      out.push({
        id,
        peers: s.peers.length,
        unsyncedPeers: s.peers.filter(p => !p.synced).length,
        lagSeconds: this.lag.lagSeconds(id),
        saved: s.saved
      })
    }
    return out
  }

  async snapshot (): Promise<NodeSnapshot> {
    await this.refresh()
    return {
      peerId: this.node.peerId,
      multiaddrs: this.node.multiaddrs,
      uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
      peers: this.node.peers,
      openDocs: this.docs(),
      servedDocs: this.node.servedDocCount,
      storedDocs: await this.countStored(),
      ...('libp2p' in this.node ? { connections: (this.node as Pick<MeshNode, 'libp2p'>).libp2p.getConnections().length } : {}),
      stats: this.node.stats,
      ...withYws(this.ywsStats())
    }
  }

  /** Stop listening to every document. */
  close (): void {
    for (const f of this.followed.values()) f.handle.off('status', f.onStatus)
    this.followed.clear()
  }
}

const withYws = (yws: YwsBridgeStats | undefined): Pick<NodeSnapshot, 'yws'> => yws === undefined ? {} : { yws }
