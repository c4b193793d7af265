/**
 * The gateway's admin port (HTTP; 127.0.0.1 by default, a token required on any other address):
 *
 *   GET /healthz   200 "ok" while running, 503 "stopping" during shutdown
 *   GET /metrics   Prometheus text (see metrics.ts)
 *   GET /status    JSON: peers, open docs with sync lag, stored docs, counters
 *   GET /docs      JSON: every stored document (id or key, bytes, last change), as `meshdoc ls --json`
 *   GET /grants    JSON: the grants the node holds and presents (id, issuer, access, docs, validity)
 *   POST /revocations   body: one revocation record (`mdr1.…`, text); 200 JSON {id, kind, target}
 *                  once it is in force, 400 JSON {error: reason, message} if the node refuses it
 *                  (not signed by a trusted owner, forged, garbled), 413 past MAX_BODY_BYTES
 *   GET /changes[?doc=ID…][&patch=1]   the node's changes as JSON lines, as they are stored
 *                  (`meshdoc tail`; change-stream.ts)
 *   GET /docs/ID, GET /docs/ID/update[?since=SV], POST /docs/ID/update
 *                  the HTTP document API: a doc as JSON or as a Yjs V1 update, and a V1
 *                  update applied as the gateway's own write (doc-api.ts)
 *
 * Who may use it (admin-auth.ts): without a token (`--admin-token-file`) the
 * port is bound to loopback only, and every request is the operator's, but
 * one whose Host header names anything else (DNS rebinding: 403 `host`).
 * With a token, every request but /healthz must carry it (`Authorization:
 * Bearer TOKEN`; 401 `unauthorized` otherwise), wherever the port is bound;
 * on an address other than loopback the gateway does not start without one.
 * POST /revocations changes no more than a peer of the mesh may (a record
 * counts only if a trusted owner signed it, and peers pass them on); the
 * document API reads and writes docs as the gateway itself, within its
 * policy. Both are held tighter: a bounded body read within
 * REQUEST_TIMEOUT_MS, and no request a browser sends for a web page (one with
 * an Origin header; for the document API also one `Sec-Fetch-Site` marks as
 * from another site), so a page the operator opens cannot use them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { NodeMetrics } from './metrics.js'
import type { NodeSnapshot } from './node-view.js'
import type { StoredDocInfo } from './stored-docs.js'
import { UsageError } from './errors.js'
import { bearerMatches, hostIsLoopback } from './admin-auth.js'
import { DocApi, isDocPath, type DocApiStore } from './doc-api.js'
import { readBody, send, sendError } from './http-io.js'

/** the largest POST body read (a revocation record is at most 2 KiB printed) */
export const MAX_BODY_BYTES = 4096
/** a request's headers and body must arrive within this */
const REQUEST_TIMEOUT_MS = 10_000

/** A held grant, as `/grants` lists it. */
export interface HeldGrantInfo {
  id: string
  issuer: string
  access: string
  docs: string[]
  notBefore: string
  expiresAt: string
  delegate: boolean
}

/** A revocation in force, as `POST /revocations` answers. */
export interface RevocationInfo { id: string, kind: 'grant' | 'peer', target: string }

export interface AdminServerDeps {
  snapshot: () => Promise<NodeSnapshot>
  /** the stored documents (`/docs`) */
  docs?: () => Promise<StoredDocInfo[]>
  /** the grants the node holds (`/grants`) */
  grants?: () => HeldGrantInfo[]
  /** put a revocation record in force (`POST /revocations`); rejects with a GrantError if the node refuses it */
  revoke?: (record: string) => Promise<RevocationInfo>
  metrics: NodeMetrics
  /** false once shutdown began */
  healthy: () => boolean
  /** the HTTP document API (`/docs/ID…`): what it reads and writes on the node (doc-api-store.ts) */
  docApi?: DocApiStore
  /** every request but /healthz must carry it (`Authorization: Bearer TOKEN`); without one, only loopback Host headers are served */
  token?: string
  /** `GET /changes`: the node's changes as a stream of JSON lines, for `meshdoc tail` (change-stream.ts) */
  changes?: (req: IncomingMessage, res: ServerResponse, query: string) => void
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
  private readonly docApi: DocApi | undefined

