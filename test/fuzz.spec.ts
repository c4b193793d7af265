/**
 * Convergence fuzzer: replicas of one document, random edits, a hostile
 * network (partitions, reordering, duplication, loss, backpressure), crashes
 * and doc reopens; then heal and check every replica ends up identical.
 *
 *   node_modules/.bin/mocha test/fuzz.spec.ts                               the fixed seeds below
 *   MESHDOC_FUZZ_RUNS=1000 node_modules/.bin/mocha test/fuzz.spec.ts        seeds 1..1000 (npm run test:fuzz)
 *   MESHDOC_FUZZ_SEED=123 node_modules/.bin/mocha test/fuzz.spec.ts         rerun one seed
 *   MESHDOC_FUZZ_VERBOSE=1 ...                                              print a summary line per seed
 *
 * Every failure message starts with `seed=N`. A run is deterministic: the same
 * seed replays the same edits, the same frame order and the same clientIDs.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { Awareness } from 'y-protocols/awareness'
import { decodeFrame } from '../lib/protocol/codec.js'
import { MessageType } from '../lib/protocol/constants.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'
import { MemoryStorageAdapter } from '../lib/storage/memory-adapter.js'
import { EngineDoc } from '../lib/sync/engine-doc.js'
import { SyncEngine } from '../lib/sync/engine.js'
import { MemoryNetwork, RELIABLE, tick, type Chaos, type NetworkNode } from '../lib/testing/memory-network.js'
import type { PeerConnection, PeerLink } from '../lib/sync/types.js'
import { deleteRangesOf, encodeDeleteRanges } from '../lib/yjs/update-batch.js'

const DOC_ID = 'fuzz/doc'
const KEY = docKeyFor(DOC_ID)
const KEY_HEX = docKeyHex(KEY)

const UNLIMITED = Number.MAX_SAFE_INTEGER
/** the longest delay setTimeout honours (longer ones fire at once) */
const MAX_TIMER_MS = 0x7fffffff

/**
 * A healed five-replica mesh settles in a few thousand frames; more means
 * replicas keep talking without converging (a livelock).
 */
const QUIET_STEPS = 20_000

/**
 * Seeds 1..16, plus the first seeds that caught a defect (engine at 63b6e05):
 * 18 a SYNC1/SYNC2 livelock over unresolvable pending structs, 36 a stale ACK
 * that closed a healthy connection. See 'regressions found by the fuzzer'.
 */
const FIXED_SEEDS = [...Array.from({ length: 16 }, (_, i) => i + 1), 18, 36]

function seedsToRun (): number[] {
  const one = process.env.MESHDOC_FUZZ_SEED
  if (one !== undefined && one !== '') return [Number.parseInt(one, 10)]
  const runs = process.env.MESHDOC_FUZZ_RUNS
  if (runs !== undefined && runs !== '') return Array.from({ length: Number.parseInt(runs, 10) }, (_, i) => i + 1)
  return FIXED_SEEDS
}

// ------------------------------------------------------------------ replicas

interface Replica {
  readonly id: string
  readonly storage: MemoryStorageAdapter | undefined
  engine: SyncEngine
  sync: EngineDoc
  /** the doc is added to the engine (not closed by a "reopen" in progress) */
  open: boolean
  /** rejections counted by engines this replica has already replaced (crashes) */
  readonly pastRejections: Record<string, number>
  readonly errors: string[]
}

/** A run's random source, plus the clientIDs it handed out (never twice). */
interface Source {
  readonly gen: prng.PRNG
  readonly clientIds: Set<number>
}

const source = (seed: number): Source => ({ gen: prng.create(seed), clientIds: new Set() })

function freshClientId ({ gen, clientIds }: Source): number {
  for (;;) {
    const id = prng.uint32(gen, 1, 0x7fffffff)
    if (!clientIds.has(id)) { clientIds.add(id); return id }
  }
}

