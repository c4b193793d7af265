/**
 * Replaying a two-author concurrent trace over the network (the method is
 * explained in test/trace-replay.spec.ts): each author types into an editor
 * doc, hands each transaction to its meshdoc replica as a local edit, and
 * merges the other's transactions into its editor only once they arrived
 * over the network in its replica. Used in clear (trace-replay.spec.ts) and
 * through a blind gateway with encrypted docs (e2e-trace.spec.ts).
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { causalInfo, type ConcurrentTrace } from './editing-trace.js'
import { sameState, waitFor } from './mesh-nodes.js'

/** One author's side: its replica doc, and the clientID its editor types under. */
export interface ReplayReplica {
  doc: Y.Doc
  /** the editor's clientID (a replica that checks authorship needs its own) */
  clientID: number
  /** resolves once what this replica wrote is acknowledged where it matters */
  whenSynced: () => Promise<void>
  /** for a failure message */
  describe: () => string
}

export interface ReplayResult {
  elapsedMs: number
  made: [number, number]
  waits: number
}

/** longest a loop waits for one transaction of the other author to arrive */
const ARRIVAL_TIMEOUT_MS = 20_000
/** an author hands the event loop over after this many of its own txns (and whenever it waits) */
const YIELD_EVERY = 8

/** origins: the author typing in its editor, and editor -> replica */
const TYPING = Symbol('typing')
const FROM_EDITOR = Symbol('from-editor')
const EMPTY_UPDATE = Y.encodeStateAsUpdate(new Y.Doc())

/** One transaction as its author made it. */
interface MadeTxn {
  /** V1 update of exactly this transaction */
  update: Uint8Array
  /** the author's clock after it */
  clockEnd: number
  /** what it deleted: [client, clock, len] */
  deletes: Array<[number, number, number]>
}

interface Author {
  agent: number
  replica: ReplayReplica
  editor: Y.Doc
  made: MadeTxn[]
  /** how many of the other author's txns the editor has merged */
  merged: number
  /** how many of the other author's txns have arrived in the replica (structs and deletions) */
  arrived: number
  waiters: Array<{ n: number, resolve: () => void }>
  waits: number
}

