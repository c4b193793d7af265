/**
 * Talking to a running gateway's admin port (admin-server.ts), for `meshdoc
 * status` and `meshdoc revoke --admin`. node:http, not fetch: fetch refuses
 * ports browsers block (6000, 10080, …), and an admin port may be any port.
 */
import http from 'node:http'
import type { HostPort } from './admin-server.js'
import { CliError } from './errors.js'
import type { OptionSpec } from './option-spec.js'

/** `--admin-token-file` of the commands that talk to a gateway's admin port */
export const ADMIN_TOKEN_OPTION: OptionSpec = { type: 'string', valueName: 'FILE', path: true, description: "the gateway's admin token (its --admin-token-file), sent as Authorization: Bearer …" }

/** What to add to an error for an answer's status: the token, for a 401. */
export function statusHint (status: number): string {
  return status === 401 ? ' (the admin port wants its token: --admin-token-file FILE)' : ''
}

export interface AdminAnswer {
  status: number
  statusText: string
  body: string
}

export interface AdminRequest {
  method?: 'GET' | 'POST'
  /** sent as text/plain */
  body?: string
  /** ms */
  timeout: number
  /** the admin token (`--admin-token-file`), sent as `Authorization: Bearer …` */
  token?: string | undefined
}

/** `http://HOST:PORT/path`, with an IPv6 host in brackets. */
export function adminUrl (at: HostPort, path: string): string {
  return `http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}${path}`
}

/**
 * Ask the admin port at `at` for `path`; resolves with any answer. Cannot
 * connect, or no answer within `timeout`: a CliError saying so.
 */
export async function adminRequest (at: HostPort, path: string, req: AdminRequest): Promise<AdminAnswer> {
  try {
    return await new Promise<AdminAnswer>((resolve, reject) => {
      const body = req.body !== undefined ? Buffer.from(req.body, 'utf8') : undefined
      const r = http.request({
        host: at.host,
        port: at.port,
        path,
        method: req.method ?? 'GET',
        timeout: req.timeout,
        headers: {
          ...(body !== undefined ? { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.byteLength } : {}),
          ...(req.token !== undefined ? { authorization: `Bearer ${req.token}` } : {})
        }
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => { chunks.push(c) })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body: Buffer.concat(chunks).toString('utf8') }) })
        res.on('error', reject)
      })
      r.on('timeout', () => {
        const err = new Error(`no answer within ${req.timeout} ms`)
        err.name = 'TimeoutError'
        r.destroy(err)
      })
      r.on('error', reject)
      r.end(body)
    })
  } catch (err) {
    const e = err as Error & { code?: string }
    const why = e.name === 'TimeoutError' ? `no answer within ${req.timeout} ms` : e.code ?? e.message
    throw new CliError(`cannot reach the gateway's admin port at ${adminUrl(at, path)}: ${why} (is \`meshdoc gateway\` running with --admin ${at.host}:${at.port}?)`)
  }
}
