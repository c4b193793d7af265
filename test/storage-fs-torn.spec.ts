/**
 * Torn writes and garbage: truncate a log at random offsets, append garbage,
 * overwrite a region. Every record before the damage survives (and, after an
 * overwrite in the middle, every record after it too); nothing else appears.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { seeded } from '../lib/testing/storage-compliance.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'

const NO_MERGE = { mergeMinDeadBytes: Number.MAX_SAFE_INTEGER, maxFilesPerBucket: 1_000_000 }
const SEED = process.env.MESHDOC_SEED ?? Math.floor(Math.random() * 2 ** 32).toString(16)

/** Size of one record on disk, computed from the documented format (not from the adapter's code). */
function recordSize (key: string[], data: Uint8Array): number {
  const varuint = (n: number): number => n < 0x80 ? 1 : n < 0x4000 ? 2 : 3
  let payload = 1 + varuint(key.length) + data.length
  for (const p of key) { const b = Buffer.byteLength(p); payload += varuint(b) + b }
  return 12 + payload
}

interface Stored { key: string[], data: Uint8Array, start: number, end: number }

describe('fs storage: torn writes and garbage', function () {
  this.timeout(120_000)
  let dir: string
  let log: string
  let original: Uint8Array
  let stored: Stored[]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshdoc-torn-'))
    const rnd = seeded(`torn-${SEED}`)
    const a = new FsStorageAdapter(dir, NO_MERGE)
    stored = []
    let pos = 0
    for (let i = 0; i < 40; i++) {
      const key = ['doc', 'r', String(i).padStart(3, '0')]
      const data = new Uint8Array(rnd.int(3000)).map(() => rnd.int(256))
      await a.save(key, data) // one commit each: records follow each other in the log
      const size = recordSize(key, data)
      stored.push({ key, data, start: pos, end: pos + size })
      pos += size
    }
    await a.close()
    log = join(dir, 'doc', '0000000001.log')
    original = new Uint8Array(await readFile(log))
    assert.equal(original.length, pos, 'the log is exactly the records, as the format documents')
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  /** The bucket holds exactly `bytes` as its log; load it. Close the adapter after use (it then merges the damage away). */
  async function loadWith (bytes: Uint8Array): Promise<{ keys: string[], adapter: FsStorageAdapter }> {
    await rm(join(dir, 'doc'), { recursive: true, force: true })
    await mkdir(join(dir, 'doc'))
    await writeFile(log, bytes)
    const adapter = new FsStorageAdapter(dir, NO_MERGE)
    const chunks = await adapter.loadRange(['doc'])
    for (const c of chunks) {
      const want = stored.find(s => s.key.join('/') === c.key.join('/'))
      assert.ok(want !== undefined, `a record that was never written appeared: ${c.key.join('/')}`)
      assert.deepEqual(c.data, want.data, `data of ${c.key.join('/')}`)
    }
    return { keys: chunks.map(c => c.key[2]).sort(), adapter }
  }

  const ids = (pred: (s: Stored) => boolean): string[] => stored.filter(pred).map(s => s.key[2]).sort()

  it('truncation at 100 random offsets keeps every record before the cut', async () => {
    const rnd = seeded(`cut-${SEED}`)
    for (let i = 0; i < 100; i++) {
      const cut = rnd.int(original.length)
      const { keys, adapter } = await loadWith(original.subarray(0, cut))
      const atBoundary = cut === 0 || stored.some(s => s.end === cut)
      assert.deepEqual(keys, ids(s => s.end <= cut), `cut at ${cut} (seed ${SEED})`)
      assert.equal(adapter.stats.damagedRegions, atBoundary ? 0 : 1, `a torn tail is reported (cut at ${cut}, seed ${SEED})`)
      await adapter.close()
      if (i % 10 === 0) {
        // the tail is cut off on disk too: the next reader finds the same records and no damage
        const again = new FsStorageAdapter(dir, NO_MERGE)
        assert.deepEqual((await again.loadRange(['doc'])).map(c => c.key[2]).sort(), keys)
        assert.equal(again.stats.damagedRegions, 0, `the damaged tail is gone from disk (cut at ${cut}, seed ${SEED})`)
        await again.close()
      }
    }
  })

  it('garbage appended (after a clean end or a cut) is cut off, every record before it kept', async () => {
    const rnd = seeded(`garbage-${SEED}`)
    for (let i = 0; i < 40; i++) {
      const cut = i % 2 === 0 ? original.length : rnd.int(original.length)
      const garbage = new Uint8Array(1 + rnd.int(5000)).map(() => rnd.int(256))
      // sometimes garbage that starts like a record: the magic and a plausible length
      if (i % 3 === 0) garbage.set([0x4d, 0x44, 0x52, 0x31, 20, 0, 0, 0].slice(0, garbage.length))
      const { keys, adapter } = await loadWith(concat(original.subarray(0, cut), garbage))
      assert.deepEqual(keys, ids(s => s.end <= cut), `cut at ${cut} + ${garbage.length} garbage bytes (seed ${SEED})`)
      assert.ok(adapter.stats.damagedRegions >= 1)
      await adapter.close()
    }
  })

  it('a damaged region in the middle loses only the records it touches', async () => {
    const rnd = seeded(`middle-${SEED}`)
    for (let i = 0; i < 40; i++) {
      const from = rnd.int(original.length)
      const len = 1 + rnd.int(4000)
      const bytes = original.slice()
      for (let j = from; j < Math.min(bytes.length, from + len); j++) bytes[j] = rnd.int(256)
      const to = Math.min(bytes.length, from + len)
      const { keys, adapter } = await loadWith(bytes)
      await adapter.close()
      // a random byte may equal the original one, so a record touching the region may survive; none outside it is lost
      const mustKeep = ids(s => s.end <= from || s.start >= to)
      const mayKeep = ids(() => true)
      for (const k of mustKeep) assert.ok(keys.includes(k), `record ${k} outside the damage [${from}, ${to}) was lost (seed ${SEED})`)
      for (const k of keys) assert.ok(mayKeep.includes(k))
      const touched = stored.filter(s => s.start < to && s.end > from && !equalRange(bytes, original, s.start, s.end))
      for (const s of touched) assert.ok(!keys.includes(s.key[2]), `damaged record ${s.key[2]} was accepted (seed ${SEED})`)
    }
  })

  it('after a torn tail, new writes append and load alongside the survivors', async () => {
    const cut = stored[20].start + 5
    const { adapter } = await loadWith(original.subarray(0, cut))
    await adapter.save(['doc', 'r', 'new'], Uint8Array.of(7, 7, 7))
    await adapter.close()
    const again = new FsStorageAdapter(dir, NO_MERGE)
    const keys = (await again.loadRange(['doc'])).map(c => c.key[2]).sort()
    assert.deepEqual(keys, [...ids(s => s.end <= cut), 'new'].sort())
    await again.close()
  })

  it('a document whose log is torn loads with every edit stored before the damage', async () => {
    const docDir = await mkdtemp(join(tmpdir(), 'meshdoc-torn-doc-'))
    try {
      const a = new FsStorageAdapter(docDir, NO_MERGE)
      const doc = new Y.Doc()
      const p = new DocPersistence(a, 'abcd', doc, { compactAfterRecords: 1_000_000 })
      await p.load()
      doc.on('afterTransactionCleanup', tr => { p.absorb(tr) })
      const ends: number[] = []
      let size = 0
      for (let i = 0; i < 30; i++) {
        doc.getMap('m').set(`k${i}`, 'v'.repeat(i * 10))
        await p.flush()
        size = (await readFile(join(docDir, 'abcd', '0000000001.log'))).length
        ends.push(size)
      }
      await a.close()
      const file = join(docDir, 'abcd', '0000000001.log')
      const full = await readFile(file)
      const rnd = seeded(`doc-${SEED}`)
      for (let i = 0; i < 20; i++) {
        const cut = rnd.int(full.length)
        await rm(join(docDir, 'abcd'), { recursive: true, force: true })
        await mkdir(join(docDir, 'abcd'))
        await writeFile(file, full.subarray(0, cut))
        const back = new Y.Doc()
        const reader = new FsStorageAdapter(docDir, NO_MERGE)
        await new DocPersistence(reader, 'abcd', back).load()
        await reader.close()
        const kept = ends.filter(e => e <= cut).length
        assert.deepEqual([...back.getMap('m').keys()].sort(), Array.from({ length: kept }, (_, j) => `k${j}`).sort(), `cut at ${cut} (seed ${SEED})`)
      }
    } finally {
      await rm(docDir, { recursive: true, force: true })
    }
  })
})

function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

function equalRange (a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false
  return true
}
