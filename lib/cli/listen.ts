/**
 * Turning `--listen`, `--ws-port` and `--bootstrap` into multiaddrs, with
 * usage errors that name the flag and the bad value.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { UsageError } from './errors.js'

export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4001']
export const DEFAULT_WS_PORT = '4002'

function check (flag: string, addr: string): string {
  try {
    multiaddr(addr)
  } catch (err) {
    throw new UsageError(`${flag}: "${addr}" is not a multiaddr (${(err as Error).message})`)
  }
  return addr
}

/**
 * The TCP addresses from `--listen`, plus a WebSocket listener on `wsPort` at
 * the host of the first TCP address, unless `wsPort` is "none" or a `/ws`
 * address was listed already.
 */
export function listenAddrs (listen: string[], wsPort: string | undefined): string[] {
  const addrs = listen.map(a => check('--listen', a))
  const off = wsPort === undefined || ['none', 'off', 'false', ''].includes(wsPort.toLowerCase())
  if (off || addrs.some(a => /\/(ws|wss)(\/|$)/.test(a))) return addrs
  const port = Number(wsPort)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--ws-port must be a port number (0 picks a free one) or "none", got "${wsPort}"`)
  const tcp = addrs.map(a => /^\/(ip4|ip6|dns4|dns6)\/([^/]+)\/tcp\/\d+$/.exec(a)).find(m => m !== null)
  const host = tcp != null ? `/${tcp[1]}/${tcp[2]}` : '/ip4/0.0.0.0'
  return [...addrs, `${host}/tcp/${port}/ws`]
}

/** `--bootstrap` addresses, checked; returns the PeerIds they name (for allow-list warnings). */
export function bootstrapAddrs (addrs: string[]): { addrs: string[], peers: string[] } {
  const peers: string[] = []
  for (const a of addrs) {
    check('--bootstrap', a)
    const p = multiaddr(a).getComponents().find(c => c.name === 'p2p')?.value
    if (p !== undefined) peers.push(p)
  }
  return { addrs, peers }
}
