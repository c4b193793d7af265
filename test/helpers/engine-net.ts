/**
 * Engines over the seeded in-memory network (lib/testing/memory-network.ts),
 * each reachable by its id, with docs opened on first use and every DENIED a
 * doc receives recorded: for tests that watch refusals frame by frame in a
 * reproducible order. `stop()` after each test.
 */
import { SyncEngine, type SyncEngineOptions } from '../../lib/sync/engine.js'
import type { EngineDoc } from '../../lib/sync/engine-doc.js'
import { MemoryNetwork } from '../../lib/testing/memory-network.js'
import { openEngineDoc } from './engine-doc.js'

export interface NetNode {
  engine: SyncEngine
  /** the doc with this id, opened on first use */
  doc: (id: string) => EngineDoc
  /** every DENIED received: [peer, doc id, reason] */
  denied: Array<[string, string, string]>
}

export class EngineNet {
  readonly net: MemoryNetwork
  private readonly engines: SyncEngine[] = []
  private readonly docs: EngineDoc[] = []

  constructor (seed: number) {
    this.net = new MemoryNetwork({ seed })
  }

  /** An engine reachable as `id`; with `servedOnly`, its docs are opened as a gateway opens a doc by key for a peer (ServingRepo). */
  node (id: string, opts: SyncEngineOptions = {}, servedOnly = false): NetNode {
    const engine = new SyncEngine({ antiEntropyIntervalMs: 0, localPeerId: id, ...opts })
    this.engines.push(engine)
    this.net.add(id, engine)
    const open = new Map<string, EngineDoc>()
    const n: NetNode = {
      engine,
      denied: [],
      doc: (docId) => {
        let d = open.get(docId)
        if (d === undefined) {
          d = openEngineDoc(engine, docId)
          d.servedOnly = servedOnly
          d.on('denied', (peer, reason) => { n.denied.push([peer, docId, reason]) })
          open.set(docId, d)
          this.docs.push(d)
        }
        return d
      }
    }
    return n
  }

  stop (): void {
    for (const e of this.engines) e.stop()
    for (const d of this.docs) { d.awareness.destroy(); d.doc.destroy() }
  }
}
