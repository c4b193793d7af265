/**
 * A meshdoc node in its own OS process, driven by the test process over
 * stdin/stdout: one JSON request per line in, one JSON reply per line out.
 * `child-node-client.ts` is the other end; run with `node --import tsx`.
 *
 *   -> {"id":1,"cmd":"start","listen":["/ip4/127.0.0.1/tcp/0"]}
 *   <- {"id":1,"ok":true,"result":{"peerId":"12D3...","multiaddrs":[...]}}
 *
 * Nothing else may be written to stdout; diagnostics go to stderr.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import * as Y from 'yjs'
import { createMeshNode, policyFromRules, type AuthorshipOptions, type DocHandle, type MeshNode, type PolicyRules, type QuotaOptions } from '../../adapters/presets/node.js'
import { FsStorageAdapter } from '../../adapters/fs-storage/index.js'
import type { Limits } from '../../lib/security/limits.js'
import { docFromUpdates, sameState } from './mesh-nodes.js'

/** One edit the parent asks the child to make, in one transaction per `edit` request. */
export type ChildEdit =
  | { type: 'text-insert', name: string, index: number, text: string }
  | { type: 'text-delete', name: string, index: number, length: number }
  | { type: 'map-set', name: string, key: string, value: string | number }
  | { type: 'array-push', name: string, values: Array<string | number> }

/** Event-loop delay over a window, in ms: how late the sampling timer ran (perf_hooks histogram, less its interval). */
export interface LoopDelay { p50: number, p99: number, max: number, mean: number }

/** What `editLoop` measured: ms from each local edit to `whenSynced({ peer })`, a timed-out edit counted as its timeout. */
export interface EditLoopResult { samples: number[], timeouts: number, errors: string[], /** Date.now() of each edit */ at: number[] }

export interface ChildRequests {
  /**
   * `limits`: caps on what one peer may send, as `createMeshNode({ limits })` takes them;
   * `dataDir`: fs storage there (default memory); `policy`: rules for `policyFromRules`
   */
  start: {
    args: {
      listen?: string[]
      bootstrap?: string[]
      limits?: Partial<Limits>
      dataDir?: string
      policy?: PolicyRules
      serveAllDocs?: boolean
      authorship?: AuthorshipOptions
      idleUnloadMs?: number
      quota?: QuotaOptions
      trust?: { owners: string[] }
      grants?: string[]
    }
    result: { peerId: string, multiaddrs: string[] }
  }
  dial: { args: { addr: string }, result: string }
  /** hold a grant (node.addGrant) */
  addGrant: { args: { token: string }, result: null }
  open: { args: { doc: string }, result: null }
  edit: { args: { doc: string, edits: ChildEdit[] }, result: null }
  /** the doc's whole state as a base64 V1 update */
  state: { args: { doc: string }, result: string }
  /** resolve once the doc holds exactly the state of the given (base64) update: same structs, same deletions */
  waitForState: { args: { doc: string, update: string, timeout: number }, result: null }
  whenSynced: { args: { doc: string, peer?: string, timeout: number }, result: null }
  peers: { args: Record<string, never>, result: string[] }
  /**
   * this process's memory after a full garbage collection, in bytes, and the node's counters;
   * since the last `monitor`: peak RSS, event-loop delay (read before the collection), and the
   * peers that disconnected
   */
  health: { args: Record<string, never>, result: { rss: number, heapUsed: number, stats: MeshNode['stats'], heapTotal: number, arrayBuffers: number, rssPeak: number, heapTotalPeak: number, arrayBuffersPeak: number, eventLoop: LoopDelay, servedDocs: number, disconnects: Array<{ peer: string, at: number }> } }
  /** start (or restart) the window `health` reports on: event-loop delay, peak RSS (sampled every 50 ms), disconnects */
  monitor: { args: Record<string, never>, result: null }
  /** close the doc (flushed first) */
  close: { args: { doc: string }, result: null }
  /** set this node's presence on the doc */
  presence: { args: { doc: string, state: Record<string, unknown> }, result: null }
  /**
   * edit the doc's text `t` every `intervalMs` for `durationMs`, each time
   * timing the edit until `peer` has acknowledged it as stored
   */
  editLoop: { args: { doc: string, peer: string, durationMs: number, intervalMs: number, timeout: number, tag: string }, result: EditLoopResult }
  /** the doc's clientID, its clock as of our last local edit, and its clock in the doc (higher: someone wrote as us) */
  ownClient: { args: { doc: string }, result: { clientID: number, ownClock: number, stateClock: number } }
  stop: { args: Record<string, never>, result: null }
}

