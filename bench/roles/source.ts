/** The sending end of the machine probes: bulk TCP, bulk libp2p stream, and dial times. */
import { connect } from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { createDefaultLibp2p } from '../../adapters/libp2p/index.js'
import { now } from '../core/rpc.js'
import { SINK_PROTOCOL } from './sink.js'
import type { RoleFactory } from './types.js'

const CHUNK = 64 * 1024

const source: RoleFactory = async () => {
  const libp2p = await createDefaultLibp2p()
  await libp2p.start()
  const chunk = new Uint8Array(CHUNK).fill(7)
  return {
    info: {},
    handlers: {
      tcp: async ({ port, bytes }: { port: number, bytes: number }) => {
        const socket = connect(port, '127.0.0.1')
        await once(socket, 'connect')
        const t0 = now()
        for (let sent = 0; sent < bytes; sent += CHUNK) {
          if (!socket.write(chunk)) await once(socket, 'drain')
        }
        const t1 = now()
        socket.end()
        return { t0, t1 }
      },
      libp2p: async ({ addr, bytes }: { addr: string, bytes: number }) => {
        const stream = await libp2p.dialProtocol(multiaddr(addr), SINK_PROTOCOL)
        const t0 = now()
        for (let sent = 0; sent < bytes; sent += CHUNK) {
          if (!stream.send(chunk)) {
            await new Promise<void>(resolve => { stream.addEventListener('drain', () => { resolve() }, { once: true }) })
          }
        }
        const t1 = now()
        await stream.close()
        return { t0, t1 }
      },
      dials: async ({ addr, count }: { addr: string, count: number }) => {
        const ma = multiaddr(addr)
        const times: number[] = []
        // stay under the listener's per-host inbound rate limit (connectionManager.inboundConnectionThreshold, 20/s; docs/SECURITY.md item 8)
        await sleep(1100)
        for (let i = 0; i < count; i++) {
          if (i > 0) await sleep(300)
          const t0 = now()
          const conn = await libp2p.dial(ma)
          times.push(now() - t0)
          await libp2p.hangUp(conn.remotePeer)
        }
        return { times }
      }
    },
    close: async () => { await libp2p.stop() }
  }
}

export default source