async function openReplica (id: string, src: Source, storage: MemoryStorageAdapter | undefined, errors: string[]): Promise<{ engine: SyncEngine, sync: EngineDoc }> {
  const { gen } = src
  const doc = new Y.Doc()
  // deterministic clientIDs make a seed replay exactly (Yjs orders concurrent inserts by clientID)
  doc.clientID = freshClientId(src)
  let persistence: DocPersistence | undefined
  if (storage !== undefined) {
    persistence = new DocPersistence(storage, KEY_HEX, doc, { compactAfterRecords: prng.int32(gen, 2, 20) })
    await persistence.load()
  }
  const awareness = new Awareness(doc)
  const sync = new EngineDoc(DOC_ID, KEY, KEY_HEX, doc, awareness, persistence)
  sync.on('error', (err: Error) => { errors.push(`${id}: ${err.message}`) })
  const engine = new SyncEngine({
    antiEntropyIntervalMs: 0,
    maxBatchTransactions: prng.bool(gen) ? undefined : prng.int32(gen, 1, 4),
    // Simulated time is not wall-clock time: rate limits would trip at random
    // and a HELLO may legitimately sit in flight for long. Traffic that never
    // ends fails the run instead (see QUIET_STEPS), deterministically.
    limits: { framesPerSecond: UNLIMITED, frameBurst: UNLIMITED, bytesPerSecond: UNLIMITED, byteBurst: UNLIMITED, helloTimeoutMs: MAX_TIMER_MS }
  })
  engine.addDoc(sync)
  return { engine, sync }
}

async function createReplica (id: string, src: Source, persistent: boolean): Promise<Replica> {
  const storage = persistent ? new MemoryStorageAdapter() : undefined
  const errors: string[] = []
  const { engine, sync } = await openReplica(id, src, storage, errors)
  return { id, storage, engine, sync, open: true, pastRejections: {}, errors }
}

function shutdown (r: Replica): void {
  r.engine.stop()
  r.sync.awareness.destroy()
}

/** The app closes the doc (the engine tells peers it no longer holds it). */
function closeDoc (r: Replica): void {
  r.engine.removeDoc(r.sync)
  r.open = false
}

/** The app opens the doc again: same Y.Doc, awareness and storage, a new EngineDoc. */
function reopenDoc (r: Replica): void {
  const old = r.sync
  const sync = new EngineDoc(DOC_ID, KEY, KEY_HEX, old.doc, old.awareness, old.persistence)
  sync.on('error', (err: Error) => { r.errors.push(`${r.id}: ${err.message}`) })
  r.engine.addDoc(sync)
  r.sync = sync
  r.open = true
}

/** Crash and restart: a new engine and a new Y.Doc (new clientID), loaded from storage if the replica has any. */
async function restart (r: Replica, src: Source): Promise<void> {
  for (const [k, v] of Object.entries(r.engine.counters.rejected)) r.pastRejections[k] = (r.pastRejections[k] ?? 0) + v
  shutdown(r)
  const next = await openReplica(r.id, src, r.storage, r.errors)
  r.engine = next.engine
  r.sync = next.sync
  r.open = true
}

function rejections (r: Replica): Record<string, number> {
  const out = { ...r.pastRejections }
  for (const [k, v] of Object.entries(r.engine.counters.rejected)) out[k] = (out[k] ?? 0) + v
  return out
}

// ------------------------------------------------------------------ edits

const MAP_KEYS = ['a', 'b', 'c', 'd', 'e', 'f']

function randomEdit (doc: Y.Doc, gen: prng.PRNG): void {
  const text = doc.getText('text')
  const map = doc.getMap('map')
  const arr = doc.getArray<number>('array')
  switch (prng.int32(gen, 0, 6)) {
    case 0:
    case 1:
      text.insert(prng.int32(gen, 0, text.length), prng.word(gen, 1, 5))
      break
    case 2:
      if (text.length > 0) {
        const at = prng.int32(gen, 0, text.length - 1)
        text.delete(at, Math.min(prng.int32(gen, 1, 4), text.length - at))
      }
      break
    case 3:
      map.set(prng.oneOf(gen, MAP_KEYS), prng.bool(gen) ? prng.int32(gen, 0, 1000) : prng.word(gen, 1, 3))
      break
    case 4:
      map.delete(prng.oneOf(gen, MAP_KEYS))
      break
    case 5:
      arr.insert(prng.int32(gen, 0, arr.length), Array.from({ length: prng.int32(gen, 1, 3) }, () => prng.int32(gen, 0, 99)))
      break
    default:
      if (arr.length > 0) {
        const at = prng.int32(gen, 0, arr.length - 1)
        arr.delete(at, Math.min(prng.int32(gen, 1, 3), arr.length - at))
      }
  }
}

