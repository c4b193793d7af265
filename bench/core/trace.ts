/**
 * The B4 editing trace (automerge-paper), as flat single-patch edits, and the
 * replay loop every contender uses: each edit its own Yjs transaction.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setImmediate as tick } from 'node:timers/promises'
import { gunzipSync } from 'node:zlib'
import type * as Y from 'yjs'

/** [position, characters deleted, text inserted] */
export type Edit = [number, number, string]

interface TraceFile {
  startContent: string
  endContent: string
  txns: Array<{ patches: Edit[] }>
}

export const TRACE_PATH = process.env.MESHDOC_TRACE ??
  fileURLToPath(new URL('../../../shared/data/editing-traces/automerge-paper.json.gz', import.meta.url))

/** The Y.Text every contender edits. */
export const TEXT_NAME = 'text'

export interface Edits {
  /** the edits, one per transaction */
  edits: Edit[]
  startContent: string
  /** the text after applying `edits` to `startContent` */
  endContent: string
}

let cache: { file: TraceFile, edits: Edit[] } | undefined
const prefixes = new Map<number, Edits>()

function loadFile (): { file: TraceFile, edits: Edit[] } {
  if (cache !== undefined) return cache
  const file = JSON.parse(gunzipSync(readFileSync(TRACE_PATH)).toString('utf8')) as TraceFile
  const edits: Edit[] = []
  for (const tx of file.txns) for (const p of tx.patches) edits.push(p)
  cache = { file, edits }
  return cache
}

/** The first `limit` edits of the trace (all of them without a limit) and the text they produce. */
export function loadEdits (limit?: number): Edits {
  const { file, edits } = loadFile()
  if (limit === undefined || limit >= edits.length) {
    return { edits, startContent: file.startContent, endContent: file.endContent }
  }
  let out = prefixes.get(limit)
  if (out === undefined) {
    const some = edits.slice(0, limit)
    out = { edits: some, startContent: file.startContent, endContent: applyToString(file.startContent, some) }
    prefixes.set(limit, out)
  }
  return out
}

/** Apply edits to a plain string (reference result for a prefix of the trace). */
export function applyToString (start: string, edits: Edit[]): string {
  let s = start
  for (const [pos, del, ins] of edits) s = s.slice(0, pos) + ins + s.slice(pos + del)
  return s
}

/** Apply one edit in its own transaction. */
export function applyEdit (doc: Y.Doc, text: Y.Text, e: Edit): void {
  doc.transact(() => {
    if (e[1] > 0) text.delete(e[0], e[1])
    if (e[2].length > 0) text.insert(e[0], e[2])
  })
}

/**
 * Replay `edits` into `doc`, each its own transaction, yielding to the event
 * loop (setImmediate) every `chunk` edits so sockets can move data while the
 * "user" keeps typing. `afterChunk` runs before each yield.
 */
export async function replay (doc: Y.Doc, edits: Edit[], chunk: number, afterChunk?: () => void): Promise<void> {
  const text = doc.getText(TEXT_NAME)
  for (let i = 0; i < edits.length; i += chunk) {
    const end = Math.min(edits.length, i + chunk)
    for (let j = i; j < end; j++) applyEdit(doc, text, edits[j])
    afterChunk?.()
    await tick()
  }
}