/** Replay `t` (two agents) with these replicas; asserts the editors and replicas end with endContent. */
export async function replayTrace (t: ConcurrentTrace, replicas: [ReplayReplica, ReplayReplica]): Promise<ReplayResult> {
  assert.equal(t.numAgents, 2, 'a two-author trace')
  const { seen } = causalInfo(t)
  const authors: Author[] = replicas.map((replica, agent) => {
    const editor = new Y.Doc()
    editor.clientID = replica.clientID
    return { agent, replica, editor, made: [], merged: 0, arrived: 0, waiters: [], waits: 0 }
  })
  const other = (a: Author): Author => authors[1 - a.agent]

  /** Has `txn` (made by the other author) fully arrived in `a`'s replica? */
  const hasArrived = (a: Author, txn: MadeTxn): boolean => {
    const store = a.replica.doc.store
    if (Y.getState(store, other(a).editor.clientID) < txn.clockEnd) return false
    for (const [client, clock, len] of txn.deletes) {
      if (Y.getState(store, client) < clock + len) return false
      const structs = store.clients.get(client)!
      for (let i = Y.findIndexSS(structs, clock); i < structs.length && structs[i].id.clock < clock + len; i++) {
        if (!structs[i].deleted) return false
      }
    }
    return true
  }

  /** Advance `a.arrived` over the other author's txns now in a's replica; wake waiters. */
  const checkArrivals = (a: Author): void => {
    const theirs = other(a).made
    while (a.arrived < theirs.length && hasArrived(a, theirs[a.arrived])) a.arrived++
    if (a.waiters.length === 0) return
    a.waiters = a.waiters.filter(w => {
      if (w.n > a.arrived) return true
      w.resolve()
      return false
    })
  }

  const diagnose = (): string => authors.map(x => {
    const sv = Object.fromEntries(Y.decodeStateVector(Y.encodeStateVector(x.replica.doc)))
    const pending = x.replica.doc.store.pendingStructs !== null || x.replica.doc.store.pendingDs !== null
    return `replica ${x.agent}: sv ${JSON.stringify(sv)}${pending ? ' (pending structs)' : ''}, ${x.replica.describe()}`
  }).join('; ')

  const waitArrived = async (a: Author, n: number, forIndex: number): Promise<void> => {
    if (a.arrived >= n) return
    a.waits++
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`agent ${a.agent} waited ${ARRIVAL_TIMEOUT_MS} ms for agent ${1 - a.agent}'s first ${n} txns ` +
          `(needed by txn ${forIndex}) to arrive over the network; ${a.arrived} arrived, ${other(a).made.length} made; ${diagnose()}`))
      }, ARRIVAL_TIMEOUT_MS)
      a.waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }

  /** what the author's last transaction produced, captured by the editor's listeners */
  const typed = authors.map(() => ({ update: undefined as Uint8Array | undefined, deletes: [] as Array<[number, number, number]> }))
  for (const a of authors) {
    a.replica.doc.on('afterTransaction', () => { checkArrivals(a) })
    a.editor.on('update', (u: Uint8Array, origin: unknown) => { if (origin === TYPING) typed[a.agent].update = u })
    a.editor.on('afterTransaction', (tr: Y.Transaction) => {
      if (tr.origin !== TYPING) return
      const deletes: Array<[number, number, number]> = []
      tr.deleteSet.clients.forEach((items, client) => { for (const d of items) deletes.push([client, d.clock, d.len]) })
      typed[a.agent].deletes = deletes
    })
  }

  const run = async (a: Author): Promise<void> => {
    const text = a.editor.getText('text')
    const b = other(a)
    for (let i = 0; i < t.txns.length; i++) {
      const txn = t.txns[i]
      if (txn.agent !== a.agent) continue
      // merge exactly what the parents name, once it has crossed the network
      const need = seen[i][b.agent]
      assert.ok(need >= a.merged, `txn ${i} needs fewer of the other's txns than already merged`)
      await waitArrived(a, need, i)
      while (a.merged < need) Y.applyUpdate(a.editor, b.made[a.merged++].update, b)
      // the author types
      a.editor.transact(() => {
        for (const [pos, del, ins] of txn.patches) {
          if (del > 0) text.delete(pos, del)
          if (ins.length > 0) text.insert(pos, ins)
        }
      }, TYPING)
      const made: MadeTxn = {
        update: typed[a.agent].update ?? EMPTY_UPDATE,
        clockEnd: Y.getState(a.editor.store, a.editor.clientID),
        deletes: typed[a.agent].deletes
      }
      typed[a.agent].update = undefined
      typed[a.agent].deletes = []
      a.made.push(made)
      // ... and the editor binding hands the change to meshdoc as a local edit
      // (in a local transaction, as an editor binding's own edit: Yjs then keeps the replica's clientID,
      // which an encrypted doc's member shares with its editor)
      a.replica.doc.transact(() => { Y.applyUpdate(a.replica.doc, made.update) }, FROM_EDITOR)
      checkArrivals(b)
      // now and then, let the network and the other author run
      if (a.made.length % YIELD_EVERY === 0) await new Promise(resolve => setImmediate(resolve))
    }
  }

  const t0 = performance.now()
  await Promise.all(authors.map(run))
  // each editor merges the rest once it has arrived
  for (const a of authors) {
    await waitArrived(a, other(a).made.length, t.txns.length)
    while (a.merged < other(a).made.length) Y.applyUpdate(a.editor, other(a).made[a.merged++].update, other(a))
  }
  await waitFor(() => authors.every(a => sameState(a.replica.doc, a.editor)) && sameState(authors[0].replica.doc, authors[1].replica.doc), {
    timeout: 30_000,
    what: 'both replicas to hold the final state',
    detail: () => authors.map(a => `replica ${a.agent}: ${a.replica.doc.getText('text').length} chars`).join(', ')
  })
  const elapsed = performance.now() - t0
  await Promise.all(authors.map(async a => { await a.replica.whenSynced() }))

  for (const a of authors) {
    assert.equal(a.editor.getText('text').toString(), t.endContent, `agent ${a.agent}'s editor ends with endContent`)
    const replicaText = a.replica.doc.getText('text').toString()
    assert.equal(replicaText.length, t.endContent.length, `replica ${a.agent} has endContent's length`)
    assert.ok(replicaText === t.endContent, `replica ${a.agent} ends with exactly endContent`)
  }
  const made: [number, number] = [authors[0].made.length, authors[1].made.length]
  assert.equal(made[0] + made[1], t.txns.length, 'every txn was replayed')
  return { elapsedMs: elapsed, made, waits: authors[0].waits + authors[1].waits }
}
