/**
 * One seeded run of the convergence fuzzer (test/fuzz.spec.ts): five replicas
 * (test/helpers/fuzz-replicas.ts) on a seeded in-memory network with a chaos
 * profile, a random schedule of operations between them (edits, delivery,
 * partitions, backpressure, anti-entropy, awareness, closes/reopens, crashes,
 * redials), checkpoints that heal the mesh and check it, and a final heal with
 * anti-entropy to a fixed point. Everything random comes from the seed.
 */
import * as prng from 'lib0/prng'
import { MemoryNetwork, RELIABLE, tick, type Chaos } from '../../lib/testing/memory-network.js'
import {
  closeDoc, convergenceProblems, createReplica, randomEdit, rejections, reopenDoc, restart, shutdown, source, statesOf,
  type Replica, type Source
} from './fuzz-replicas.js'

/**
 * A healed five-replica mesh settles in a few thousand frames; more means
 * replicas keep talking without converging (a livelock).
 */
const QUIET_STEPS = 20_000

// ------------------------------------------------------------------ one run

export type Profile = 'clean' | 'lossy' | 'chaotic'
export type Topology = 'mesh' | 'line' | 'ring' | 'star' | 'tree'
export type Heal = 'fresh' | 'keep'

const PROFILES: Record<Profile, Chaos> = {
  // in order per connection, nothing lost on a live connection: only interleaving, partitions, crashes
  clean: { ...RELIABLE },
  lossy: { reorder: false, duplicate: 0.05, drop: 0.05 },
  chaotic: { reorder: true, duplicate: 0.1, drop: 0.1 }
}

/**
 * The refusals an honest mesh may count (PROTOCOL.md §3.2: ignored and
 * counted): updates for a doc that is closed, or for a session that has not
 * started or has ended on this side. Everything else closes a connection or
 * refuses data an honest peer sent.
 */
const HARMLESS_REJECTIONS = new Set(['unavailable', 'out_of_session'])

export interface RunSummary {
  profile: Profile
  topology: Topology
  heal: Heal
  edits: number
  crashes: number
  reopens: number
  checkpoints: number
  antiEntropyRounds: number
  stats: MemoryNetwork['stats']
  rejected: Record<string, number>
}

const OPS = {
  edit: 30,
  deliver: 30,
  connect: 7,
  disconnect: 4,
  split: 1.5,
  join: 2,
  backpressure: 5,
  antiEntropy: 4,
  awareness: 3,
  reopen: 1.5,
  crash: 0.5,
  redial: 1.5,
  flush: 3
} as const
type Op = keyof typeof OPS
const OP_TOTAL = Object.values(OPS).reduce((a, b) => a + b, 0)

function pickOp (gen: prng.PRNG): Op {
  let roll = gen.next() * OP_TOTAL
  for (const [op, w] of Object.entries(OPS) as Array<[Op, number]>) {
    roll -= w
    if (roll < 0) return op
  }
  return 'flush'
}

