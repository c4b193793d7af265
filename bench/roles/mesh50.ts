/**
 * P8 in one process: N meshdoc nodes on loopback TCP, wired as a random
 * connected graph (a random spanning tree plus extra random edges, seeded).
 * Each measured edit is one Y.Map set at a random origin; every node notes
 * when it sees it. Per-hop latency: for each node at BFS distance d >= 1 from
 * the origin, its arrival minus the earliest arrival among its neighbours at
 * distance d - 1.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type * as Y from 'yjs'
import { createMeshNode, type DocHandle, type MeshNode } from '../../adapters/presets/node.js'
import { percentile } from '../core/stats.js'
import type { RoleFactory } from './types.js'

function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function randomGraph (n: number, extra: number, rnd: () => number): Array<[number, number]> {
  const key = (a: number, b: number): string => a < b ? `${a}-${b}` : `${b}-${a}`
  const seen = new Set<string>()
  const edges: Array<[number, number]> = []
  const add = (a: number, b: number): boolean => {
    if (a === b || seen.has(key(a, b))) return false
    seen.add(key(a, b))
    edges.push([a, b])
    return true
  }
  for (let i = 1; i < n; i++) add(i, Math.floor(rnd() * i))
  let added = 0
  while (added < extra) if (add(Math.floor(rnd() * n), Math.floor(rnd() * n))) added++
  return edges
}

function bfs (adj: number[][], from: number): number[] {
  const dist = adj.map(() => -1)
  dist[from] = 0
  const q = [from]
  for (let i = 0; i < q.length; i++) {
    for (const v of adj[q[i]]) if (dist[v] < 0) { dist[v] = dist[q[i]] + 1; q.push(v) }
  }
  return dist
}

async function pool<T> (items: T[], width: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await f(items[next++])
  }))
}

interface RunArgs { nodes: number, extraEdges: number, edits: number, seed: number, timeoutMs: number }

async function run ({ nodes: n, extraEdges, edits, seed, timeoutMs }: RunArgs): Promise<Record<string, unknown>> {
  const rnd = mulberry32(seed)
  const edges = randomGraph(n, extraEdges, rnd)
  const adj: number[][] = Array.from({ length: n }, () => [])
  for (const [a, b] of edges) { adj[a].push(b); adj[b].push(a) }
  const t0 = performance.now()
  const nodes: MeshNode[] = []
  const handles: DocHandle[] = []
  try {
    for (let i = 0; i < n; i++) nodes.push(await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0'] }))
    for (const node of nodes) handles.push(await node.open('p8'))
    // a listener accepts at most 5 inbound connections a second from one host
    // (connectionManager.inboundConnectionThreshold): pace, and retry refused dials
    await pool(edges, 4, async ([a, b]) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await nodes[a].dial(nodes[b].multiaddrs[0])
          return
        } catch (err) {
          if (attempt >= 10) throw err
          await sleep(300 + rnd() * 300)
        }
      }
    })
    const end = Date.now() + timeoutMs
    while (nodes.some((node, i) => node.peers.length < adj[i].length)) {
      if (Date.now() > end) throw new Error('mesh did not connect')
      await sleep(20)
    }
    await Promise.all(handles.map(async h => { await h.whenSynced({ timeout: timeoutMs }) }))
    const setupMs = performance.now() - t0
    const diameter = Math.max(...adj.map((_, i) => Math.max(...bfs(adj, i))))

    const hops: number[] = []
    const results: Array<{ origin: number, eccentricity: number, convergenceMs: number }> = []
    for (let k = 0; k < edits; k++) {
      const origin = Math.floor(rnd() * n)
      const key = `e${k}`
      const arrived = new Array<number>(n).fill(NaN)
      let remaining = n
      const listeners = handles.map((h, i) => {
        const map = h.doc.getMap('m')
        const f = (): void => {
          if (Number.isNaN(arrived[i]) && map.has(key)) { arrived[i] = performance.now(); remaining-- }
        }
        h.doc.on('afterTransaction', f)
        return [h.doc, f] as [Y.Doc, () => void]
      })
      const start = performance.now()
      handles[origin].doc.getMap('m').set(key, k)
      const until = Date.now() + timeoutMs
      // eslint-disable-next-line no-unmodified-loop-condition -- the afterTransaction listeners count it down
      while (remaining > 0) {
        if (Date.now() > until) throw new Error(`edit ${k} reached ${n - remaining} of ${n} nodes`)
        await sleep(1)
      }
      for (const [doc, f] of listeners) doc.off('afterTransaction', f)
      const dist = bfs(adj, origin)
      for (let v = 0; v < n; v++) {
        if (dist[v] < 1) continue
        const prev = Math.min(...adj[v].filter(u => dist[u] === dist[v] - 1).map(u => u === origin ? start : arrived[u]))
        hops.push(arrived[v] - prev)
      }
      results.push({ origin, eccentricity: Math.max(...dist), convergenceMs: Math.max(...arrived) - start })
      await sleep(50)
    }
    const conv = results.map(r => r.convergenceMs)
    const hopP50 = percentile(hops, 50)
    return {
      nodes: n,
      edges: edges.length,
      diameter,
      setupMs,
      hopP50,
      hopP99: percentile(hops, 99),
      convergenceP50: percentile(conv, 50),
      convergenceMax: Math.max(...conv),
      boundMs: diameter * hopP50 + 200,
      edits: results
    }
  } finally {
    await Promise.all(nodes.map(async node => { await node.stop() }))
  }
}

const mesh50: RoleFactory = async () => ({
  info: {},
  handlers: { run },
  close: async () => {}
})

export default mesh50
