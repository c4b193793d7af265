import { runStorageAdapterTests } from '../lib/storage/compliance.js'
import { MemoryStorageAdapter } from '../lib/storage/memory-adapter.js'

runStorageAdapterTests('memory', async () => {
  const adapter = new MemoryStorageAdapter()
  return { adapter, open: async () => adapter }
})