// ------------------------------------------------------------------ checks

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function describeSv (doc: Y.Doc): string {
  return JSON.stringify([...Y.decodeStateVector(Y.encodeStateVector(doc)).entries()].sort((a, b) => a[0] - b[0]))
}

/** Canonical content: map keys sorted, since Y.Map iterates in insertion order, which differs between replicas. */
function contentOf (doc: Y.Doc): string {
  const map = Object.entries(doc.getMap('map').toJSON()).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
  return JSON.stringify({ text: doc.getText('text').toString(), map, array: doc.getArray('array').toJSON() })
}

/**
 * Pending structs or deletions whose dependencies some replica has: sync
 * failed to deliver them. (Pending state whose dependencies no replica has is
 * legitimate: a replica that crashed without storage took them with it.)
 */
function stuckPending (r: Replica, replicas: Replica[]): string[] {
  const store = r.sync.doc.store
  const needed: Array<[number, number]> = []
  if (store.pendingStructs !== null) needed.push(...store.pendingStructs.missing.entries())
  if (store.pendingDs !== null) {
    Y.decodeUpdate(store.pendingDs).ds.clients.forEach((items, client) => {
      for (const it of items) needed.push([client, it.clock + it.len - 1])
    })
  }
  const out: string[] = []
  for (const [client, clock] of needed) {
    const holder = replicas.find(o => Y.getState(o.sync.doc.store, client) > clock)
    if (holder !== undefined) out.push(`${r.id} waits for ${client}:${clock}, which ${holder.id} has`)
  }
  return out
}

/** Differences between replicas (state vector, delete set, content) and pending structs that could be resolved. */
function convergenceProblems (replicas: Replica[], when: string): string[] {
  const problems: string[] = []
  const ref = replicas[0]
  const refDoc = ref.sync.doc
  const refSv = hex(Y.encodeStateVector(refDoc))
  const refDs = hex(encodeDeleteRanges(deleteRangesOf(refDoc)))
  const refContent = contentOf(refDoc)
  for (const r of replicas) {
    const doc = r.sync.doc
    for (const p of stuckPending(r, replicas)) problems.push(`${when}: ${p}`)
    if (r === ref) continue
    if (hex(Y.encodeStateVector(doc)) !== refSv) {
      problems.push(`${when}: state vector of ${r.id} ${describeSv(doc)} != ${ref.id} ${describeSv(refDoc)}`)
    }
    if (hex(encodeDeleteRanges(deleteRangesOf(doc))) !== refDs) problems.push(`${when}: delete set of ${r.id} != ${ref.id}`)
    const content = contentOf(doc)
    if (content !== refContent) problems.push(`${when}: content of ${r.id} ${content} != ${ref.id} ${refContent}`)
  }
  return problems
}

function statesOf (replicas: Replica[]): string {
  return replicas.map(r => hex(Y.encodeStateVector(r.sync.doc)) + '/' + hex(encodeDeleteRanges(deleteRangesOf(r.sync.doc)))).join('|')
}

// ------------------------------------------------------------------ one run

type Profile = 'clean' | 'lossy' | 'chaotic'
type Topology = 'mesh' | 'line' | 'ring' | 'star' | 'tree'
type Heal = 'fresh' | 'keep'

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

interface RunSummary {
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
class FuzzRun {
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

async function runSeed (seed: number): Promise<RunSummary> {
  const run = new FuzzRun(seed)
  try {
    await run.run()
    return run.summary
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err))
    e.message = `seed=${seed} (${describeRun(run.summary)}): ${e.message}`
    throw e
  } finally {
    run.shutdown()
  }
}

function describeRun (s: RunSummary): string {
  const n = s.stats
  return `${s.profile} network, healed as ${s.topology} (${s.heal}); ${s.edits} edits, ${s.crashes} crashes, ${s.reopens} closes/reopens, ` +
    `${s.checkpoints} checkpoints, ${s.antiEntropyRounds} anti-entropy rounds; frames sent=${n.sent} delivered=${n.delivered} dropped=${n.dropped} ` +
    `duplicated=${n.duplicated} reordered=${n.reordered} discarded=${n.discarded}; refusals ${JSON.stringify(s.rejected)}`
}


