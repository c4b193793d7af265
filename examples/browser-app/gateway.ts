/**
 * The example's gateway, in the runner's process: what `meshdoc gateway`
 * runs (identity and fs storage in the data directory, TCP and a WebSocket
 * listener for browsers, a circuit relay for WebRTC between browsers, every
 * stored doc served by key, authorship and write quotas), plus grants:
 *
 * - it trusts the owner key that signs the login bridge's grants
 *   (`trust.owners`), so a browser gets exactly what its grant gives it:
 *   write on `notes/<user>/**`, and nothing without one;
 * - it holds a grant itself (write on `notes/**`, renewed daily by its own
 *   `grantProvider`), because the pages check the grants of the peers they
 *   sync with too: the gateway's, and another browser's over WebRTC.
 */
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsStorageAdapter } from '../../adapters/fs-storage/index.js'
import { createMeshNode, issueGrant, type MeshNode } from '../../adapters/presets/node.js'

const DAY = 86_400_000

export interface GatewayOptions {
  /** identity and documents (the layout of `meshdoc gateway --data`) */
  dataDir: string
  /** 127.0.0.1 ports: TCP, and WebSockets for browsers */
  ports: { tcp: number, ws: number }
  /** the owner key: the gateway trusts it, and it signs the gateway's own grant */
  owner: PrivateKey
  log?: (line: string) => void
}

export async function startGateway ({ dataDir, ports, owner, log }: GatewayOptions): Promise<MeshNode> {
  const node = await createMeshNode({
    storage: new FsStorageAdapter(dataDir),
    privateKey: 'storage',
    listen: [`/ip4/127.0.0.1/tcp/${ports.tcp}`, `/ip4/127.0.0.1/tcp/${ports.ws}/ws`],
    serveAllDocs: true,
    relay: true,
    // `meshdoc gateway`'s defaults for writers
    authorship: { relays: [] },
    quota: { maxBytes: 2 ** 30, maxDocs: 10_000 },
    trust: { owners: [peerIdFromPrivateKey(owner).toString()] },
    grantProvider: async (peerId) => await issueGrant({ key: owner, audience: peerId, access: 'write', docs: ['notes/**'], expiresAt: Date.now() + DAY })
  })
  if (log !== undefined) {
    node.on('peer:connect', (p) => { log(`peer connected …${p.slice(-6)}`) })
    node.on('peer:disconnect', (p) => { log(`peer disconnected …${p.slice(-6)}`) })
    node.on('grant:refused', (r) => { log(`refused a grant of …${r.peer.slice(-6)}: ${r.reason}`) })
  }
  return node
}

/** The gateway's WebSocket address, as browsers dial it (`…/ws/p2p/<PeerId>`). */
export function webSocketAddr (node: MeshNode): string {
  const ws = node.multiaddrs.find(a => /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//.test(a))
  if (ws === undefined) throw new Error(`the gateway has no WebSocket address: ${node.multiaddrs.join(' ')}`)
  return ws
}
