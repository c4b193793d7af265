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
import { createInterface } from 'node:readline'
import * as Y from 'yjs'
import { createMeshNode, type DocHandle, type MeshNode } from '../../adapters/presets/node.js'
import { docFromUpdates, sameState } from './mesh-nodes.js'

/** One edit the parent asks the child to make, in one transaction per `edit` request. */
export type ChildEdit =
  | { type: 'text-insert', name: string, index: number, text: string }
  | { type: 'text-delete', name: string, index: number, length: number }
  | { type: 'map-set', name: string, key: string, value: string | number }
  | { type: 'array-push', name: string, values: Array<string | number> }

export interface ChildRequests {
  start: { args: { listen?: string[], bootstrap?: string[] }, result: { peerId: string, multiaddrs: string[] } }
  dial: { args: { addr: string }, result: string }
  open: { args: { doc: string }, result: null }
  edit: { args: { doc: string, edits: ChildEdit[] }, result: null }
  /** the doc's whole state as a base64 V1 update */
  state: { args: { doc: string }, result: string }
  /** resolve once the doc holds exactly the state of the given (base64) update: same structs, same deletions */
  waitForState: { args: { doc: string, update: string, timeout: number }, result: null }
  whenSynced: { args: { doc: string, peer?: string, timeout: number }, result: null }
  peers: { args: Record<string, never>, result: string[] }
  /** this process's memory after a full garbage collection, in bytes, and the node's counters */
  health: { args: Record<string, never>, result: { rss: number, heapUsed: number, stats: MeshNode['stats'] } }
  stop: { args: Record<string, never>, result: null }
}

let node: MeshNode | undefined
const handles = new Map<string, DocHandle>()

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

async function run (cmd: string, args: any): Promise<unknown> {
  switch (cmd) {
    case 'start':
      node = await createMeshNode({ listen: args.listen ?? [], bootstrap: args.bootstrap ?? [] })
      return { peerId: node.peerId, multiaddrs: node.multiaddrs }
    case 'dial':
      return await node!.dial(args.addr)
    case 'open':
      handles.set(args.doc, await node!.open(args.doc))
      return null
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
      (globalThis as { gc?: () => void }).gc?.()
      const m = process.memoryUsage()
      return { rss: m.rss, heapUsed: m.heapUsed, stats: node!.stats }
    }
    case 'stop':
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