describe('convergence fuzzer', function () {
  for (const seed of seedsToRun()) {
    it(`five replicas converge under partitions, reordering, duplication and loss (seed=${seed})`, async function () {
      const summary = await runSeed(seed)
      if (process.env.MESHDOC_FUZZ_VERBOSE !== undefined) console.log(`      seed=${seed}: ${describeRun(summary)}`)
    })
  }
})

// ------------------------------------------------------------------ the network itself

/** A node that records what reaches it, in its own list and in a log shared by all nodes. */
class RecordingNode {
  readonly got: string[] = []
  readonly links = new Map<string, PeerLink>()
  closed = 0

  constructor (private readonly log: string[] = []) {}

  addPeer (peerId: string, link: PeerLink): PeerConnection {
    this.links.set(peerId, link)
    return {
      receive: (body) => {
        const entry = `${peerId}:${new TextDecoder().decode(body)}`
        this.got.push(entry)
        this.log.push(entry)
      },
      drained: () => {},
      closed: () => { this.closed++ },
      fail: () => {}
    }
  }

  send (peer: string, ...words: string[]): void {
    for (const w of words) this.links.get(peer)!.send(new TextEncoder().encode(w))
  }
}

function twoNodes (chaos: Partial<Chaos>, seed = 1): { net: MemoryNetwork, a: RecordingNode, b: RecordingNode, log: string[] } {
  const net = new MemoryNetwork({ seed, chaos })
  const log: string[] = []
  const a = new RecordingNode(log)
  const b = new RecordingNode(log)
  net.add('a', a)
  net.add('b', b)
  net.connect('a', 'b')
  return { net, a, b, log }
}

describe('seeded in-memory network', function () {
  it('delivers each connection in order when reliable, and replays the same interleaving for the same seed', async function () {
    const order = async (seed: number): Promise<string[]> => {
      const { net, a, b, log } = twoNodes(RELIABLE, seed)
      a.send('b', 'a1', 'a2', 'a3', 'a4')
      b.send('a', 'b1', 'b2', 'b3', 'b4')
      await net.runUntilQuiet()
      assert.deepEqual(b.got, ['a:a1', 'a:a2', 'a:a3', 'a:a4'])
      assert.deepEqual(a.got, ['b:b1', 'b:b2', 'b:b3', 'b:b4'])
      return log
    }
    assert.deepEqual(await order(3), await order(3))
  })

  it('reorders, duplicates and drops frames, but always delivers the first frame of a link first and once', async function () {
    const { net, a, b } = twoNodes({ reorder: true, duplicate: 0.3, drop: 0.3 }, 11)
    a.send('b', 'hello', ...Array.from({ length: 40 }, (_, i) => `m${i}`))
    await net.runUntilQuiet()
    assert.equal(b.got[0], 'a:hello')
    assert.equal(b.got.filter(g => g === 'a:hello').length, 1)
    assert.ok(net.stats.dropped > 0 && net.stats.duplicated > 0 && net.stats.reordered > 0, JSON.stringify(net.stats))
    assert.equal(net.stats.delivered, b.got.length)
  })

  it('a cut loses what is in flight and tells both ends; a close delivers what the closer sent first', async function () {
    const cut = twoNodes(RELIABLE)
    cut.a.send('b', 'x', 'y')
    cut.net.disconnect('a', 'b')
    await cut.net.runUntilQuiet()
    assert.deepEqual(cut.b.got, [])
    assert.deepEqual([cut.a.closed, cut.b.closed], [1, 1])
    cut.a.send('b', 'z')
    assert.equal(cut.net.inFlightCount, 0, 'a closed connection carries nothing')

    const close = twoNodes(RELIABLE)
    close.a.send('b', 'last words')
    close.b.send('a', 'lost reply')
    close.a.links.get('b')!.close()
    await close.net.runUntilQuiet()
    assert.deepEqual(close.b.got, ['a:last words'])
    assert.deepEqual(close.a.got, [])
    assert.deepEqual([close.a.closed, close.b.closed], [1, 1])
    assert.equal(close.net.connected('a', 'b'), false)
  })

  it('backpressure: a link is not writable until released, and release tells the sender it drained', function () {
    const net = new MemoryNetwork({ seed: 1 })
    let drained = 0
    const links = new Map<string, PeerLink>()
    const node = (): NetworkNode => ({
      addPeer: (peer, link) => {
        links.set(peer, link)
        return { receive: () => {}, drained: () => { drained++ }, closed: () => {}, fail: () => {} }
      }
    })
    net.add('a', node())
    net.add('b', node())
    net.connect('a', 'b')
    net.setWritable('a', 'b', false)
    assert.equal(links.get('b')!.writable, false, "a's link to b")
    assert.equal(links.get('a')!.writable, true, "b's link to a")
    net.setWritable('a', 'b', true)
    assert.equal(links.get('b')!.writable, true)
    assert.equal(drained, 1)
  })
})

