/**
 * The replica model of the convergence fuzzer (test/fuzz.spec.ts): one
 * document replicated over engines on an in-memory network, seeded so a run
 * replays exactly; random edits; and the checks that replicas converged.
 * `Cluster` holds a few replicas for the hand-driven scenarios.
 */
import * as Y from 'yjs'
import * as prng from 'lib0/prng'
import { decodeFrame } from '../../lib/protocol/codec.js'
import { MessageType } from '../../lib/protocol/constants.js'
import { MemoryStorageAdapter } from '../../lib/storage/memory-adapter.js'
import type { EngineDoc } from '../../lib/sync/engine-doc.js'
import { SyncEngine } from '../../lib/sync/engine.js'
import { MemoryNetwork } from '../../lib/testing/memory-network.js'
import { deleteRangesOf, encodeDeleteRanges } from '../../lib/yjs/update-batch.js'
import { loadEngineDoc, openEngineDoc, reopenEngineDoc } from './engine-doc.js'

const DOC_ID = 'fuzz/doc'

const UNLIMITED = Number.MAX_SAFE_INTEGER
/** the longest delay setTimeout honours (longer ones fire at once) */
const MAX_TIMER_MS = 0x7fffffff

// ------------------------------------------------------------------ replicas

export interface Replica {
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
export interface Source {
  readonly gen: prng.PRNG
  readonly clientIds: Set<number>
}

export const source = (seed: number): Source => ({ gen: prng.create(seed), clientIds: new Set() })

function freshClientId ({ gen, clientIds }: Source): number {
  for (;;) {
    const id = prng.uint32(gen, 1, 0x7fffffff)
    if (!clientIds.has(id)) { clientIds.add(id); return id }
  }
}

async function openReplica (id: string, src: Source, storage: MemoryStorageAdapter | undefined, errors: string[]): Promise<{ engine: SyncEngine, sync: EngineDoc }> {
  const { gen } = src
  // The random draws come first, in the order every seed has made them
  // (clientID, compaction, batch cap) so that a seed replays the same run.
  // Deterministic clientIDs matter: Yjs orders concurrent inserts by clientID.
  const doc = new Y.Doc()
  doc.clientID = freshClientId(src)
  const compactAfterRecords = storage !== undefined ? prng.int32(gen, 2, 20) : undefined
  const maxBatchTransactions = prng.bool(gen) ? undefined : prng.int32(gen, 1, 4)
  const engine = new SyncEngine({
    antiEntropyIntervalMs: 0,
    maxBatchTransactions,
    // Simulated time is not wall-clock time: rate limits would trip at random
    // and a HELLO may legitimately sit in flight for long. Traffic that never
    // ends fails the run instead (see QUIET_STEPS in fuzz-harness.ts), deterministically.
    limits: { framesPerSecond: UNLIMITED, frameBurst: UNLIMITED, bytesPerSecond: UNLIMITED, byteBurst: UNLIMITED, helloTimeoutMs: MAX_TIMER_MS }
  })
  const onError = (err: Error): void => { errors.push(`${id}: ${err.message}`) }
  const sync = storage !== undefined
    ? await loadEngineDoc(engine, DOC_ID, { doc, storage, persistence: { compactAfterRecords }, onError })
    : openEngineDoc(engine, DOC_ID, { doc, onError })
  return { engine, sync }
}

export async function createReplica (id: string, src: Source, persistent: boolean): Promise<Replica> {
  const storage = persistent ? new MemoryStorageAdapter() : undefined
  const errors: string[] = []
  const { engine, sync } = await openReplica(id, src, storage, errors)
  return { id, storage, engine, sync, open: true, pastRejections: {}, errors }
}

export function shutdown (r: Replica): void {
  r.engine.stop()
  r.sync.awareness.destroy()
}

/** The app closes the doc (the engine tells peers it no longer holds it). */
export function closeDoc (r: Replica): void {
  r.engine.removeDoc(r.sync)
  r.open = false
}

/** The app opens the doc again: same Y.Doc, awareness and storage, a new EngineDoc. */
export function reopenDoc (r: Replica): void {
  r.sync = reopenEngineDoc(r.engine, r.sync, { onError: (err: Error) => { r.errors.push(`${r.id}: ${err.message}`) } })
  r.open = true
}

/** Crash and restart: a new engine and a new Y.Doc (new clientID), loaded from storage if the replica has any. */
export async function restart (r: Replica, src: Source): Promise<void> {
  for (const [k, v] of Object.entries(r.engine.counters.rejected)) r.pastRejections[k] = (r.pastRejections[k] ?? 0) + v
  shutdown(r)
  const next = await openReplica(r.id, src, r.storage, r.errors)
  r.engine = next.engine
  r.sync = next.sync
  r.open = true
}

export function rejections (r: Replica): Record<string, number> {
  const out = { ...r.pastRejections }
  for (const [k, v] of Object.entries(r.engine.counters.rejected)) out[k] = (out[k] ?? 0) + v
  return out
}

// ------------------------------------------------------------------ edits

const MAP_KEYS = ['a', 'b', 'c', 'd', 'e', 'f']

export function randomEdit (doc: Y.Doc, gen: prng.PRNG): void {
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
export function convergenceProblems (replicas: Replica[], when: string): string[] {
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

export function statesOf (replicas: Replica[]): string {
  return replicas.map(r => hex(Y.encodeStateVector(r.sync.doc)) + '/' + hex(encodeDeleteRanges(deleteRangesOf(r.sync.doc)))).join('|')
}

// ------------------------------------------------------------------ a cluster for pinpoint scenarios

/** A few replicas on one reliable network; tests drive delivery frame by frame where it matters. */
export class Cluster {
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

export async function withCluster (ids: string[], body: (c: Cluster) => Promise<void>): Promise<void> {
  const c = await Cluster.of(...ids)
  try {
    await body(c)
  } finally {
    c.shutdown()
  }
}