let node: MeshNode | undefined
const handles = new Map<string, DocHandle>()
/** per doc: our clientID's clock after our last local transaction */
const ownClocks = new Map<string, number>()
const LOOP_SAMPLE_MS = 10
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS })
let rssPeak = 0
/** the V8 heap committed, and the array buffers, at their peak (sampled with the RSS): where RSS growth comes from */
let heapTotalPeak = 0
let arrayBuffersPeak = 0
let rssSampler: ReturnType<typeof setInterval> | undefined
let disconnects: Array<{ peer: string, at: number }> = []

function handle (doc: string): DocHandle {
  const h = handles.get(doc)
  if (h === undefined) throw new Error(`document ${doc} is not open`)
  return h
}

async function waitForState (h: DocHandle, update: Uint8Array, timeout: number): Promise<void> {
  const wanted = docFromUpdates(update)
  if (sameState(h.doc, wanted)) return
  await new Promise<void>((resolve, reject) => {
    const onUpdate = (): void => {
      if (!sameState(h.doc, wanted)) return
      clearTimeout(timer)
      h.doc.off('update', onUpdate)
      resolve()
    }
    const timer = setTimeout(() => {
      h.doc.off('update', onUpdate)
      reject(new Error(`document ${h.id} did not reach the wanted state within ${timeout} ms`))
    }, timeout)
    h.doc.on('update', onUpdate)
  })
}

function applyEdit (doc: Y.Doc, e: ChildEdit): void {
  switch (e.type) {
    case 'text-insert': doc.getText(e.name).insert(e.index, e.text); return
    case 'text-delete': doc.getText(e.name).delete(e.index, e.length); return
    case 'map-set': doc.getMap(e.name).set(e.key, e.value); return
    case 'array-push': doc.getArray(e.name).push(e.values)
  }
}

/** the histogram holds whole intervals between samples (ns): the delay is what exceeds the interval */
const lateMs = (ns: number): number => Number.isFinite(ns) ? Math.max(0, Math.round((ns / 1e6 - LOOP_SAMPLE_MS) * 100) / 100) : 0

async function editLoop (h: DocHandle, args: ChildRequests['editLoop']['args']): Promise<EditLoopResult> {
  const out: EditLoopResult = { samples: [], timeouts: 0, errors: [], at: [] }
  const end = performance.now() + args.durationMs
  for (let i = 0; performance.now() < end && !h.closed; i++) {
    const text = h.doc.getText('t')
    const t0 = performance.now()
    out.at.push(Date.now())
    text.insert((i * 7919) % (text.length + 1), `${args.tag}${i} `)
    try {
      await h.whenSynced({ peer: args.peer, timeout: args.timeout })
      out.samples.push(performance.now() - t0)
    } catch (err) {
      out.samples.push(args.timeout)
      if ((err as Error).name === 'TimeoutError') out.timeouts++
      else if (out.errors.length < 10) out.errors.push(`${(err as Error).name}: ${(err as Error).message}`)
    }
    await new Promise(resolve => setTimeout(resolve, args.intervalMs))
  }
  return out
}

