/**
 * 50 nodes in a random connected graph (real libp2p, one process), 1,000 edits
 * at random nodes: every replica converges. Reports the time against
 * diameter x per-hop latency, and asserts generous bounds on both (the tight
 * measurement is P8 in bench/, `npm run bench`). Seeded: MESHDOC_MESH_SEED=n
 * reruns one graph.
 */
import assert from 'node:assert/strict'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { createMeshNode, type DocHandle, type MeshNode } from '../adapters/presets/node.js'
import { until } from './helpers/wait.js'

const N = 50
const EDITS = 1000

/*
 * Bounds that catch a sync path gone slow (an edit waiting on a timer, a
 * repair round or a stalled stream instead of being forwarded at once) but
 * hold on a loaded 2-core machine: the 50 nodes share one event loop, and
 * other processes take CPU from it. Seed 50 (diameter 7) on the 2-core dev
 * machine, 2026-12-03: per-hop p50 11-12 ms on a quiet machine, 58 ms with
 * two busy-loop processes beside it, 114 ms with five; all converged 0.5 s,
 * 1.1 s and 5.3 s after the last edit (docs/BENCHMARKS.md, "Bounds asserted
 * by tests"). The bounds are about 4x the five-process figures. 20 s is also
 * below the 30 s anti-entropy interval these nodes run with: on a quiet
 * machine the first timer round comes some 25 s after the last edit, so only
 * forwarding converges in time.
 */
/** per-hop latency, median of 20 single edits across one edge */
const HOP_P50_BOUND_MS = 500
/** from the last of the 1,000 edits until all 50 replicas are identical */
const CONVERGED_AFTER_LAST_EDIT_BOUND_MS = 20_000

/** BFS eccentricities -> diameter */
function diameter (adj: number[][]): number {
  let best = 0
  for (let s = 0; s < adj.length; s++) {
    const dist = new Array<number>(adj.length).fill(-1)
    dist[s] = 0
    const q = [s]
    while (q.length > 0) {
      const u = q.shift()!
      for (const v of adj[u]) if (dist[v] < 0) { dist[v] = dist[u] + 1; q.push(v) }
    }
    best = Math.max(best, ...dist)
  }
  return best
}

describe('a 50-node mesh', function () {
  this.timeout(300_000)
  const nodes: MeshNode[] = []
  after(async () => { await Promise.all(nodes.map(async n => { await n.stop() })) })

  it('converges after 1,000 edits at random nodes of a random connected graph', async () => {
    const seed = Number(process.env.MESHDOC_MESH_SEED ?? 50)
    const gen = prng.create(seed)
    for (let i = 0; i < N; i++) nodes.push(await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0'] }))
    const handles: DocHandle[] = await Promise.all(nodes.map(async n => await n.open('mesh/doc')))
    // random spanning tree plus a few extra edges
    const adj: number[][] = Array.from({ length: N }, () => [])
    const edges: Array<[number, number]> = []
    for (let i = 1; i < N; i++) edges.push([prng.int32(gen, 0, i - 1), i])
    for (let k = 0; k < N / 2; k++) {
      const a = prng.int32(gen, 0, N - 1)
      const b = prng.int32(gen, 0, N - 1)
      if (a !== b && !edges.some(([x, y]) => (x === a && y === b) || (x === b && y === a))) edges.push([a, b])
    }
    for (const [a, b] of edges) { adj[a].push(b); adj[b].push(a) }
    await Promise.all(edges.map(async ([a, b]) => { await nodes[a].dial(nodes[b].multiaddrs[0]) }))
    await Promise.all(edges.map(async ([a, b]) => { await handles[a].whenSynced({ peer: nodes[b].peerId, timeout: 30_000 }) }))
    const diam = diameter(adj)

    // per-hop latency: an edit at one end of an edge, seen at the other
    const hops: number[] = []
    for (let k = 0; k < 20; k++) {
      const [a, b] = edges[prng.int32(gen, 0, edges.length - 1)]
      const t0 = performance.now()
      handles[a].doc.getMap('probe').set(`p${k}`, k)
      await until(() => handles[b].doc.getMap('probe').get(`p${k}`) === k, 'hop', 10_000)
      hops.push(performance.now() - t0)
    }
    hops.sort((x, y) => x - y)
    const hopP50 = hops[Math.floor(hops.length / 2)]
    await until(() => handles.every(h => h.doc.getMap('probe').size === 20), 'probes everywhere', 30_000)

    const t0 = performance.now()
    for (let e = 0; e < EDITS; e++) {
      const doc = handles[prng.int32(gen, 0, N - 1)].doc
      const op = prng.int32(gen, 0, 2)
      if (op === 0) doc.getText('t').insert(prng.int32(gen, 0, doc.getText('t').length), prng.word(gen, 1, 3))
      else if (op === 1) doc.getMap('m').set(prng.word(gen, 1, 2), e)
      else doc.getArray('a').push([e])
      if (e % 50 === 0) await new Promise(resolve => setImmediate(resolve))
    }
    const lastEdit = performance.now()
    const fingerprint = (h: DocHandle): string => JSON.stringify([
      Buffer.from(Y.encodeStateVector(h.doc)).toString('hex'),
      // map key order follows local integration order: compare sorted entries
      h.doc.getText('t').toString(), Object.entries(h.doc.getMap('m').toJSON()).sort(([a], [b]) => a < b ? -1 : 1), h.doc.getArray('a').toJSON()
    ])
    let converged = false
    try {
      await until(() => { const f = fingerprint(handles[0]); return handles.every(h => fingerprint(h) === f) }, 'convergence', 120_000)
      converged = true
    } finally {
      if (!converged) {
        const groups = new Map<string, number[]>()
        handles.forEach((h, i) => { const f = fingerprint(h); groups.set(f, [...(groups.get(f) ?? []), i]) })
        console.log(`      seed=${seed}: ${groups.size} distinct replica states: ${[...groups.values()].map(g => g.join(',')).join(' | ')}`)
      }
    }
    const convergeMs = performance.now() - t0
    let total = 0
    for (const h of handles) {
      const sv = Y.decodeStateVector(Y.encodeStateVector(h.doc))
      total = Math.max(total, [...sv.values()].reduce((a, b) => a + b, 0))
    }
    assert.ok(total >= EDITS, `seed=${seed}: state covers ${total} clock ticks for ${EDITS} edits`)
    const afterLast = performance.now() - lastEdit
    console.log(`      seed ${seed}: ${edges.length} edges, diameter ${diam}, per-hop p50 ${hopP50.toFixed(1)} ms (diameter x per-hop = ${(diam * hopP50).toFixed(0)} ms); all ${N} converged ${afterLast.toFixed(0)} ms after the last edit, ${convergeMs.toFixed(0)} ms after the first of ${EDITS} edits (all 50 nodes share one event loop)`)
    assert.ok(hopP50 < HOP_P50_BOUND_MS, `seed=${seed}: per-hop p50 ${hopP50.toFixed(1)} ms, bound ${HOP_P50_BOUND_MS} ms`)
    assert.ok(afterLast < CONVERGED_AFTER_LAST_EDIT_BOUND_MS, `seed=${seed}: converged ${afterLast.toFixed(0)} ms after the last edit, bound ${CONVERGED_AFTER_LAST_EDIT_BOUND_MS} ms`)
  })
})
