/**
 * The gateway's local admin port (HTTP, bind it to 127.0.0.1):
 *
 *   GET /healthz   200 "ok" while running, 503 "stopping" during shutdown
 *   GET /metrics   Prometheus text (see metrics.ts)
 *   GET /status    JSON: peers, open docs with sync lag, stored docs, counters
 *   GET /docs      JSON: every stored document (id or key, bytes, last change), as `meshdoc ls --json`
 *   GET /grants    JSON: the grants the node holds and presents (id, issuer, access, docs, validity)
 *   POST /revocations   body: one revocation record (`mdr1.…`, text); 200 JSON {id, kind, target}
 *                  once it is in force, 400 JSON {error: reason, message} if the node refuses it
 *                  (not signed by a trusted owner, forged, garbled), 413 past MAX_BODY_BYTES
 *
 * Who may reach it is where it is bound (--admin; loopback by default), as
 * for every endpoint. POST /revocations changes no more than a peer of the
 * mesh may (a record counts only if a trusted owner signed it, and peers pass
 * them on), but it is still held tighter: a bounded body read within
 * REQUEST_TIMEOUT_MS, and no request a browser sends for a web page (one with
 * an Origin header), so a page the operator opens cannot post to it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { NodeMetrics } from './metrics.js'
import type { NodeSnapshot } from './node-view.js'
import type { StoredDocInfo } from './stored-docs.js'
import { UsageError } from './errors.js'

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
    const path = (req.url ?? '/').split('?')[0]
    try {
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
      }
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /metrics, /status, /docs or /grants\n')
    } catch (err) {
      send(res, 500, 'text/plain; charset=utf-8', `error: ${(err as Error).message}\n`)
    }
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
      send(res, 200, json, JSON.stringify(await revoke(body.trim())) + '\n')
    } catch (err) {
      if ((err as Error)?.name !== 'GrantError') throw err
      const e = err as Error & { reason: string }
      send(res, 400, json, JSON.stringify({ error: e.reason, message: e.message }) + '\n')
    }
  }
}

/**
 * The request body as UTF-8, or undefined past `max` bytes: then the rest is
 * left unread (the answer closes the connection), never buffered.
 */
async function readBody (req: IncomingMessage, max: number): Promise<string | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > max) return undefined
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength
      if (size <= max) { chunks.push(chunk); return }
      done()
      req.pause()
      resolve(undefined)
    }
    const onEnd = (): void => { done(); resolve(Buffer.concat(chunks).toString('utf8')) }
    const onError = (err: Error): void => { done(); reject(err) }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
  })
}

function send (res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.end(); return }
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}
