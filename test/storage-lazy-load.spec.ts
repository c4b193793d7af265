/**
 * Lazy load: with 10,000 documents stored, opening one takes no longer than
 * with 100, because it reads only that document's directory.
 */
import assert from 'node:assert/strict'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import * as Y from 'yjs'
import { FsStorageAdapter, type FsPromises } from '../adapters/fs-storage/index.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'

const keyOf = (id: string): string => docKeyHex(docKeyFor(id))

async function fill (dir: string, n: number): Promise<void> {
  const a = new FsStorageAdapter(dir)
  let next = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < n) {
      const i = next++
      const doc = new Y.Doc()
      doc.getText('t').insert(0, `document ${i}: ${'some text '.repeat(30)}`)
      await a.save([keyOf(`doc-${i}`), 's', '0'], Uint8Array.of(2, ...Y.encodeStateAsUpdateV2(doc)))
    }
  }))
  await a.close()
}

/** Open one document as a restarted gateway would: a fresh adapter, then load. */
async function openOne (dir: string, i: number, fsImpl?: FsPromises): Promise<number> {
  const t = performance.now()
  const doc = new Y.Doc()
  const adapter = new FsStorageAdapter(dir, fsImpl !== undefined ? { fs: fsImpl } : {})
  await new DocPersistence(adapter, keyOf(`doc-${i}`), doc).load()
  const ms = performance.now() - t
  await adapter.close()
  assert.ok(doc.getText('t').toString().startsWith(`document ${i}:`), `doc-${i} loaded`)
  return ms
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

describe('fs storage: lazy load', function () {
  this.timeout(180_000)
  let small: string
  let large: string
  before(async () => {
    small = await fs.mkdtemp(join(tmpdir(), 'meshdoc-lazy-100-'))
    large = await fs.mkdtemp(join(tmpdir(), 'meshdoc-lazy-10k-'))
    const t = performance.now()
    await fill(small, 100)
    await fill(large, 10_000)
    console.log(`      stored 10,100 documents (fsync'd) in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  })
  after(async () => {
    await fs.rm(small, { recursive: true, force: true })
    await fs.rm(large, { recursive: true, force: true })
  })

  it('opening one of 10,000 stored documents touches only that document\'s files', async () => {
    const touched: string[] = []
    const note = (p: unknown): void => { touched.push(relative(large, String(p))) }
    const spy: FsPromises = {
      ...fs,
      open: (async (p: string, ...rest: unknown[]) => { note(p); return await (fs.open as (...a: unknown[]) => Promise<fs.FileHandle>)(p, ...rest) }) as FsPromises['open'],
      readdir: (async (p: string, ...rest: unknown[]) => { note(p); return await (fs.readdir as (...a: unknown[]) => Promise<unknown>)(p, ...rest) }) as FsPromises['readdir'],
      readFile: (async (p: string, ...rest: unknown[]) => { note(p); return await (fs.readFile as (...a: unknown[]) => Promise<unknown>)(p, ...rest) }) as FsPromises['readFile']
    }
    await openOne(large, 4242, spy)
    const bucket = keyOf('doc-4242')
    const foreign = touched.filter(p => p !== 'meshdoc-fs.json' && p !== '' && p !== bucket && !p.startsWith(`${bucket}/`))
    assert.deepEqual(foreign, [], 'paths outside the document\'s directory')
    assert.ok(touched.length <= 6, `${touched.length} file system calls: ${touched.join(', ')}`)
  })

  it('the time to open one document does not grow from 100 to 10,000 stored documents', async () => {
    const t100: number[] = []
    const t10k: number[] = []
    for (let i = 0; i < 40; i++) {
      // alternate, so load on the machine hits both alike
      t100.push(await openOne(small, (i * 37) % 100))
      t10k.push(await openOne(large, (i * 7919) % 10_000))
    }
    const m100 = median(t100)
    const m10k = median(t10k)
    console.log(`      open one doc: median ${m100.toFixed(2)} ms with 100 docs stored, ${m10k.toFixed(2)} ms with 10,000 (ratio ${(m10k / m100).toFixed(2)})`)
    assert.ok(m10k < 3 * m100 + 1, `opening got ${(m10k / m100).toFixed(1)}x slower with 100x the documents`)
  })
})
