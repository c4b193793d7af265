import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { runStorageAdapterTests } from '../lib/testing/storage-compliance.js'

runStorageAdapterTests('fs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshdoc-fs-'))
  return {
    adapter: new FsStorageAdapter(dir),
    open: async () => new FsStorageAdapter(dir),
    teardown: async () => { await rm(dir, { recursive: true, force: true }) }
  }
})

// the same contract while merges run all the time
runStorageAdapterTests('fs (merging after every write)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meshdoc-fs-'))
  const opts = { mergeMinDeadBytes: 0, maxFilesPerBucket: 1 }
  return {
    adapter: new FsStorageAdapter(dir, opts),
    open: async () => new FsStorageAdapter(dir, opts),
    teardown: async () => { await rm(dir, { recursive: true, force: true }) }
  }
})

describe('fs storage: reads of keys nobody stored leave nothing behind', () => {
  it('5,000 loads and 5,000 loadRanges of missing keys keep no bucket in memory; a stored key and a write in flight keep theirs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdoc-fs-'))
    const adapter = new FsStorageAdapter(dir)
    try {
      await adapter.save(['kept', 'r', '1'], new Uint8Array([1]))
      const before = adapter.bucketsInMemory
      for (let i = 0; i < 5000; i++) {
        assert.equal(await adapter.load([`missing-${i}`, 'r', '1']), undefined)
        assert.deepEqual(await adapter.loadRange([`absent-${i}`]), [])
      }
      await new Promise(resolve => setImmediate(resolve))
      assert.equal(adapter.bucketsInMemory, before, 'a gateway asked for random keys does not grow')
      // a read racing a write to the same missing key: the write lands, the bucket stays
      const [read] = await Promise.all([adapter.loadRange(['racing']), adapter.save(['racing', 'r', '1'], new Uint8Array([2]))])
      assert.ok(read.length <= 1)
      assert.deepEqual((await adapter.loadRange(['racing'])).map(c => [...c.data]), [[2]])
      assert.deepEqual(await adapter.load(['kept', 'r', '1']), new Uint8Array([1]))
      assert.equal(adapter.bucketsInMemory, before + 1)
    } finally {
      await adapter.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