  constructor (private readonly deps: AdminServerDeps) {
    this.docApi = deps.docApi !== undefined ? new DocApi(deps.docApi, deps.metrics.docApiRequest) : undefined
    this.server = createServer((req, res) => { void this.handle(req, res) })
    this.server.requestTimeout = REQUEST_TIMEOUT_MS
    this.server.headersTimeout = REQUEST_TIMEOUT_MS
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
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    const query = q < 0 ? '' : url.slice(q + 1)
    const docApi = isDocPath(path) ? this.docApi : undefined
    try {
      const refused = path === '/healthz' ? undefined : this.refusal(req)
      if (refused !== undefined) {
        const { status, reason, message, headers } = refused
        if (docApi !== undefined) docApi.refuse(req, res, path, status, reason, message, headers)
        else sendError(res, status, reason, message, headers)
        return
      }
      if (docApi !== undefined) {
        await docApi.handle(req, res, path, query)
        return
      }
      if (path === '/revocations' && this.deps.revoke !== undefined) {
        await this.postRevocation(req, res, this.deps.revoke)
        return
      }
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
        case '/grants':
          if (this.deps.grants === undefined) break
          send(res, 200, 'application/json; charset=utf-8', JSON.stringify(this.deps.grants(), null, 2) + '\n')
          return
        case '/changes':
          if (this.deps.changes === undefined) break
          this.deps.changes(req, res, query)
          return
      }
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /metrics, /status, /docs or /grants\n')
    } catch (err) {
      send(res, 500, 'text/plain; charset=utf-8', `error: ${(err as Error).message}\n`)
    }
  }

  /** Why the caller may not use the port (admin-auth.ts), or undefined if it may. */
  private refusal (req: IncomingMessage): { status: number, reason: string, message: string, headers: Record<string, string> } | undefined {
    const token = this.deps.token
    if (token !== undefined) {
      if (bearerMatches(req, token)) return undefined
      return { status: 401, reason: 'unauthorized', message: "this admin port wants its token: Authorization: Bearer TOKEN (the gateway's --admin-token-file)", headers: { 'www-authenticate': 'Bearer realm="meshdoc admin"', connection: 'close' } }
    }
    if (hostIsLoopback(req)) return undefined
    return { status: 403, reason: 'host', message: 'refused: the Host header names no loopback address (a page whose name resolves here?)', headers: { connection: 'close' } }
  }

  private async postRevocation (req: IncomingMessage, res: ServerResponse, revoke: (record: string) => Promise<RevocationInfo>): Promise<void> {
    const json = 'application/json; charset=utf-8'
    if (req.method !== 'POST') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed: POST a revocation record (mdr1.…)\n', { allow: 'POST' })
      return
    }
    if (req.headers.origin !== undefined) {
      send(res, 403, 'text/plain; charset=utf-8', 'refused: a request from a web page\n', { connection: 'close' })
      return
    }
    const body = await readBody(req, MAX_BODY_BYTES)
    if (body === undefined) {
      send(res, 413, 'text/plain; charset=utf-8', `too large: a revocation record is at most ${MAX_BODY_BYTES} bytes\n`, { connection: 'close' })
      return
    }
    try {
      send(res, 200, json, JSON.stringify(await revoke(body.toString('utf8').trim())) + '\n')
    } catch (err) {
      if ((err as Error)?.name !== 'GrantError') throw err
      const e = err as Error & { reason: string }
      send(res, 400, json, JSON.stringify({ error: e.reason, message: e.message }) + '\n')
    }
  }
}
