/**
 * The default libp2p stack for a Node meshdoc node: TCP and WebSockets,
 * always Noise, yamux. Nothing else: no DHT, no identify push, no metrics.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'

export interface DefaultLibp2pOptions {
  listen?: string[]
  privateKey?: PrivateKey
}

export async function createDefaultLibp2p (opts: DefaultLibp2pOptions = {}): Promise<Libp2p> {
  return await createLibp2p({
    ...(opts.privateKey !== undefined ? { privateKey: opts.privateKey } : {}),
    addresses: { listen: opts.listen ?? [] },
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      // peers keep their one sync stream open; the connection monitor pings via yamux keep-alive
      maxConnections: 1024
    }
  })
}
