/**
 * Crash test: a child process writes `map.set('k' + seq, ...)` and prints seq
 * only once flush() resolved; we SIGKILL it at random moments (compaction and
 * merges are forced to run all the time), reopen the store, and check that
 * the doc loads and every acknowledged key is there with its value.
 *
 * MESHDOC_CRASH_KILLS=1000 for the long run (default 200). MESHDOC_SEED replays a seed.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { seeded } from '../lib/testing/storage-compliance.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'
import { writerBundle, Writer } from './helpers/storage-child.js'
import { CRASH_DOC, valueFor } from './helpers/storage-crash-shared.js'

const KILLS = Number(process.env.MESHDOC_CRASH_KILLS ?? 200)
const SEED = process.env.MESHDOC_SEED ?? Math.floor(Math.random() * 2 ** 32).toString(16)

describe('fs storage: crash test (SIGKILL)', function () {
  this.timeout(Math.max(120_000, KILLS * 1500))
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-crash-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it(`${KILLS} kills at random moments lose no acknowledged write`, async () => {
    const rnd = seeded(`crash-${SEED}`)
    const bundle = await writerBundle()
    const acked = new Set<number>()
    let duringCompaction = 0
    let beforeOpen = 0
    let mergeUnfinished = 0
    let merges = 0
    let damaged = 0
    let tornSeen = 0
    let maxStore = 0
    let lastSnapshot = 0
    const spawnWriter = (i: number): Writer => new Writer(bundle, dir, `${SEED}-${i}`, 'k')
    let next = spawnWriter(0)
    try {
      for (let i = 0; i < KILLS; i++) {
        const w = next
        await w.ready
        w.go()
        next = spawnWriter(i + 1) // loads its modules while this one runs
        if (rnd.int(10) === 0) {
          // kill while it opens the store (loading, maybe compacting what it loaded)
          await sleep(rnd.int(15))
        } else {
          const opened = await Promise.race([w.opened, w.exited.then(() => -1)])
          assert.notEqual(opened, -1, `writer ${i} died by itself: ${w.stderr} (seed ${SEED})`)
          await sleep(5 + rnd.int(50))
        }
        const compacting = w.compacting
        const killedRunning = await w.kill()
        assert.ok(killedRunning, `writer ${i} exited before the kill: ${w.stderr} (seed ${SEED})`)
        if (compacting) duringCompaction++
        merges += w.stats.merges
        damaged += w.stats.damaged
        if (w.acked.length === 0) beforeOpen++
        for (const s of w.acked) acked.add(s)
        if (await mergeLeftovers(join(dir, CRASH_DOC))) mergeUnfinished++

        const doc = new Y.Doc()
        const reader = new FsStorageAdapter(dir)
        await new DocPersistence(reader, CRASH_DOC, doc, { compactAfterRecords: Number.MAX_SAFE_INTEGER }).load()
        await reader.close() // waits for the merge that cuts a torn tail off
        if (reader.stats.damagedRegions > 0) tornSeen++
        const m = doc.getMap<string>('m')
        const lost = [...acked].filter(s => m.get(`k${s}`) !== valueFor(s))
        assert.deepEqual(lost.slice(0, 10), [], `after kill ${i + 1}: ${lost.length} acknowledged writes lost or wrong (seed ${SEED})`)
        for (const [k, v] of m) assert.equal(v, valueFor(Number(k.slice(1))), `a stored value is corrupt: ${k} (seed ${SEED})`)
        maxStore = Math.max(maxStore, await du(join(dir, CRASH_DOC)))
        if (i === KILLS - 1) lastSnapshot = Y.encodeStateAsUpdateV2(doc).length
      }
    } finally {
      await next.kill().catch(() => {})
    }
    console.log(`      crash test: ${KILLS} SIGKILLs (${duringCompaction} during a compaction, ${mergeUnfinished} left a merge unfinished on disk, ${beforeOpen} before any write was acknowledged); ${acked.size} acknowledged writes, all present; writers merged ${merges} times and skipped ${damaged} damaged regions; ${tornSeen} reopens found a torn write and cut it off (seed ${SEED})`)
    const finalStore = await du(join(dir, CRASH_DOC))
    console.log(`      store size: ${finalStore} bytes at the end (largest after any kill: ${maxStore}); the doc's own snapshot is ${lastSnapshot} bytes`)
    assert.ok(acked.size > KILLS, 'the writers got work done between kills')
    assert.ok(finalStore < 8 * lastSnapshot + 512 * 1024, 'compaction keeps the store near the size of the doc, even under constant kills')
    assert.ok(duringCompaction > 0, 'some kills landed during a compaction')
  })
})

async function du (dir: string): Promise<number> {
  let names: string[]
  try { names = await readdir(dir) } catch { return 0 } // nothing written yet
  let total = 0
  for (const n of names) total += (await stat(join(dir, n)).catch(() => ({ size: 0 }))).size
  return total
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** The kill interrupted a merge: a temp snapshot, or logs a newer snapshot already covers. */
async function mergeLeftovers (bucket: string): Promise<boolean> {
  let names: string[]
  try { names = await readdir(bucket) } catch { return false }
  if (names.some(n => n.endsWith('.tmp'))) return true
  const snaps = names.filter(n => n.endsWith('.snap')).map(n => Number(n.slice(0, 10)))
  if (snaps.length === 0) return false
  const newest = Math.max(...snaps)
  return snaps.length > 1 || names.some(n => n.endsWith('.log') && Number(n.slice(0, 10)) <= newest)
}
