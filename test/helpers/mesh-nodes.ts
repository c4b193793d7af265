/**
 * Helpers for tests that run real meshdoc nodes (libp2p TCP + Noise + yamux on
 * 127.0.0.1) inside the test process: a pool that stops every node it made,
 * a polling `waitFor`, and small views of libp2p connections and streams.
 */
import type { Connection, Stream } from '@libp2p/interface'
import * as Y from 'yjs'
import { createMeshNode, PROTOCOL_ID, type MeshNode, type MeshNodeOptions, type NodeMeshNode } from '../../adapters/presets/node.js'

export const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

/** Creates nodes on loopback and stops all of them in `stopAll()` (call it in afterEach). */
export class NodePool {
  private readonly nodes: MeshNode[] = []

  async create (opts: MeshNodeOptions = {}): Promise<NodeMeshNode> {
    const node = await createMeshNode({ listen: LOOPBACK, ...opts })
    this.nodes.push(node)
    return node
  }

  /** Stop every node made here; collects errors instead of stopping at the first. */
  async stopAll (): Promise<void> {
    const nodes = this.nodes.splice(0)
    const results = await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed.length > 0) throw new AggregateError(failed.map(f => f.reason), `${failed.length} node(s) failed to stop`)
  }
}

export interface WaitOptions {
  timeout?: number
  /** what we wait for, for the failure message */
  what?: string
  /** appended to the failure message, evaluated at failure time */
  detail?: () => string
}

/** Poll `cond` until it holds; rejects with a descriptive error after `timeout` ms (default 10 s). */
export async function waitFor (cond: () => boolean, opts: WaitOptions = {}): Promise<void> {
  const timeout = opts.timeout ?? 10_000
  const deadline = Date.now() + timeout
  while (!cond()) {
    if (Date.now() > deadline) {
      const detail = opts.detail !== undefined ? `: ${opts.detail()}` : ''
      throw new Error(`timed out after ${timeout} ms waiting for ${opts.what ?? 'condition'}${detail}`)
    }
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** Dial `to` from `from` and wait until both sides have a sync session with each other. */
export async function connect (from: MeshNode, to: MeshNode, timeout = 10_000): Promise<void> {
  await from.dial(to.multiaddrs[0])
  await waitFor(() => from.peers.includes(to.peerId) && to.peers.includes(from.peerId), {
    timeout, what: `a sync session between ${from.peerId.slice(-6)} and ${to.peerId.slice(-6)}`
  })
}

/** `node`'s open libp2p connections to the peer `peerId` (either direction). */
export function connectionsTo (node: MeshNode, peerId: string): Connection[] {
  return node.libp2p.getConnections().filter(c => c.remotePeer.toString() === peerId)
}

/** Every open meshdoc sync stream of a node, over all its connections. */
export function meshdocStreams (node: MeshNode): Stream[] {
  return node.libp2p.getConnections().flatMap(c => c.streams.filter(s => s.protocol === PROTOCOL_ID))
}

/**
 * True when two docs hold the same state: the same structs (equal state
 * vectors) and the same deletions (equal delete sets). A deletion-only
 * transaction leaves the state vector unchanged, so both are needed.
 */
export function sameState (a: Y.Doc, b: Y.Doc): boolean {
  return Buffer.from(Y.encodeStateVector(a)).equals(Buffer.from(Y.encodeStateVector(b))) &&
    Y.equalDeleteSets(Y.createDeleteSetFromStructStore(a.store), Y.createDeleteSetFromStructStore(b.store))
}

/** A seeded PRNG (mulberry32): deterministic randomness whose seed can be printed and replayed. */
export function seededRandom (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6D2B79F5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The seed for a randomized test: MESHDOC_SEED if set, otherwise a fresh one. */
export function testSeed (): number {
  const env = process.env.MESHDOC_SEED
  return env !== undefined && env !== '' ? Number(env) : Math.floor(Math.random() * 2 ** 31)
}

/** A doc's shared types as plain JSON, for deep comparison (text, map and array named as given). */
export function contentOf (doc: Y.Doc, names: { text?: string[], map?: string[], array?: string[] } = { text: ['body'], map: ['meta'], array: ['list'] }): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const n of names.text ?? []) out[`text:${n}`] = doc.getText(n).toString()
  for (const n of names.map ?? []) out[`map:${n}`] = doc.getMap(n).toJSON()
  for (const n of names.array ?? []) out[`array:${n}`] = doc.getArray(n).toJSON()
  return out
}

/** A fresh Y.Doc holding exactly the given (V1) updates, applied by Yjs alone. */
export function docFromUpdates (...updates: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc()
  for (const u of updates) Y.applyUpdate(doc, u)
  return doc
}

export const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
export const fromBase64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))
