import { runStorageAdapterTests } from '../lib/testing/storage-compliance.js'
import { MemoryStorageAdapter } from '../lib/storage/memory-adapter.js'

runStorageAdapterTests('memory', async () => {
  const adapter = new MemoryStorageAdapter()
  return { adapter, open: async () => adapter }
})