function shuffle<T> (gen: prng.PRNG, xs: T[]): T[] {
  const out = [...xs]
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int32(gen, 0, i)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

function edgesOf (topology: Topology, ids: string[], gen: prng.PRNG): Array<[string, string]> {
  const order = shuffle(gen, ids)
  const edges: Array<[string, string]> = []
  switch (topology) {
    case 'mesh':
      for (let i = 0; i < order.length; i++) for (let j = i + 1; j < order.length; j++) edges.push([order[i], order[j]])
      break
    case 'line':
    case 'ring':
      for (let i = 1; i < order.length; i++) edges.push([order[i - 1], order[i]])
      if (topology === 'ring') edges.push([order[order.length - 1], order[0]])
      break
    case 'star':
      for (let i = 1; i < order.length; i++) edges.push([order[0], order[i]])
      break
    case 'tree':
      for (let i = 1; i < order.length; i++) edges.push([order[prng.int32(gen, 0, i - 1)], order[i]])
  }
  return edges
}

/** One seeded run: replicas, the network, and the random operations between them. */
export class FuzzRun {
  readonly src: Source
  readonly gen: prng.PRNG
  readonly profile: Profile
  readonly net: MemoryNetwork
  readonly ids: string[]
  readonly replicas: Replica[] = []
  readonly summary: RunSummary

  constructor (readonly seed: number, readonly replicaCount = 5) {
    this.src = source(seed)
    this.gen = this.src.gen
    this.profile = prng.oneOf<Profile>(this.gen, ['clean', 'lossy', 'chaotic'])
    this.net = new MemoryNetwork({ seed: prng.uint32(this.gen, 1, 0x7fffffff), chaos: PROFILES[this.profile] })
    this.ids = Array.from({ length: replicaCount }, (_, i) => String.fromCharCode(65 + i))
    this.summary = {
      profile: this.profile, topology: 'mesh', heal: 'fresh', edits: 0, crashes: 0, reopens: 0, checkpoints: 0, antiEntropyRounds: 0, stats: this.net.stats, rejected: {}
    }
  }

  async run (): Promise<void> {
    const { gen, net, ids } = this
    for (const id of ids) {
      const r = await createReplica(id, this.src, prng.bool(gen))
      this.replicas.push(r)
      net.add(id, r.engine)
    }
    // start from a random partial topology
    for (let i = 0; i < this.replicaCount; i++) this.link(...this.pair())
    const ops = prng.int32(gen, 400, 900)
    // a checkpoint or two mid-run: settle the mesh, check, then carry on from that state
    const checkpoints = new Set(Array.from({ length: prng.int32(gen, 0, 2) }, () => prng.int32(gen, 0, ops - 1)))
    for (let op = 0; op < ops; op++) {
      await this.randomOp()
      // sometimes the next operation runs before the engine's microtasks (batch flush, ACKs)
      if (gen.next() < 0.7) await tick()
      if (checkpoints.has(op)) {
        this.summary.checkpoints++
        await this.settle(`checkpoint ${this.summary.checkpoints}`, false)
        net.chaos = { ...PROFILES[this.profile] }
      }
    }
    await this.settle('final', true)
  }

  private pair (): [string, string] {
    const [a, b] = shuffle(this.gen, this.ids)
    return [a, b]
  }

  private link (a: string, b: string): void {
    if (!this.net.connected(a, b)) this.net.connect(a, b)
  }

  private async randomOp (): Promise<void> {
    const { gen, net, ids, replicas, summary } = this
    switch (pickOp(gen)) {
      case 'edit': {
        // one local transaction of a few operations, on a replica whose doc is open
        const r = prng.oneOf(gen, replicas)
        if (!r.open) return
        r.sync.doc.transact(() => {
          const n = prng.int32(gen, 1, 4)
          for (let i = 0; i < n; i++) randomEdit(r.sync.doc, gen)
        })
        summary.edits++
        return
      }
      case 'deliver': {
        const n = prng.int32(gen, 1, 25)
        for (let i = 0; i < n; i++) {
          if (!net.step()) return
          if (prng.bool(gen)) await tick()
        }
        return
      }
      case 'connect':
        this.link(...this.pair())
        return
      case 'disconnect':
        net.disconnect(...this.pair())
        return
      case 'split': {
        // two groups: every link across is cut
        const left = new Set(shuffle(gen, ids).slice(0, prng.int32(gen, 1, this.replicaCount - 1)))
        for (const [a, b] of net.links) if (left.has(a) !== left.has(b)) net.disconnect(a, b)
        return
      }
      case 'join':
        // partitions heal: a random spanning tree
        for (const [a, b] of edgesOf('tree', ids, gen)) this.link(a, b)
        return
      case 'backpressure': {
        const [a, b] = this.pair()
        net.setWritable(a, b, prng.bool(gen))
        return
      }
      case 'antiEntropy':
        prng.oneOf(gen, replicas).engine.runAntiEntropy()
        return
      case 'awareness':
        prng.oneOf(gen, replicas).sync.awareness.setLocalStateField('cursor', prng.int32(gen, 0, 100))
        return
      case 'reopen': {
        // the app closes the doc, or opens it again
        const r = prng.oneOf(gen, replicas)
        if (r.open) closeDoc(r)
        else reopenDoc(r)
        summary.reopens++
        return
      }
      case 'crash': {
        // connections die with whatever was in flight; restart from storage (or empty, without storage)
        const r = prng.oneOf(gen, replicas)
        net.remove(r.id)
        await restart(r, this.src)
        net.add(r.id, r.engine)
        summary.crashes++
        return
      }
      case 'redial': {
        // a second connection between peers already connected (simultaneous dial)
        const [a, b] = this.pair()
        if (net.connected(a, b)) net.connect(a, b)
        return
      }
      case 'flush': {
        const r = prng.oneOf(gen, replicas)
        if (r.open) r.engine.sendBatch(r.sync)
      }
    }
  }

  /**
   * Heal into a connected topology on a reliable network and check that every
   * replica agrees; on the final settle also run anti-entropy rounds to a
   * fixed point and check again. Throws with every problem found.
   */
  private async settle (label: string, final: boolean): Promise<void> {
    const { gen, net, ids, replicas, summary } = this
    const problems: string[] = []
    net.chaos = { ...RELIABLE }
    for (const r of replicas) if (!r.open) reopenDoc(r)
    net.setAllWritable()
    const topology = prng.oneOf<Topology>(gen, ['mesh', 'line', 'ring', 'star', 'tree'])
    // Kept connections may have lost or reordered frames on a lossy network,
    // and only anti-entropy owes their repair: keep them only at the end.
    const heal = this.profile === 'clean' || final ? prng.oneOf<Heal>(gen, ['fresh', 'keep']) : 'fresh'
    summary.topology = topology
    summary.heal = heal
    const edges = edgesOf(topology, ids, gen)
    const inTopology = (a: string, b: string): boolean => edges.some(([x, y]) => (x === a && y === b) || (x === b && y === a))
    for (const [a, b] of net.links) {
      if (heal === 'fresh' || !inTopology(a, b)) net.disconnect(a, b)
    }
    // connections closing by themselves still drain; let them
    await net.runUntilQuiet(QUIET_STEPS)
    for (const [a, b] of edges) this.link(a, b)
    await net.runUntilQuiet(QUIET_STEPS)
    // Fresh connections start with a SYNC exchange and forward what they learn,
    // and a clean network loses nothing on a live connection: either way the
    // mesh must agree now, without any anti-entropy round.
    if (heal === 'fresh' || this.profile === 'clean') {
      problems.push(...convergenceProblems(replicas, `${label}, before anti-entropy`))
    }
    if (final) {
      let before = statesOf(replicas)
      for (let round = 1; ; round++) {
        for (const r of replicas) r.engine.runAntiEntropy()
        await net.runUntilQuiet(QUIET_STEPS)
        const after = statesOf(replicas)
        summary.antiEntropyRounds = round
        if (after === before) break
        before = after
        if (round >= 2 * this.replicaCount) {
          problems.push(`anti-entropy still changing replicas after ${round} rounds`)
          break
        }
      }
      problems.push(...convergenceProblems(replicas, `${label}, after anti-entropy`))
    }
    for (const [a, b] of edges) {
      if (!net.connected(a, b)) problems.push(`${label}: the healed link ${a}-${b} was closed by an engine`)
    }
    summary.rejected = {}
    for (const r of replicas) {
      for (const [name, n] of Object.entries(rejections(r))) {
        summary.rejected[name] = (summary.rejected[name] ?? 0) + n
        if (!HARMLESS_REJECTIONS.has(name)) problems.push(`${label}: ${r.id} refused an honest peer ${n}x: ${name}`)
      }
      for (const e of r.errors) problems.push(`${label}: document error: ${e}`)
    }
    if (problems.length > 0) throw new Error(`${problems.length} problem(s):\n  ${problems.join('\n  ')}`)
  }

  shutdown (): void {
    for (const r of this.replicas) shutdown(r)
  }
}

export function describeRun (s: RunSummary): string {
  const n = s.stats
  return `${s.profile} network, healed as ${s.topology} (${s.heal}); ${s.edits} edits, ${s.crashes} crashes, ${s.reopens} closes/reopens, ` +
    `${s.checkpoints} checkpoints, ${s.antiEntropyRounds} anti-entropy rounds; frames sent=${n.sent} delivered=${n.delivered} dropped=${n.dropped} ` +
    `duplicated=${n.duplicated} reordered=${n.reordered} discarded=${n.discarded}; refusals ${JSON.stringify(s.rejected)}`
}
