/**
 * Loading the concurrent editing traces of ../shared/data/editing-traces, or
 * the copies in test/fixtures/traces (josephg/editing-traces format) and working out, for every transaction, how
 * many transactions of each agent its parents name.
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'

/** the two-author concurrent trace of the shared data folder */
export const FRIENDSFOREVER_URL = new URL('../../../shared/data/editing-traces/friendsforever.json.gz', import.meta.url)

/** [position, deleteCount, insertText]; positions are UTF-16 offsets into the doc after the previous patch */
export type Patch = [number, number, string]

export interface ConcurrentTxn {
  parents: number[]
  numChildren: number
  agent: number
  patches: Patch[]
}

export interface ConcurrentTrace {
  kind: 'concurrent'
  endContent: string
  numAgents: number
  txns: ConcurrentTxn[]
}

/**
 * Where a trace file is: at `preferred` (the shared folder next to the repo
 * root), or else in the directory named by MESHDOC_TRACES. Undefined when
 * neither has it.
 */
/** the copies kept in this repository (test/fixtures/traces; see its README for source and licence) */
const VENDORED = fileURLToPath(new URL('../fixtures/traces/', import.meta.url))

export function findTrace (preferred: URL): string | undefined {
  const candidates = [fileURLToPath(preferred)]
  const dir = process.env.MESHDOC_TRACES
  if (dir !== undefined && dir !== '') candidates.push(join(dir, basename(candidates[0])))
  candidates.push(join(VENDORED, basename(candidates[0])))
  return candidates.find(p => existsSync(p))
}

export function loadConcurrentTrace (path: string): ConcurrentTrace {
  const trace = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8')) as ConcurrentTrace
  if (trace.kind !== 'concurrent') throw new Error(`${path} is not a concurrent trace (kind ${String(trace.kind)})`)
  return trace
}

export interface CausalInfo {
  /** index of each txn among its own agent's txns */
  ownIndex: number[]
  /**
   * seen[i][k]: how many of agent k's txns the merged parents of txn i contain.
   * Each agent's txns form a chain, so this prefix count describes the parents' state exactly.
   */
  seen: number[][]
}

/** Per-txn causal prefix counts; throws if an agent's own txns do not form a chain. */
export function causalInfo (trace: ConcurrentTrace): CausalInfo {
  const ownIndex: number[] = []
  const seen: number[][] = []
  const count = new Array<number>(trace.numAgents).fill(0)
  trace.txns.forEach((txn, i) => {
    const mine = new Array<number>(trace.numAgents).fill(0)
    for (const p of txn.parents) {
      if (p >= i) throw new Error(`txn ${i} names a later parent ${p}`)
      const withP = seen[p].slice()
      withP[trace.txns[p].agent] = ownIndex[p] + 1
      for (let k = 0; k < mine.length; k++) mine[k] = Math.max(mine[k], withP[k])
    }
    ownIndex[i] = count[txn.agent]++
    if (mine[txn.agent] !== ownIndex[i]) {
      throw new Error(`txn ${i}: agent ${txn.agent}'s own earlier txns are not all among its parents`)
    }
    seen[i] = mine
  })
  return { ownIndex, seen }
}
