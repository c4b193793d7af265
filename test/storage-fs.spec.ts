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