async function run (cmd: string, args: any): Promise<unknown> {
  switch (cmd) {
    case 'start':
      node = await createMeshNode({
        listen: args.listen ?? [],
        bootstrap: args.bootstrap ?? [],
        ...(args.limits !== undefined ? { limits: args.limits } : {}),
        ...(args.dataDir !== undefined ? { storage: new FsStorageAdapter(args.dataDir) } : {}),
        ...(args.policy !== undefined ? { policy: policyFromRules(args.policy) } : {}),
        ...(args.serveAllDocs !== undefined ? { serveAllDocs: args.serveAllDocs } : {}),
        ...(args.authorship !== undefined ? { authorship: args.authorship } : {}),
        ...(args.idleUnloadMs !== undefined ? { idleUnloadMs: args.idleUnloadMs } : {}),
        ...(args.quota !== undefined ? { quota: args.quota } : {}),
        ...(args.trust !== undefined ? { trust: args.trust } : {}),
        ...(args.grants !== undefined ? { grants: args.grants } : {})
      })
      node.on('peer:disconnect', (peer) => { disconnects.push({ peer, at: Date.now() }) })
      return { peerId: node.peerId, multiaddrs: node.multiaddrs }
    case 'dial':
      return await node!.dial(args.addr)
    case 'addGrant':
      await node!.addGrant(args.token)
      return null
    case 'open': {
      const h = await node!.open(args.doc)
      handles.set(args.doc, h)
      h.doc.on('afterTransaction', (tr: Y.Transaction) => {
        if (tr.local) ownClocks.set(args.doc, Y.getState(h.doc.store, h.doc.clientID))
      })
      return null
    }
    case 'edit': {
      const doc = handle(args.doc).doc
      doc.transact(() => { for (const e of args.edits as ChildEdit[]) applyEdit(doc, e) })
      return null
    }
    case 'state':
      return Buffer.from(Y.encodeStateAsUpdate(handle(args.doc).doc)).toString('base64')
    case 'waitForState':
      await waitForState(handle(args.doc), Buffer.from(args.update, 'base64'), args.timeout)
      return null
    case 'whenSynced':
      await handle(args.doc).whenSynced({ timeout: args.timeout, ...(args.peer !== undefined ? { peer: args.peer } : {}) })
      return null
    case 'peers':
      return node!.peers
    case 'health': {
      const eventLoop: LoopDelay = { p50: lateMs(loopDelay.percentile(50)), p99: lateMs(loopDelay.percentile(99)), max: lateMs(loopDelay.max), mean: lateMs(loopDelay.mean) }
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss())
      ;(globalThis as { gc?: () => void }).gc?.()
      const m = process.memoryUsage()
      return { rss: m.rss, heapUsed: m.heapUsed, stats: node!.stats, heapTotal: m.heapTotal, arrayBuffers: m.arrayBuffers, rssPeak, heapTotalPeak, arrayBuffersPeak, eventLoop, servedDocs: node!.servedDocCount, disconnects }
    }
    case 'monitor':
      loopDelay.disable()
      loopDelay.reset()
      loopDelay.enable()
      rssPeak = process.memoryUsage.rss()
      heapTotalPeak = 0
      arrayBuffersPeak = 0
      disconnects = []
      rssSampler ??= setInterval(() => {
        const m = process.memoryUsage()
        rssPeak = Math.max(rssPeak, m.rss)
        heapTotalPeak = Math.max(heapTotalPeak, m.heapTotal)
        arrayBuffersPeak = Math.max(arrayBuffersPeak, m.arrayBuffers)
      }, 50)
      rssSampler.unref()
      return null
    case 'close':
      await handle(args.doc).close()
      handles.delete(args.doc)
      return null
    case 'presence':
      handle(args.doc).awareness.setLocalState(args.state)
      return null
    case 'editLoop':
      return await editLoop(handle(args.doc), args)
    case 'ownClient': {
      const doc = handle(args.doc).doc
      return { clientID: doc.clientID, ownClock: ownClocks.get(args.doc) ?? 0, stateClock: Y.getState(doc.store, doc.clientID) }
    }
    case 'stop':
      if (rssSampler !== undefined) clearInterval(rssSampler)
      loopDelay.disable()
      await node?.stop()
      handles.clear()
      // stop reading so the process can exit by itself once everything is closed
      lines.close()
      process.stdin.destroy()
      return null
    default:
      throw new Error(`unknown command ${cmd}`)
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  let id: unknown
  let cmd: string | undefined
  let args: unknown
  try {
    ({ id, cmd, ...args } = JSON.parse(line))
  } catch (err) {
    process.stderr.write(`child-node: unreadable request ${line}: ${(err as Error).message}\n`)
    return
  }
  run(String(cmd), args).then(result => {
    process.stdout.write(JSON.stringify({ id, ok: true, result }) + '\n')
  }, (err: Error) => {
    process.stdout.write(JSON.stringify({ id, ok: false, error: { name: err.name, message: err.message } }) + '\n')
  })
})

// the test process went away (or closed our stdin): stop, and let the process end
lines.on('close', () => { void node?.stop() })
