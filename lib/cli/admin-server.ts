/**
 * The gateway's local admin port (HTTP, bind it to 127.0.0.1):
 *
 *   GET /healthz   200 "ok" while running, 503 "stopping" during shutdown
 *   GET /metrics   Prometheus text (see metrics.ts)
 *   GET /status    JSON: peers, open docs with sync lag, stored docs, counters
 *   GET /docs      JSON: every stored document (id or key, bytes, last change), as `meshdoc ls --json`
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { NodeMetrics } from './metrics.js'
import type { NodeSnapshot } from './node-view.js'
import type { StoredDocInfo } from './stored-docs.js'
import { UsageError } from './errors.js'

export interface AdminServerDeps {
  snapshot: () => Promise<NodeSnapshot>
  /** the stored documents (`/docs`) */
  docs?: () => Promise<StoredDocInfo[]>
  metrics: NodeMetrics
  /** false once shutdown began */
  healthy: () => boolean
}

export interface HostPort { host: string, port: number }

/** Parse `HOST:PORT`, `[::1]:PORT` or `PORT` (host 127.0.0.1). */
export function parseHostPort (s: string, what = '--admin'): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s)
  const port = m !== null ? Number(m[3]) : NaN
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${what} must be HOST:PORT (e.g. 127.0.0.1:9464), got "${s}"`)
  }
  return { host: (m[1] ?? '') !== '' ? m[1] : (m[2] ?? '') !== '' ? m[2] : '127.0.0.1', port }
}

export class AdminServer {
  private readonly server: Server

  constructor (private readonly deps: AdminServerDeps) {
    this.server = createServer((req, res) => { void this.handle(req, res) })
  }

  /** Listen; resolves with the bound address (port 0 picks a free one). */
  async listen (at: HostPort): Promise<HostPort> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(at.port, at.host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const a = this.server.address() as AddressInfo
    return { host: a.address, port: a.port }
  }

  async close (): Promise<void> {
    if (!this.server.listening) return
    this.server.closeAllConnections()
    await new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' })
        return
      }
      switch (path) {
        case '/healthz':
          if (this.deps.healthy()) send(res, 200, 'text/plain; charset=utf-8', 'ok\n')
          else send(res, 503, 'text/plain; charset=utf-8', 'stopping\n')
          return
        case '/metrics':
          send(res, 200, this.deps.metrics.contentType, await this.deps.metrics.render(await this.deps.snapshot()))
          return
        case '/status':
          send(res, 200, 'application/json; charset=utf-8', JSON.stringify(await this.deps.snapshot(), null, 2) + '\n')
          return
        case '/docs':
          if (this.deps.docs === undefined) break
          send(res, 200, 'application/json; charset=utf-8', JSON.stringify(await this.deps.docs()) + '\n')
          return
      }
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /metrics, /status or /docs\n')
    } catch (err) {
      send(res, 500, 'text/plain; charset=utf-8', `error: ${(err as Error).message}\n`)
    }
  }
}

function send (res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.end(); return }
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
