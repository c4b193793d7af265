/**
 * `createMeshNode` for Node.js: libp2p over TCP and WebSockets (listening as
 * well as dialling), optional mDNS and circuit-relay server. Browsers get
 * their own preset from `meshdoc/browser` (the `browser` export condition of
 * `meshdoc` points there too).
 */
import { createHash } from 'node:crypto'
import { nodeLibp2pPreset } from '../adapters/libp2p/create-libp2p.js'
import { startMeshNode, type MeshNode, type MeshNodeOptions } from './mesh-node.js'
import { useSha256 } from './sync/sha256.js'

// native SHA-256 for digests and fingerprints (same bytes as the portable one, far less cold-start cost)
useSha256((data) => {
  const d = createHash('sha256').update(data).digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
})

/** Create and start a meshdoc node. */
export async function createMeshNode (opts: MeshNodeOptions = {}): Promise<MeshNode> {
  return await startMeshNode(opts, nodeLibp2pPreset)
}
