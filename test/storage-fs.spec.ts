import assert from 'node:assert/strict'
import * as nodeFs from 'node:fs/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { openFilesBudget, openFilesLimit } from '../adapters/fs-storage/fs-adapter.js'
import type { FsPromises } from '../adapters/fs-storage/bucket.js'
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

describe('fs storage: more buckets than open log files', () => {
  it('a log opened again is not made durable a second time (one directory sync per log), and everything written loads back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdoc-fs-reopen-'))
    let dirSyncs = 0
    // directories are synced through a handle opened read-only; logs are opened to append
    const fs: FsPromises = {
      ...nodeFs,
      open: (async (path: string, flags?: string | number, mode?: number) => {
        const fh = await nodeFs.open(path, flags, mode)
        if (flags !== 'r') return fh
        return new Proxy(fh, {
          get: (t, p) => p === 'sync' ? async () => { dirSyncs++; await t.sync() } : (Reflect.get(t, p) as unknown as { bind?: (x: unknown) => unknown })?.bind?.(t) ?? Reflect.get(t, p)
        })
      }) as FsPromises['open']
    }
    const docs = 8
    const adapter = new FsStorageAdapter(dir, { fs, maxOpenFiles: 2 })
    try {
      const round = async (r: number): Promise<void> => {
        for (let d = 0; d < docs; d++) await adapter.save([`doc-${d}`, 'r', String(r)], new Uint8Array([d, r]))
      }
      await round(0)
      const afterCreate = dirSyncs
      assert.ok(afterCreate >= docs, `each new log made durable with its directory (${afterCreate} directory syncs)`)
      // 8 buckets through 2 open handles: every save below reopens a log
      for (let r = 1; r <= 4; r++) await round(r)
      assert.equal(dirSyncs, afterCreate, 'no directory sync when a log is opened again')
    } finally {
      await adapter.close()
    }
    const again = new FsStorageAdapter(dir)
    try {
      for (let d = 0; d < docs; d++) {
        assert.deepEqual((await again.loadRange([`doc-${d}`])).map(c => [...c.data]).sort((a, b) => a[1] - b[1]), [0, 1, 2, 3, 4].map(r => [d, r]))
      }
    } finally {
      await again.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('fs storage: how many log files it keeps open by default', () => {
  it('an eighth of the open-file limit, between 128 and 1,024; 128 when the limit is unknown', () => {
    assert.equal(openFilesBudget(undefined), 128)
    assert.equal(openFilesBudget(NaN), 128)
    assert.equal(openFilesBudget(256), 128)
    assert.equal(openFilesBudget(1024), 128)
    assert.equal(openFilesBudget(4096), 512)
    assert.equal(openFilesBudget(20_000), 1024)
    assert.equal(openFilesBudget(Infinity), 1024)
    if (process.platform === 'linux') assert.ok(Number.isFinite(openFilesLimit() ?? NaN) || openFilesLimit() === Infinity, 'the limit is read on Linux')
  })

  it('the example systemd unit gives a gateway a limit at which it keeps the full 1,024 logs open', async () => {
    const unit = await nodeFs.readFile(new URL('../examples/iot-gateway/meshdoc-gateway.service', import.meta.url), 'utf8')
    const m = /^LimitNOFILE=(\d+)$/m.exec(unit)
    assert.ok(m !== null, 'the unit sets LimitNOFILE (systemd\'s default soft limit is 1,024)')
    assert.equal(openFilesBudget(Number(m[1])), 1024)
  })

  it('with the default, 300 docs written twice reopen no log when the budget holds them all (and do when it does not)', async function () {
    this.timeout(60_000)
    const dir = await mkdtemp(join(tmpdir(), 'meshdoc-fs-budget-'))
    let logOpens = 0
    const fs: FsPromises = {
      ...nodeFs,
      open: (async (path: string, flags?: string | number, mode?: number) => {
        if (String(path).endsWith('.log') && flags !== 'r') logOpens++
        return await nodeFs.open(path, flags, mode)
      }) as FsPromises['open']
    }
    const docs = 300
    const budget = openFilesBudget(openFilesLimit())
    const adapter = new FsStorageAdapter(dir, { fs })
    try {
      for (let d = 0; d < docs; d++) await adapter.save([`doc-${d}`, 'r', '0'], new Uint8Array([d]))
      const afterFirst = logOpens
      for (let d = 0; d < docs; d++) await adapter.save([`doc-${d}`, 'r', '1'], new Uint8Array([d]))
      if (budget >= docs) assert.equal(logOpens, afterFirst, `a budget of ${budget} open logs holds ${docs} docs: no reopen`)
      else assert.ok(logOpens > afterFirst, `a budget of ${budget} cannot hold ${docs} docs: logs are reopened`)
    } finally {
      await adapter.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