// ------------------------------------------------------------------ pinpoint scenarios

/** A few replicas on one reliable network; tests drive delivery frame by frame where it matters. */
class Cluster {
  readonly net = new MemoryNetwork({ seed: 7 })
  readonly replicas = new Map<string, Replica>()

  static async of (...ids: string[]): Promise<Cluster> {
    const c = new Cluster()
    const src = source(7)
    for (const id of ids) {
      const r = await createReplica(id, src, false)
      c.replicas.set(id, r)
      c.net.add(id, r.engine)
    }
    return c
  }

  get (id: string): Replica {
    const r = this.replicas.get(id)
    if (r === undefined) throw new Error(`no replica ${id}`)
    return r
  }

  text (id: string): string {
    return this.get(id).sync.doc.getText('text').toString()
  }

  updatesInFlight (from: string, to: string): number[] {
    return this.net.frames(from, to).filter(f => decodeFrame(f.body).type === MessageType.UPDATE).map(f => f.id)
  }

  shutdown (): void {
    for (const r of this.replicas.values()) shutdown(r)
  }
}

async function withCluster (ids: string[], body: (c: Cluster) => Promise<void>): Promise<void> {
  const c = await Cluster.of(...ids)
  try {
    await body(c)
  } finally {
    c.shutdown()
  }
}

/**
 * P types "hello" and Q, which got it from P, appends " world". B hears Q's
 * " world" before "hello" (it goes pending), then gets "hello" straight from P.
 * Q's link to P is gone by then, so P can only learn " world" from B.
 */
async function pendingAtB (c: Cluster): Promise<void> {
  const { net } = c
  net.connect('B', 'P')
  net.connect('B', 'Q')
  net.connect('P', 'Q')
  await net.runUntilQuiet()
  c.get('P').sync.doc.getText('text').insert(0, 'hello')
  await tick()
  for (const f of net.frames('P', 'Q')) net.deliver(f.id)
  await tick()
  assert.equal(c.text('Q'), 'hello')
  c.get('Q').sync.doc.getText('text').insert(5, ' world')
  await tick()
  net.disconnect('P', 'Q')
  // Q -> B: "hello" (forwarded), then " world"
  const fromQ = c.updatesInFlight('Q', 'B')
  assert.equal(fromQ.length, 2, 'Q forwards "hello" and sends " world" to B')
  net.deliver(fromQ[1])
  await tick()
  assert.notEqual(c.get('B').sync.doc.store.pendingStructs, null, 'B holds " world" as pending')
  assert.equal(c.text('B'), '')
}

const all = (c: Cluster): Replica[] => [...c.replicas.values()]

