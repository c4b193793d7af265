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
 * Prints a table and writes bench/results/storage-<time>.json (and storage-latest.json).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'
import { applyEdit, loadEdits, TEXT_NAME } from './core/trace.js'

const DOC_KEY = 'b4' + '0'.repeat(30)
const B4_V2_BYTES = 159_929

interface Phase { ms: number, verified: boolean, [k: string]: unknown }

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

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const limitAt = argv.indexOf('--limit')
  const limit = limitAt >= 0 ? Number(argv[limitAt + 1]) : undefined
  if (argv[0] === '--child') {
    const result = await PHASES[argv[1]](argv[2], limit)
    process.stdout.write(JSON.stringify(result) + '\n')
    return
  }
  const onlyAt = argv.indexOf('--only')
  const only = onlyAt >= 0 ? argv[onlyAt + 1].split(',') : ['floor', 'meshdoc', 'y-leveldb']
  const repsAt = argv.indexOf('--reloads')
  const reps = repsAt >= 0 ? Number(argv[repsAt + 1]) : 5
  const edits = loadEdits(limit).edits.length
  const results: Record<string, Record<string, Phase>> = {}
  const dirs: Record<string, string> = {}
  const reloads: Record<string, number[]> = {}
  try {
    // writes, once each (long)
    for (const c of only) {
      dirs[c] = await mkdtemp(join(tmpdir(), `meshdoc-bench-${c}-`))
      const r: Record<string, Phase> = {}
      process.stderr.write(`${c}: write...`)
      r.write = await runChild(`${c}:write`, dirs[c], limit)
      if (c === 'meshdoc') {
        process.stderr.write(' reload (as written)...')
        r.reloadAsWritten = await runChild('meshdoc:reload', dirs[c], limit)
        process.stderr.write(' compact...')
        r.compact = await runChild('meshdoc:compact', dirs[c], limit)
      }
      process.stderr.write('\n')
      results[c] = r
    }
    // reloads: read-only for meshdoc and the floor, so repeat them, alternating, and take medians;
    // y-leveldb's first load rewrites its store (it merges once it holds > 500 updates): that first load is the one that counts
    for (let i = 0; i < reps; i++) {
      for (const c of only) {
        if (c === 'y-leveldb' && i > 0) continue
        process.stderr.write(`reload ${c} (${i + 1})\n`)
        const r = await runChild(`${c}:reload`, dirs[c], limit)
        ;(reloads[c] ??= []).push(r.ms)
        results[c].reload = { ...r, ms: median(reloads[c]), runs: reloads[c] }
      }
    }
  } finally {
    for (const d of Object.values(dirs)) await rm(d, { recursive: true, force: true })
  }

  const rate = (r: Phase | undefined): string => r === undefined ? '' : `${Math.round(edits / (r.ms / 1000)).toLocaleString('en-US')}/s`
  const ms = (r: Phase | undefined): string => r === undefined ? '' : `${r.ms.toFixed(0)} ms`
  const bytes = (n: unknown): string => typeof n === 'number' ? n.toLocaleString('en-US') : ''
  const rows = only.map(c => {
    const r = results[c]
    const onDisk = r.compact?.bytesOnDisk ?? r.reload?.bytesOnDisk ?? r.write?.bytesOnDisk
    return [
      c,
      c === 'floor' ? `${ms(r.write)} (one snapshot)` : `${ms(r.write)} (${rate(r.write)})`,
      c === 'meshdoc' ? `${ms(r.reload)} (as written: ${ms(r.reloadAsWritten)})` : ms(r.reload),
      c === 'meshdoc' ? `${bytes(onDisk)} (as written: ${bytes(r.write.bytesAsWritten)})` : bytes(onDisk),
      c === 'floor' ? 'fsync once' : c === 'meshdoc' ? `fdatasync per commit (${bytes(r.write.commits)} commits)` : 'none',
      Object.values(r).every(p => p.verified) ? 'yes' : 'NO'
    ]
  })
  const header = ['contender', `write ${edits.toLocaleString('en-US')} edits, each acked`, `reload (median of ${reps}; y-leveldb: its first)`, 'bytes on disk', 'durability', 'text ok']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
  console.log(line(header))
  console.log('|' + widths.map(w => '-'.repeat(w + 2)).join('|') + '|')
  for (const r of rows) console.log(line(r))

  const m = results.meshdoc
  const goals: Record<string, unknown> = {}
  if (m !== undefined) {
    if (results['y-leveldb'] !== undefined) goals.writeRateVsYLeveldb = results['y-leveldb'].write.ms / m.write.ms
    if (results.floor !== undefined) goals.reloadVsFloor = m.reload.ms / results.floor.reload.ms
    if (limit === undefined && typeof m.compact?.bytesOnDisk === 'number') goals.bytesVsB4V2 = m.compact.bytesOnDisk / B4_V2_BYTES
    console.log('\ngoals: write rate >= y-leveldb (ratio >= 1), reload <= 1.5x floor, bytes <= 1.2x 159,929')
    for (const [k, v] of Object.entries(goals)) console.log(`  ${k}: ${(v as number).toFixed(2)}`)
  }
  const outDir = fileURLToPath(new URL('./results/', import.meta.url))
  await mkdir(outDir, { recursive: true })
  const record = { bench: 'storage', at: new Date().toISOString(), node: process.version, edits, limit: limit ?? null, results, goals }
  const name = `storage-${record.at.replace(/[:.]/g, '-')}.json`
  await writeFile(join(outDir, name), JSON.stringify(record, null, 2))
  await writeFile(join(outDir, 'storage-latest.json'), JSON.stringify(record, null, 2))
  console.log(`\nwrote bench/results/${name}`)
}

await main()
