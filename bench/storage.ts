/**
 * Storage benchmark (issue 3): persist the 259,778 B4 edits, each its own
 * transaction with a durable acknowledgement, then reload; side by side with
 * y-leveldb (which does not fsync) and with the floor (write one V2 snapshot
 * with fsync, read and parse it).
 *
 *   node --import tsx bench/storage.ts [--limit N] [--only floor,meshdoc,y-leveldb] [--reloads 5]
 *
 * Every phase runs in a fresh process (`--child <contender> <phase> <dir>`), so
 * no contender inherits another's heap or JIT state. The write loop is the
 * same for meshdoc and y-leveldb: one edit, one transaction, one "store this"
 * call whose promise counts as that edit's acknowledgement, then a turn of the
 * event loop (so commits can complete while typing goes on). The write time
 * runs from the first edit to the last acknowledgement. Reloads of meshdoc and
 * the floor are read-only, so they repeat (alternating) and report medians.
 *
 * `--writes N` repeats the whole write (each time into a fresh directory,
 * contenders rotating) and reports medians; `npm run bench` (scenario P7) runs
 * it with `--runs`, through `runStorageBench`.
 *
 * Prints a table and writes bench/results/storage-<time>.json (and storage-latest.json).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'
import { applyEdit, loadEdits, TEXT_NAME } from './core/trace.js'

const DOC_KEY = 'b4' + '0'.repeat(30)
export const B4_V2_BYTES = 159_929

export interface Phase { ms: number, verified: boolean, [k: string]: unknown }

// ------------------------------------------------------------------ child phases

async function writeMeshdoc (dir: string, limit: number | undefined): Promise<Phase> {
  const { edits, endContent } = loadEdits(limit)
  const adapter = new FsStorageAdapter(dir)
  const doc = new Y.Doc()
  const p = new DocPersistence(adapter, DOC_KEY, doc)
  await p.load()
  doc.on('afterTransactionCleanup', tr => { p.absorb(tr) })
  const text = doc.getText(TEXT_NAME)
  let acked = 0
  const onAck = (): void => { acked++ }
  let last: Promise<void> = Promise.resolve()
  const t0 = performance.now()
  for (const e of edits) {
    applyEdit(doc, text, e)
    last = p.flush().then(onAck)
    await turn()
  }
  await last
  const ms = performance.now() - t0
  if (acked !== edits.length) throw new Error(`${acked} of ${edits.length} acknowledged`)
  const stats = { ...adapter.stats }
  await p.close()
  await adapter.close()
  return { ms, verified: text.toString() === endContent, edits: edits.length, commits: stats.commits, fsyncs: stats.syncs, merges: stats.merges, bytesAsWritten: await du(dir) }
}

async function compactMeshdoc (dir: string): Promise<Phase> {
  const adapter = new FsStorageAdapter(dir)
  const doc = new Y.Doc()
  const p = new DocPersistence(adapter, DOC_KEY, doc, { compactAfterRecords: Number.MAX_SAFE_INTEGER })
  await p.load()
  const t0 = performance.now()
  await p.compact()
  await adapter.compact()
  const ms = performance.now() - t0
  await adapter.close()
  return { ms, verified: true, bytesOnDisk: await du(dir) }
}

async function reloadMeshdoc (dir: string, limit: number | undefined): Promise<Phase> {
  const { endContent } = loadEdits(limit)
  const t0 = performance.now()
  const doc = new Y.Doc()
  await new DocPersistence(new FsStorageAdapter(dir), DOC_KEY, doc, { compactAfterRecords: Number.MAX_SAFE_INTEGER }).load()
  const ms = performance.now() - t0
  return { ms, verified: doc.getText(TEXT_NAME).toString() === endContent }
}

async function writeLeveldb (dir: string, limit: number | undefined): Promise<Phase> {
  const { LeveldbPersistence } = await import('y-leveldb')
  const { edits, endContent } = loadEdits(limit)
  const ldb = new LeveldbPersistence(dir)
  const doc = new Y.Doc()
  let acked = 0
  const onAck = (): void => { acked++ }
  let last: Promise<unknown> = Promise.resolve()
  doc.on('update', (u: Uint8Array) => { last = ldb.storeUpdate('b4', u).then(onAck) })
  const text = doc.getText(TEXT_NAME)
  const t0 = performance.now()
  for (const e of edits) {
    applyEdit(doc, text, e)
    await turn()
  }
  await last
  const ms = performance.now() - t0
  if (acked !== edits.length) throw new Error(`${acked} of ${edits.length} acknowledged`)
  await ldb.destroy()
  return { ms, verified: text.toString() === endContent, edits: edits.length, bytesAsWritten: await du(dir) }
}

async function reloadLeveldb (dir: string, limit: number | undefined): Promise<Phase> {
  const { LeveldbPersistence } = await import('y-leveldb')
  const { endContent } = loadEdits(limit)
  const t0 = performance.now()
  const ldb = new LeveldbPersistence(dir)
  const doc = await ldb.getYDoc('b4')
  const ms = performance.now() - t0
  await ldb.destroy()
  return { ms, verified: doc.getText(TEXT_NAME).toString() === endContent, bytesOnDisk: await du(dir) }
}

async function writeFloor (dir: string, limit: number | undefined): Promise<Phase> {
  const { edits, endContent } = loadEdits(limit)
  const doc = new Y.Doc()
  const text = doc.getText(TEXT_NAME)
  for (const e of edits) applyEdit(doc, text, e)
  const t0 = performance.now()
  const snapshot = Y.encodeStateAsUpdateV2(doc)
  const fh = await open(join(dir, 'doc.v2'), 'w')
  await fh.write(snapshot)
  await fh.sync()
  await fh.close()
  const ms = performance.now() - t0
  return { ms, verified: text.toString() === endContent, bytesOnDisk: snapshot.length }
}

async function reloadFloor (dir: string, limit: number | undefined): Promise<Phase> {
  const { endContent } = loadEdits(limit)
  const t0 = performance.now()
  const doc = new Y.Doc()
  Y.applyUpdateV2(doc, await readFile(join(dir, 'doc.v2')))
  const ms = performance.now() - t0
  return { ms, verified: doc.getText(TEXT_NAME).toString() === endContent }
}

const PHASES: Record<string, (dir: string, limit: number | undefined) => Promise<Phase>> = {
  'meshdoc:write': writeMeshdoc,
  'meshdoc:compact': async (dir) => await compactMeshdoc(dir),
  'meshdoc:reload': reloadMeshdoc,
  'y-leveldb:write': writeLeveldb,
  'y-leveldb:reload': reloadLeveldb,
  'floor:write': writeFloor,
  'floor:reload': reloadFloor
}

function median (xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b)
  return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}

async function du (dir: string): Promise<number> {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    total += e.isDirectory() ? await du(p) : (await stat(p)).size
  }
  return total
}

// ------------------------------------------------------------------ parent

async function runChild (phase: string, dir: string, limit: number | undefined): Promise<Phase> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', phase, dir, ...(limit !== undefined ? ['--limit', String(limit)] : [])]
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.on('close', code => {
      const line = out.trim().split('\n').pop() ?? ''
      if (code !== 0) { reject(new Error(`${phase} exited with ${code}: ${out}`)); return }
      try { resolve(JSON.parse(line) as Phase) } catch (err) { reject(err) }
    })
  })
}

export const STORAGE_CONTENDERS = ['floor', 'meshdoc', 'y-leveldb'] as const

export interface StorageBenchOptions {
  /** edits of the trace (undefined: all 259,778) */
  limit?: number
  /** contenders, of STORAGE_CONTENDERS (default all) */
  only?: string[]
  /** how many times each contender writes the trace, each time into a fresh directory (default 1) */
  writes?: number
  /** reloads of the read-only stores (meshdoc, floor); at least one per write (default 5) */
  reloads?: number
  /** one progress line */
  progress?: (msg: string) => void
}