describe('pending structs', function () {
  it('an update that releases pending structs also reaches its sender, which only talks to that replica', async function () {
    await withCluster(['P', 'Q', 'B'], async (c) => {
      await pendingAtB(c)
      const fromP = c.updatesInFlight('P', 'B')
      assert.equal(fromP.length, 1)
      c.net.deliver(fromP[0])
      await tick()
      assert.equal(c.text('B'), 'hello world', 'P\'s "hello" released Q\'s " world" at B')
      // no anti-entropy from here on: only forwarding can bring " world" to P
      await c.net.runUntilQuiet()
      assert.equal(c.text('P'), 'hello world')
      assert.deepEqual(convergenceProblems(all(c), 'after delivery'), [])
    })
  })

  it('pending structs are repaired by asking their sender, without waiting for anti-entropy', async function () {
    await withCluster(['P', 'Q', 'B'], async (c) => {
      await pendingAtB(c)
      // "hello" never reaches B on its own: P's update and Q's forward are both lost
      for (const id of c.updatesInFlight('P', 'B')) c.net.drop(id)
      for (const id of c.updatesInFlight('Q', 'B')) c.net.drop(id)
      await c.net.runUntilQuiet()
      assert.equal(c.text('B'), 'hello world')
      assert.equal(c.text('P'), 'hello world')
      assert.deepEqual(convergenceProblems(all(c), 'after delivery'), [])
    })
  })
})

describe('backpressure', function () {
  it('edits made while a link is congested reach the peer as one update once it drains', async function () {
    await withCluster(['A', 'B'], async (c) => {
      c.net.connect('A', 'B')
      await c.net.runUntilQuiet()
      c.net.setWritable('A', 'B', false)
      const text = c.get('A').sync.doc.getText('text')
      for (const word of ['one ', 'two ', 'three ']) {
        text.insert(text.length, word)
        await tick()
      }
      assert.deepEqual(c.updatesInFlight('A', 'B'), [], 'nothing is queued on a congested link')
      c.net.setWritable('A', 'B', true)
      assert.equal(c.updatesInFlight('A', 'B').length, 1, 'the held-back edits leave as one update on drain')
      await c.net.runUntilQuiet()
      assert.equal(c.text('B'), 'one two three ')
      assert.ok(c.get('A').sync.isSyncedWith('B'), 'B acknowledged everything')
    })
  })
})

/*
 * Minimal reproductions of engine defects the fuzzer found (stale ACKs killed
 * connections; unresolvable pending structs made two replicas exchange
 * SYNC1/SYNC2 forever). Each failed about one seed in ten before the fix.
 */
describe('regressions found by the fuzzer', function () {
  it('closing and reopening a doc does not drop the connection over an ACK still in flight', async function () {
    await withCluster(['A', 'B'], async (c) => {
      c.net.connect('A', 'B')
      await c.net.runUntilQuiet()
      c.get('A').sync.doc.getText('text').insert(0, 'hi')
      await tick()
      for (const f of c.net.frames('A', 'B')) c.net.deliver(f.id)
      await tick()
      assert.equal(c.text('B'), 'hi')
      assert.equal(c.net.frames('B', 'A').length, 1, "B's ACK for A's update is in flight")
      // the app closes and reopens the doc on A before that ACK arrives
      closeDoc(c.get('A'))
      reopenDoc(c.get('A'))
      await c.net.runUntilQuiet()
      assert.deepEqual(rejections(c.get('A')), {}, 'A refused nothing from B')
      assert.ok(c.net.connected('A', 'B'), 'the connection survives')
    })
  })

  it('a replica holding pending structs that no peer can resolve goes quiet', async function () {
    await withCluster(['A', 'B'], async (c) => {
      // structs of a client whose first edits are lost everywhere (it crashed
      // without storage after they were dropped on the wire)
      const lost = new Y.Doc()
      lost.clientID = 99
      lost.getText('text').insert(0, 'abc')
      lost.getText('text').insert(3, 'def')
      Y.applyUpdate(c.get('A').sync.doc, Y.encodeStateAsUpdate(lost, Y.encodeStateVector(new Map([[99, 3]]))))
      assert.notEqual(c.get('A').sync.doc.store.pendingStructs, null)
      let error: Error | undefined
      try {
        c.net.connect('A', 'B')
        await c.net.runUntilQuiet(1000)
        // and again when a live update finds the pending structs still there
        c.get('B').sync.doc.getText('text').insert(0, 'x')
        await c.net.runUntilQuiet(1000)
      } catch (err) {
        error = err as Error
      }
      assert.ok(error === undefined, `A and B keep exchanging SYNC1/SYNC2/ACK: ${error?.message ?? ''}`)
      assert.equal(c.text('A'), 'x')
    })
  })
})
