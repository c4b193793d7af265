/**
 * The gateway's y-websocket endpoint: `--yws HOST:PORT` (off by default)
 * and `--yws-prefix PATH`. Its connection caps are the fleet's
 * (`--max-connections`, `--connections-per-host`), counted apart from
 * libp2p's. The endpoint is adapters/y-websocket (`CliPlatform.ywsBridge`).
 */
import { parseHostPort, type HostPort } from './admin-server.js'
import { str } from './context.js'
import { UsageError } from './errors.js'
import type { OptionSpec, OptionValue } from './option-spec.js'

export const YWS_OPTIONS: Record<string, OptionSpec> = {
  yws: { type: 'string', valueName: 'HOST:PORT', description: 'serve y-websocket clients (an unchanged WebsocketProvider) here: the room is the doc id; off by default' },
  'yws-prefix': { type: 'string', valueName: 'PATH', default: '/', description: 'with --yws: rooms are the URL paths under this one (ws://HOST:PORT/PATH/<room>)' }
}

/** Where the endpoint listens and its prefix; undefined without --yws. */
export function ywsOptions (values: Record<string, OptionValue | undefined>): { at: HostPort, prefix: string } | undefined {
  const at = str(values.yws)
  if (at === undefined || ['none', 'off'].includes(at.toLowerCase())) return undefined
  const prefix = str(values['yws-prefix']) ?? '/'
  if (!/^\/?[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(prefix) || prefix.includes('?') || prefix.includes('//')) {
    throw new UsageError(`--yws-prefix must be a URL path such as /yjs, got "${prefix}"`, 'gateway')
  }
  return { at: parseHostPort(at, '--yws'), prefix }
}