export interface StorageBenchResult {
  edits: number
  limit: number | null
  /** per contender and phase: the median `ms` over runs (`runs` holds them); other fields from the last run */
  results: Record<string, Record<string, Phase>>
  /** meshdoc against the others: writeRateVsYLeveldb (>= 1 is the goal), reloadVsFloor (<= 1.5), bytesVsB4V2 (<= 1.2, whole trace only) */
  goals: Record<string, number>
  writes: number
  reloads: number
}

/** Run the storage benchmark (every phase in a fresh process) and return medians. */
export async function runStorageBench (opts: StorageBenchOptions = {}): Promise<StorageBenchResult> {
  const limit = opts.limit
  const only = opts.only ?? [...STORAGE_CONTENDERS]
  const writes = Math.max(1, opts.writes ?? 1)
  const reps = Math.max(writes, opts.reloads ?? 5)
  const progress = opts.progress ?? ((msg: string) => { process.stderr.write(`${msg}\n`) })
  const edits = loadEdits(limit).edits.length
  const runs: Record<string, Record<string, Phase[]>> = {}
  const note = (c: string, phase: string, r: Phase): void => { ((runs[c] ??= {})[phase] ??= []).push(r) }
  const dirs: Record<string, string> = {}
  const drop = async (c: string): Promise<void> => {
    if (dirs[c] !== undefined) await rm(dirs[c], { recursive: true, force: true })
    delete dirs[c]
  }
  try {
    // writes (long), contenders rotating from one write to the next; each write is
    // followed by its first reload: y-leveldb's first load rewrites its store (it
    // merges once it holds > 500 updates), so only that first load counts for it
    for (let w = 0; w < writes; w++) {
      for (let k = 0; k < only.length; k++) {
        const c = only[(w + k) % only.length]
        await drop(c)
        dirs[c] = await mkdtemp(join(tmpdir(), `meshdoc-bench-${c}-`))
        progress(`P7 write ${w + 1}/${writes} ${c}`)
        note(c, 'write', await runChild(`${c}:write`, dirs[c], limit))
        if (c === 'meshdoc') {
          note(c, 'reloadAsWritten', await runChild('meshdoc:reload', dirs[c], limit))
          note(c, 'compact', await runChild('meshdoc:compact', dirs[c], limit))
        }
        note(c, 'reload', await runChild(`${c}:reload`, dirs[c], limit))
        // the last write's stores stay for the extra reloads below
        if (w < writes - 1) await drop(c)
      }
    }
    // more reloads of the read-only stores (meshdoc, floor), alternating, for the median
    for (let i = writes; i < reps; i++) {
      for (const c of only) {
        if (c === 'y-leveldb') continue
        progress(`P7 reload ${i + 1}/${reps} ${c}`)
        note(c, 'reload', await runChild(`${c}:reload`, dirs[c], limit))
      }
    }
  } finally {
    for (const c of Object.keys(dirs)) await drop(c)
  }
  const results: Record<string, Record<string, Phase>> = {}
  for (const [c, phases] of Object.entries(runs)) {
    results[c] = {}
    for (const [phase, rs] of Object.entries(phases)) {
      results[c][phase] = { ...rs[rs.length - 1], ms: median(rs.map(r => r.ms)), verified: rs.every(r => r.verified), runs: rs.map(r => r.ms) }
    }
  }
  const m = results.meshdoc
  const goals: Record<string, number> = {}
  if (m !== undefined) {
    if (results['y-leveldb'] !== undefined) goals.writeRateVsYLeveldb = results['y-leveldb'].write.ms / m.write.ms
    if (results.floor !== undefined) goals.reloadVsFloor = m.reload.ms / results.floor.reload.ms
    if (limit === undefined && typeof m.compact?.bytesOnDisk === 'number') goals.bytesVsB4V2 = m.compact.bytesOnDisk / B4_V2_BYTES
  }
  return { edits, limit: limit ?? null, results, goals, writes, reloads: reps }
}

