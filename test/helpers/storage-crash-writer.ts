/**
 * The child process of the crash and two-writer tests. It loads its modules,
 * prints `ready`, and waits for a line `go` on stdin (so a parent can start it
 * ahead of time). Then it opens the document in the data directory and writes
 * `map.set(prefix + seq, valueFor(seq))` forever, in small random bursts, with
 * compaction and merges forced to run all the time. It prints `seq` only after
 * `flush()` for that write resolved, `C+` / `C-` around each compaction, and
 * after it `S <merges> <rewrites> <damaged regions>` from the adapter's stats.
 *
 *   writer <dir> <seed> <prefix>
 *
 * stdout to a pipe is synchronous in Node on Linux: a printed line has left
 * the process before the next instruction runs, so a SIGKILL cannot take back
 * an acknowledgement the parent may already have read.
 */
import { createInterface } from 'node:readline'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../../adapters/fs-storage/index.js'
import { seeded } from '../../lib/testing/storage-compliance.js'
import { DocPersistence } from '../../lib/storage/doc-persistence.js'
import { CRASH_DOC, CRASH_STORE_OPTIONS, valueFor } from './storage-crash-shared.js'

const [dir, seed, prefix] = process.argv.slice(2)
const rnd = seeded(seed)
const out = (line: string): void => { process.stdout.write(line + '\n') }

async function main (): Promise<void> {
  const adapter = new FsStorageAdapter(dir, CRASH_STORE_OPTIONS)
  const doc = new Y.Doc()
  const p = new DocPersistence(adapter, CRASH_DOC, doc, { compactAfterRecords: 2 + rnd.int(3), compactBatchSize: 64 + rnd.int(193) })
  const compact = p.compact.bind(p)
  p.compact = async () => {
    out('C+')
    try { await compact() } finally {
      out('C-')
      const st = adapter.stats
      out(`S ${st.merges} ${st.rewrites} ${st.damagedRegions}`)
    }
  }
  await p.load()
  doc.on('afterTransactionCleanup', tr => { p.absorb(tr) })
  const map = doc.getMap<string>('m')
  let seq = 0
  for (const k of map.keys()) if (k.startsWith(prefix)) seq = Math.max(seq, Number(k.slice(prefix.length)))
  out(`open ${seq}`)
  for (;;) {
    const burst = 1 + rnd.int(4)
    const acks: Array<Promise<void>> = []
    for (let i = 0; i < burst; i++) {
      const s = ++seq
      map.set(`${prefix}${s}`, valueFor(s))
      acks.push(p.flush().then(() => { out(String(s)) }))
    }
    const roll = rnd.int(4)
    if (roll === 0) await Promise.all(acks)
    else if (roll === 1) await new Promise(resolve => setTimeout(resolve, rnd.int(3)))
    else await new Promise(resolve => setImmediate(resolve))
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', line => {
  if (line === 'go') main().catch(err => { process.stderr.write(`writer failed: ${(err as Error).stack}\n`); process.exit(2) })
})
out('ready')
