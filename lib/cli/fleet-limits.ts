/**
 * How many devices a gateway admits, and how fast: the connection limits of
 * the Node preset (adapters/libp2p/create-libp2p.ts) as gateway flags. The
 * defaults suit devices on their own addresses; a fleet behind one NAT (or
 * one test host) shares one host's limits and needs the per-host ones
 * raised. README, "A fleet on one gateway", says how to size them.
 */
import type { MeshNodeOptions } from '../mesh-node.js'
import { str } from './context.js'
import { UsageError } from './errors.js'
import type { OptionSpec, OptionValue } from './option-spec.js'

export const FLEET_OPTIONS: Record<string, OptionSpec> = {
  'max-connections': { type: 'string', valueName: 'N', default: '1024', description: 'connections in all (devices, other gateways, browsers); past it new ones are refused' },
  'max-handshakes': { type: 'string', valueName: 'N', default: '64', description: 'inbound connections in their handshake at once, all hosts together' },
  'handshakes-per-host': { type: 'string', valueName: 'N', default: '4', description: 'of those, from one host (IPv4 address or IPv6 /64): raise it for a fleet behind one NAT' },
  'connections-per-host': { type: 'string', valueName: 'N', default: '128', description: 'inbound connections one host may hold open: raise it for a fleet behind one NAT' },
  'connection-rate-per-host': { type: 'string', valueName: 'N', default: '20', description: 'inbound connections accepted per second from one host' },
  'ping-interval': { type: 'string', valueName: 'SECONDS', default: '30', description: 'ping each connection this often; one that does not answer within 15 s (or the interval, if shorter) is dropped' }
}

function positive (flag: string, value: string | undefined, fallback: string): number {
  const v = value ?? fallback
  const n = Number(v)
  if (!/^\s*\d+(\.\d+)?\s*$/.test(v) || !Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a number above 0, got "${v}"`, 'gateway')
  return n
}

const whole = (flag: string, value: string | undefined, fallback: string): number => {
  const n = positive(flag, value, fallback)
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} must be a whole number, got "${value ?? fallback}"`, 'gateway')
  return n
}

/** The node options for these flags. */
export function fleetOptions (values: Record<string, OptionValue | undefined>): Pick<MeshNodeOptions, 'maxConnections' | 'maxPendingHandshakes' | 'pendingHandshakesPerHost' | 'inboundConnectionsPerHost' | 'inboundConnectionThreshold' | 'linkPing'> {
  const flag = (name: string): number => whole(`--${name}`, str(values[name]), FLEET_OPTIONS[name].default as string)
  const pingMs = positive('--ping-interval', str(values['ping-interval']), FLEET_OPTIONS['ping-interval'].default as string) * 1000
  return {
    maxConnections: flag('max-connections'),
    maxPendingHandshakes: flag('max-handshakes'),
    pendingHandshakesPerHost: flag('handshakes-per-host'),
    inboundConnectionsPerHost: flag('connections-per-host'),
    inboundConnectionThreshold: flag('connection-rate-per-host'),
    linkPing: { intervalMs: pingMs, timeoutMs: Math.min(15_000, pingMs) }
  }
}
