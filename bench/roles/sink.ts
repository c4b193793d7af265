/**
 * The receiving end of the machine probes: a raw TCP server and a libp2p node
 * (TCP + Noise + yamux) with a protocol that swallows bytes. `wait` resolves
 * once `bytes` have arrived, with the time of the last one.
 */
import { createServer, type AddressInfo } from 'node:net'
import { createDefaultLibp2p } from '../../adapters/libp2p/index.js'
import { now } from '../core/rpc.js'
import type { RoleFactory } from './types.js'

export const SINK_PROTOCOL = '/meshdoc-bench/sink/1.0.0'

type Kind = 'tcp' | 'libp2p'

const sink: RoleFactory = async () => {
  const got: Record<Kind, number> = { tcp: 0, libp2p: 0 }
  const last: Record<Kind, number> = { tcp: 0, libp2p: 0 }
  const waiters: Array<() => void> = []
  const count = (k: Kind, n: number): void => {
    got[k] += n
    last[k] = now()
    for (const w of waiters.splice(0)) w()
  }
  const server = createServer(socket => { socket.on('data', (d: Buffer) => { count('tcp', d.length) }) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const libp2p = await createDefaultLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  await libp2p.start()
  await libp2p.handle(SINK_PROTOCOL, (stream) => {
    stream.addEventListener('message', (evt) => { count('libp2p', evt.data.byteLength) })
  })
  return {
    info: { tcpPort: (server.address() as AddressInfo).port, addrs: libp2p.getMultiaddrs().map(String) },
    handlers: {
      wait: async ({ kind, bytes, timeoutMs }: { kind: Kind, bytes: number, timeoutMs: number }) => {
        const start = got[kind]
        const end = Date.now() + timeoutMs
        while (got[kind] - start < bytes) {
          if (Date.now() > end) throw new Error(`only ${got[kind] - start} of ${bytes} ${kind} bytes arrived`)
          await new Promise<void>(resolve => { waiters.push(resolve); setTimeout(resolve, 100) })
        }
        return { tLast: last[kind] }
      }
    },
    close: async () => {
      server.close()
      await libp2p.stop()
    }
  }
}

export default sink
