/**
 * The StorageAdapter compliance suite. Every adapter runs it with a spec of a
 * few lines:
 *
 * ```ts
 * import { runStorageAdapterTests } from 'meshdoc/testing'
 * runStorageAdapterTests('fs', async () => {
 *   const dir = await mkdtemp(join(tmpdir(), 'meshdoc-'))
 *   return {
 *     adapter: new FsStorageAdapter(dir),
 *     open: async () => new FsStorageAdapter(dir),
 *     teardown: async () => { await rm(dir, { recursive: true }) }
 *   }
 * })
 * ```
 *
 * Written against the mocha-style globals `describe`, `it`, `beforeEach` and
 * `afterEach` (mocha, or vitest/jest with globals); no Node built-ins, so it runs
 * in browsers too.
 * Randomized cases are seeded: set MESHDOC_SEED to replay the seed a failure prints.
 */
import assert from './assert.js'
import * as Y from 'yjs'
import { DocPersistence } from '../storage/doc-persistence.js'
import type { StorageAdapter, StorageChunk, StorageKey } from '../storage/types.js'

export interface StorageAdapterTestContext {
  /** a fresh, empty store */
  adapter: StorageAdapter
  /**
   * Open another handle on the same store: another tab, process or a restart
   * (a memory adapter returns itself).
   */
  open: () => Promise<StorageAdapter>
  /** remove the store (called after every handle was closed) */
  teardown?: () => Promise<void>
}

export type StorageAdapterSetup = () => Promise<StorageAdapterTestContext>

interface TestGlobals {
  describe: (name: string, fn: () => void) => void
  it: (name: string, fn: () => Promise<void>) => void
  beforeEach: (fn: () => Promise<void>) => void
  afterEach: (fn: () => Promise<void>) => void
}

