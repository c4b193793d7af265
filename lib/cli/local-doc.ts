/**
 * Open one document of a data directory without any network: a node with no
 * listeners and no bootstrap peers over the directory's fs storage. Used by
 * `export` and `import`; safe while a gateway runs on the same directory (the
 * fs adapter allows several writers).
 */
import type { DocHandle } from '../doc-handle.js'
import type { CliPlatform } from './context.js'
import { holdsStore, storeDir } from './data-dir.js'
import { CliError } from './errors.js'

export interface LocalDocOptions {
  platform: CliPlatform
  dataDir: string
  meshKey?: string | undefined
  /** the data directory must already hold documents (default true) */
  mustExist?: boolean
  /** only read: write nothing to the store, not even the doc's id (`export`) */
  readOnly?: boolean
}

export async function withLocalDoc<T> (opts: LocalDocOptions, docId: string, fn: (h: DocHandle) => Promise<T>): Promise<T> {
  if (opts.mustExist !== false && !holdsStore(opts.dataDir)) throw new CliError(`${opts.dataDir} holds no documents (it is not a meshdoc data directory)`)
  const node = await opts.platform.createMeshNode({
    storage: opts.platform.openStorage(storeDir(opts.dataDir)),
    antiEntropyIntervalMs: 0,
    keepDocIds: opts.readOnly !== true,
    ...(opts.meshKey !== undefined ? { meshKey: opts.meshKey } : {})
  })
  try {
    const handle = await node.open(docId)
    const out = await fn(handle)
    await handle.flush()
    return out
  } finally {
    await node.stop()
  }
}
