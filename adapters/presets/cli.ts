/**
 * What the `meshdoc` CLI runs on in Node: the Node preset's `createMeshNode`
 * and an FsStorageAdapter per data directory. Handed to `runCli` by
 * `bin/meshdoc.ts` (and by the in-process CLI tests), so lib/cli knows no adapter.
 */
import type { CliPlatform } from '../../lib/cli/context.js'
import { FsStorageAdapter } from '../fs-storage/index.js'
import { createMeshNode } from './node.js'

export const nodeCliPlatform: CliPlatform = {
  createMeshNode,
  openStorage: (dir) => new FsStorageAdapter(dir)
}