/** The storage table as `npm run bench:storage` prints it. */
export function formatStorage (r: StorageBenchResult): string {
  const { edits, results } = r
  const rate = (p: Phase | undefined): string => p === undefined ? '' : `${Math.round(edits / (p.ms / 1000)).toLocaleString('en-US')}/s`
  const ms = (p: Phase | undefined): string => p === undefined ? '' : `${p.ms.toFixed(0)} ms`
  const bytes = (n: unknown): string => typeof n === 'number' ? n.toLocaleString('en-US') : ''
  const contenders = Object.keys(results)
  const rows = contenders.map(c => {
    const p = results[c]
    const onDisk = p.compact?.bytesOnDisk ?? p.reload?.bytesOnDisk ?? p.write?.bytesOnDisk
    return [
      c,
      c === 'floor' ? `${ms(p.write)} (one snapshot)` : `${ms(p.write)} (${rate(p.write)})`,
      c === 'meshdoc' ? `${ms(p.reload)} (as written: ${ms(p.reloadAsWritten)})` : ms(p.reload),
      c === 'meshdoc' ? `${bytes(onDisk)} (as written: ${bytes(p.write.bytesAsWritten)})` : bytes(onDisk),
      c === 'floor' ? 'fsync once' : c === 'meshdoc' ? `fdatasync per commit (${bytes(p.write.commits)} commits)` : 'none',
      Object.values(p).every(x => x.verified) ? 'yes' : 'NO'
    ]
  })
  const writes = r.writes > 1 ? `, median of ${r.writes}` : ''
  const header = ['contender', `write ${edits.toLocaleString('en-US')} edits, each acked${writes}`, `reload (median of ${r.reloads}; y-leveldb: its first after each write)`, 'bytes on disk', 'durability', 'text ok']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(x => x[i].length)))
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
  const out = [line(header), '|' + widths.map(w => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)]
  if (Object.keys(r.goals).length > 0) {
    out.push('', 'goals: write rate >= y-leveldb (ratio >= 1), reload <= 1.5x floor, bytes <= 1.2x 159,929')
    for (const [k, v] of Object.entries(r.goals)) out.push(`  ${k}: ${v.toFixed(2)}`)
  }
  return out.join('\n')
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const limitAt = argv.indexOf('--limit')
  const limit = limitAt >= 0 ? Number(argv[limitAt + 1]) : undefined
  if (argv[0] === '--child') {
    const result = await PHASES[argv[1]](argv[2], limit)
    process.stdout.write(JSON.stringify(result) + '\n')
    return
  }
  const arg = (name: string): string | undefined => { const at = argv.indexOf(name); return at >= 0 ? argv[at + 1] : undefined }
  const r = await runStorageBench({
    limit,
    only: arg('--only')?.split(','),
    writes: Number(arg('--writes') ?? 1),
    reloads: Number(arg('--reloads') ?? 5)
  })
  console.log(formatStorage(r))
  const outDir = fileURLToPath(new URL('./results/', import.meta.url))
  await mkdir(outDir, { recursive: true })
  const record = { bench: 'storage', at: new Date().toISOString(), node: process.version, ...r }
  const name = `storage-${record.at.replace(/[:.]/g, '-')}.json`
  await writeFile(join(outDir, name), JSON.stringify(record, null, 2))
  await writeFile(join(outDir, 'storage-latest.json'), JSON.stringify(record, null, 2))
  console.log(`\nwrote bench/results/${name}`)
}

// run as a script (or as a phase child), not when imported by bench/run.ts
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
