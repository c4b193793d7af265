/**
 * What the `meshdoc` CLI runs on in Node: the Node preset's `createMeshNode`,
 * an FsStorageAdapter per data directory, and the y-websocket endpoint
 * (`gateway --yws`). Handed to `runCli` by
 * `bin/meshdoc.ts` (and by the in-process CLI tests), so lib/cli knows no adapter.
 */
import type { CliPlatform } from '../../lib/cli/context.js'
import { FsStorageAdapter } from '../fs-storage/index.js'
import { startYwsBridge } from '../y-websocket/index.js'
import { createMeshNode } from './node.js'

export const nodeCliPlatform: CliPlatform = {
  createMeshNode,
  openStorage: (dir) => new FsStorageAdapter(dir),
  ywsBridge: startYwsBridge
}