export function runStorageAdapterTests (name: string, setup: StorageAdapterSetup): void {
  const { describe, it, beforeEach, afterEach } = globalThis as unknown as TestGlobals
  if (typeof describe !== 'function') throw new Error('runStorageAdapterTests needs mocha-style describe/it globals')

  describe(`StorageAdapter compliance: ${name}`, () => {
    let ctx: StorageAdapterTestContext
    let handles: StorageAdapter[] = []
    let a: StorageAdapter
    const open = async (): Promise<StorageAdapter> => {
      const h = await ctx.open()
      if (h !== ctx.adapter) handles.push(h)
      return h
    }

    beforeEach(async () => {
      ctx = await setup()
      a = ctx.adapter
      handles = []
    })
    afterEach(async () => {
      for (const h of handles) await h.close?.()
      await ctx.adapter.close?.()
      await ctx.teardown?.()
    })

    it('load returns undefined for a key that was never saved', async () => {
      assert.equal(await a.load(['nothing', 'here']), undefined)
      assert.deepEqual(await a.loadRange(['nothing']), [])
    })

    it('save then load returns the same bytes, every byte value included', async () => {
      const data = new Uint8Array(512).map((_, i) => i % 256)
      await a.save(['doc', 'r', '1'], data)
      assertBytes(await a.load(['doc', 'r', '1']), data)
    })

    it('an empty value round-trips as an empty array, not undefined', async () => {
      await a.save(['doc', 'empty'], new Uint8Array(0))
      const got = await a.load(['doc', 'empty'])
      assert.ok(got instanceof Uint8Array, 'an empty value must load as a Uint8Array')
      assert.equal(got.length, 0)
    })

    it('save replaces the previous value', async () => {
      await a.save(['doc', 'k'], bytes('first value, longer'))
      await a.save(['doc', 'k'], bytes('second'))
      assertBytes(await a.load(['doc', 'k']), bytes('second'))
      assert.equal((await a.loadRange(['doc'])).length, 1)
    })

    it('stored values do not change when the caller mutates its buffers', async () => {
      const data = bytes('original')
      const saving = a.save(['doc', 'k'], data)
      data.fill(0) // mutated before the save was even awaited
      await saving
      const got = await a.load(['doc', 'k'])
      assertBytes(got, bytes('original'))
      got!.fill(1)
      assertBytes(await a.load(['doc', 'k']), bytes('original'))
      const range = await a.loadRange(['doc'])
      range[0].data.fill(2)
      assertBytes(await a.load(['doc', 'k']), bytes('original'))
    })

    it('remove deletes one key; removing a missing key is not an error', async () => {
      await a.save(['doc', 'a'], bytes('a'))
      await a.save(['doc', 'b'], bytes('b'))
      await a.remove(['doc', 'a'])
      await a.remove(['doc', 'never-saved'])
      await a.remove(['no-such-doc', 'x'])
      assert.equal(await a.load(['doc', 'a']), undefined)
      assertBytes(await a.load(['doc', 'b']), bytes('b'))
    })

    it('loadRange matches whole key parts, and [] matches everything', async () => {
      const keys: StorageKey[] = [['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b', 'c', 'd'], ['a', 'bc'], ['a', 'bc', 'd'], ['ab'], ['ab', 'b'], ['b', 'a']]
      for (const k of keys) await a.save(k, bytes(k.join('|')))
      const expect = (pred: (k: StorageKey) => boolean): string[] => keys.filter(pred).map(k => JSON.stringify(k)).sort()
      const check = async (prefix: StorageKey, want: string[]): Promise<void> => {
        const got = await a.loadRange(prefix)
        for (const c of got) assertBytes(c.data, bytes(c.key.join('|')), `data of ${JSON.stringify(c.key)}`)
        assert.deepEqual(sortedKeys(got), want, `loadRange(${JSON.stringify(prefix)})`)
      }
      await check(['a', 'b'], expect(k => k[0] === 'a' && k[1] === 'b'))
      await check(['a'], expect(k => k[0] === 'a'))
      await check(['a', 'b', 'c'], expect(k => k[0] === 'a' && k[1] === 'b' && k[2] === 'c'))
      await check(['ab'], expect(k => k[0] === 'ab'))
      await check(['a', 'x'], [])
      await check([], expect(() => true))
    })

    it('removeRange removes the prefix and nothing else', async () => {
      const keys: StorageKey[] = [['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'bc'], ['ab', 'b'], ['b', 'a']]
      for (const k of keys) await a.save(k, bytes(k.join('|')))
      await a.removeRange(['a', 'b'])
      assert.deepEqual(sortedKeys(await a.loadRange([])), [['a'], ['a', 'bc'], ['ab', 'b'], ['b', 'a']].map(k => JSON.stringify(k)).sort())
      await a.removeRange(['a'])
      assert.deepEqual(sortedKeys(await a.loadRange([])), [['ab', 'b'], ['b', 'a']].map(k => JSON.stringify(k)).sort())
      await a.removeRange(['nothing'])
      await a.removeRange([])
      assert.deepEqual(await a.loadRange([]), [])
      await a.save(['a', 'again'], bytes('x'))
      assertBytes(await a.load(['a', 'again']), bytes('x'))
    })

    it('key parts may be any string, and parts that differ only in case stay apart', async () => {
      const parts = ['', '.', '..', '/', 'a/b', '\\', 'A', 'a', '~', '%41', '~%41', 'CON', 'nul', ' sp ', '\u0000', '\n', '文档', '🦄', 'x'.repeat(300), 'é', 'e\u0301']
      for (let i = 0; i < parts.length; i++) await a.save([parts[i], parts[i], 'k'], bytes(`v${i}`))
      for (let i = 0; i < parts.length; i++) {
        assertBytes(await a.load([parts[i], parts[i], 'k']), bytes(`v${i}`), `part ${JSON.stringify(parts[i])}`)
        const range = await a.loadRange([parts[i]])
        assert.deepEqual(range.map(c => c.key), [[parts[i], parts[i], 'k']], `loadRange of part ${JSON.stringify(parts[i])}`)
      }
      assert.equal((await a.loadRange([])).length, parts.length)
    })

    it('a 4 MiB value round-trips', async () => {
      const rnd = seeded('big')
      const data = new Uint8Array(4 * 1024 * 1024).map(() => rnd.int(256))
      await a.save(['doc', 'big'], data)
      assertBytes(await a.load(['doc', 'big']), data)
    })

    it('operations issued without awaiting take effect in the order they were issued', async () => {
      const k = ['doc', 'k']
      const ops: Array<Promise<unknown>> = [
        a.save(k, bytes('1')), a.save(k, bytes('2')), a.remove(k), a.save(k, bytes('3')),
        a.save(['doc', 'gone'], bytes('g')), a.removeRange(['doc', 'gone']), a.save(['doc', 'late'], bytes('l'))
      ]
      const loaded = a.load(k)
      const ranged = a.loadRange(['doc'])
      await Promise.all(ops)
      assertBytes(await loaded, bytes('3'), 'a load issued after the writes sees them')
      assert.deepEqual(sortedKeys(await ranged), [JSON.stringify(k), JSON.stringify(['doc', 'late'])])
    })

    it('hundreds of concurrent saves to distinct keys all land', async () => {
      const n = 300
      await Promise.all(Array.from({ length: n }, async (_, i) => { await a.save([`doc${i % 3}`, 'r', String(i)], bytes(`value ${i}`)) }))
      const all = await a.loadRange([])
      assert.equal(all.length, n)
      for (const c of all) assertBytes(c.data, bytes(`value ${c.key[2]}`))
    })

    it('keys must be arrays of strings with at least one part', async () => {
      await assert.rejects(a.save([], bytes('x')), TypeError)
      await assert.rejects(a.load([]), TypeError)
      await assert.rejects(a.save([1 as unknown as string], bytes('x')), TypeError)
    })

    it('close can be called twice', async () => {
      await a.save(['doc', 'k'], bytes('x'))
      await a.close?.()
      await a.close?.()
    })

    it('what one handle saved, another handle loads, also after every handle closed', async () => {
      await a.save(['doc', 'one'], bytes('from a'))
      const b = await open()
      assertBytes(await b.load(['doc', 'one']), bytes('from a'))
      await b.save(['doc', 'two'], bytes('from b'))
      await b.remove(['doc', 'one'])
      // no stale cache in the first handle
      assertBytes(await a.load(['doc', 'two']), bytes('from b'))
      assert.equal(await a.load(['doc', 'one']), undefined)
      await b.close?.()
      await a.close?.()
      const c = await open()
      assert.deepEqual(sortedKeys(await c.loadRange([])), [JSON.stringify(['doc', 'two'])])
    })

    it('a document stored through DocPersistence loads back, and compaction leaves one snapshot', async () => {
      const doc = new Y.Doc()
      const p = new DocPersistence(a, 'd0c', doc, { compactAfterRecords: 1_000_000 })
      await p.load()
      doc.on('afterTransactionCleanup', tr => { p.absorb(tr) })
      const text = doc.getText('t')
      for (let i = 0; i < 50; i++) {
        text.insert(text.length, `line ${i}\n`)
        if (i % 7 === 0) text.delete(0, 2)
        await p.flush()
      }
      assert.equal((await a.loadRange(['d0c', 'r'])).length, 50)
      await p.compact()
      const chunks = await a.loadRange(['d0c'])
      assert.equal(chunks.length, 1, 'one snapshot after compaction')
      assert.equal(chunks[0].key[1], 's')
      const copy = new Y.Doc()
      await new DocPersistence(await open(), 'd0c', copy).load()
      assert.equal(copy.getText('t').toString(), text.toString())
    })

    it('two writers editing and compacting one document lose no flushed update', async () => {
      const seed = seedFromEnv()
      const rnd = seeded(seed)
      const docKey = 'two-writers'
      const other = await open()
      const flushed = new Set<string>()
      interface Writer { doc: Y.Doc, p: DocPersistence, adapter: StorageAdapter, name: string }
      const start = async (adapter: StorageAdapter, name: string): Promise<Writer> => {
        const doc = new Y.Doc()
        const p = new DocPersistence(adapter, docKey, doc, { compactAfterRecords: 2 + rnd.int(4), compactBatchSize: 1 + rnd.int(3) })
        await p.load()
        doc.on('afterTransactionCleanup', tr => { p.absorb(tr) })
        return { doc, p, adapter, name }
      }
      const writers = [await start(a, 'a'), await start(other, 'b')]
      const inflight: Array<Promise<void>> = []
      try {
        for (let step = 0; step < 240; step++) {
          const w = writers[rnd.int(2)]
          const key = `${w.name}${step}`
          w.doc.getMap('m').set(key, step)
          const f = w.p.flush().then(() => { flushed.add(key) })
          inflight.push(f)
          const roll = rnd.int(10)
          if (roll < 4) await f
          else if (roll === 4) inflight.push(w.p.compact())
          else if (roll === 5) {
            // this writer restarts: it reads the other's chunks, and may later delete them
            await w.p.close()
            const i = writers.indexOf(w)
            writers[i] = await start(w.adapter, w.name)
          }
          if (rnd.int(4) === 0) await new Promise(resolve => setTimeout(resolve, rnd.int(3)))
        }
        await Promise.all(inflight)
        for (const w of writers) await w.p.close()
        const check = new Y.Doc()
        await new DocPersistence(await open(), docKey, check).load()
        const m = check.getMap('m')
        const missing = [...flushed].filter(k => !m.has(k))
        assert.deepEqual(missing, [], `flushed updates lost (seed ${seed})`)
        assert.ok(flushed.size >= 240, `every flush resolved (seed ${seed})`)
      } catch (err) {
        (err as Error).message += ` [seed ${seed}]`
        throw err
      }
    })
  })
}

// ------------------------------------------------------------------ helpers

const utf8 = new TextEncoder()

function bytes (s: string): Uint8Array {
  return utf8.encode(s)
}

function assertBytes (got: Uint8Array | undefined, want: Uint8Array, msg?: string): void {
  assert.ok(got instanceof Uint8Array, `${msg ?? 'value'}: expected a Uint8Array, got ${String(got)}`)
  assert.equal(got.length, want.length, `${msg ?? 'value'}: length`)
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) assert.fail(`${msg ?? 'value'}: differs at byte ${i}`)
  }
}

function sortedKeys (chunks: StorageChunk[]): string[] {
  return chunks.map(c => JSON.stringify(c.key)).sort()
}

function seedFromEnv (): string {
  // also runs in browsers, where there is no process
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
  return env?.MESHDOC_SEED ?? Math.floor(Math.random() * 2 ** 32).toString(16)
}

/** A small seeded PRNG (mulberry32 over a string hash). */
export function seeded (seed: string): { next: () => number, int: (n: number) => number } {
  let h = 1779033703 ^ seed.length
  for (let i = 0; i < seed.length; i++) {
    h = Math.imul(h ^ seed.charCodeAt(i), 3432918353)
    h = (h << 13) | (h >>> 19)
  }
  let s = h >>> 0
  const next = (): number => {
    s = (s + 0x6D2B79F5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n: number) => Math.floor(next() * n) }
}
