/**
 * Two writers on one document: two processes on one data directory, each
 * writing, compacting and merging all the time, killed at random moments.
 * No acknowledged update of either is lost.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { seeded } from '../lib/testing/storage-compliance.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'
import { writerBundle, Writer } from './helpers/storage-child.js'
import { CRASH_DOC, valueFor } from './helpers/storage-crash-shared.js'

const SEED = process.env.MESHDOC_SEED ?? Math.floor(Math.random() * 2 ** 32).toString(16)
const ROUNDS = 12

describe('fs storage: two writer processes on one document', function () {
  this.timeout(120_000)
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-two-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it(`${ROUNDS} rounds of two processes writing and compacting one doc at once lose no acknowledged update`, async () => {
    const rnd = seeded(`two-${SEED}`)
    const bundle = await writerBundle()
    const acked = { a: new Set<number>(), b: new Set<number>() }
    let compactions = 0
    let overlapping = 0
    let merges = 0
    let rewrites = 0
    for (let round = 0; round < ROUNDS; round++) {
      const wa = new Writer(bundle, dir, `${SEED}-a${round}`, 'a')
      const wb = new Writer(bundle, dir, `${SEED}-b${round}`, 'b')
      await Promise.all([wa.ready, wb.ready])
      wa.go()
      wb.go()
      await Promise.all([wa.opened, wb.opened])
      const t = Date.now()
      // both run; each is killed at its own random moment
      await Promise.all([wa, wb].map(async w => {
        await sleep(150 + rnd.int(350))
        assert.ok(await w.kill(), `a writer died by itself: ${w.stderr} (seed ${SEED})`)
      }))
      if (Date.now() - t > 150 && wa.compactions > 0 && wb.compactions > 0) overlapping++
      compactions += wa.compactions + wb.compactions
      merges += wa.stats.merges + wb.stats.merges
      rewrites += wa.stats.rewrites + wb.stats.rewrites
      for (const s of wa.acked) acked.a.add(s)
      for (const s of wb.acked) acked.b.add(s)

      const doc = new Y.Doc()
      const reader = new FsStorageAdapter(dir)
      await new DocPersistence(reader, CRASH_DOC, doc, { compactAfterRecords: Number.MAX_SAFE_INTEGER }).load()
      await reader.close()
      const m = doc.getMap<string>('m')
      for (const p of ['a', 'b'] as const) {
        const lost = [...acked[p]].filter(s => m.get(`${p}${s}`) !== valueFor(s))
        assert.deepEqual(lost.slice(0, 10), [], `round ${round}: writer ${p} lost ${lost.length} acknowledged updates (seed ${SEED})`)
      }
    }
    console.log(`      two writers: ${ROUNDS} rounds, ${acked.a.size} + ${acked.b.size} acknowledged updates, ${compactions} compactions and ${merges} merges (both writers compacting in ${overlapping} rounds; ${rewrites} appends rewritten after the other writer's merge moved the generation), all present (seed ${SEED})`)
    assert.ok(acked.a.size > ROUNDS && acked.b.size > ROUNDS)
    assert.ok(overlapping >= ROUNDS / 2, 'both writers compacted in most rounds')
  })
})

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
