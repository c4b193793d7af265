/**
 * The HTTP document API of the admin port (admin-server.ts hands it every
 * path under /docs/ once the caller is let in; doc-api-store.ts does the work
 * on the node):
 *
 *   GET  /docs/ID          the doc as JSON, as `meshdoc export` prints it
 *   GET  /docs/ID/update   the doc as one Yjs V1 update (application/octet-stream);
 *                          `?since=SV`, a V1 state vector in base64url: only what that state lacks
 *   POST /docs/ID/update   body: one V1 update (Content-Type application/octet-stream);
 *                          200 JSON {stored, stateVector, pendingBytes} once storage committed it
 *
 * ID is the doc id as one path segment, percent-encoded (encodeURIComponent:
 * `sensors%2Fdev-1`); it must be UTF-8, at most MAX_DOC_ID_BYTES, and it is
 * only ever a doc id: `..%2F` names the doc `../`, never a path. A GET never
 * creates a doc: one that holds nothing is 404.
 *
 * Every refusal answers JSON {error, message}, `error` a stable reason code,
 * and is counted (NodeMetrics.docApiRequest: by route and status, refusals by
 * reason), checked in this order: a browser's request for a web page 403
 * `web_page`; a bad id 400 `bad_doc_id`; the policy 403 `forbidden` (none) or
 * `read_only` (a POST with read access); DOC_API_MAX_IN_FLIGHT requests
 * already running 503 `busy`; then per route: 415 `unsupported_media_type`,
 * 413 `too_large` (announced or sent, before it is buffered), 400
 * `malformed_update` (the validator's reason: V2, garbage, truncated, nested
 * too deep), 413 `too_many_items`, 403 `authorship`, 409 `pending_overflow`,
 * 400 `bad_state_vector`, 403 `encrypted` (an end-to-end encrypted doc), 404
 * `not_found`, 503 `unavailable` (storage failed,
 * or the node is stopping: nothing was acknowledged).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { MeshdocError } from '../errors.js'
import { Access } from '../policy/types.js'
import { fromWebPage } from './admin-auth.js'
import { JSON_TYPE, readBody, send, sendError } from './http-io.js'

/** the longest doc id the API takes, in UTF-8 bytes */
export const MAX_DOC_ID_BYTES = 1024
/** doc API requests handled at once (bodies buffered, docs encoded); more are 503 `busy` */
export const DOC_API_MAX_IN_FLIGHT = 8

/** A write or read the store refused; `reason` is the API's error code. */
export class DocRefusedError extends MeshdocError {
  override name = 'DocRefusedError'
  constructor (readonly reason: 'malformed_update' | 'too_many_items' | 'authorship' | 'pending_overflow' | 'bad_state_vector' | 'encrypted', message: string) {
    super(message)
  }
}

/** What a POST stored. */
export interface StoredWrite {
  /** the doc's state vector after it (V1): `?since=` it later gets what came after */
  stateVector: Uint8Array
  /** bytes of structs the doc holds back, waiting for changes it does not have (0: everything is in) */
  pendingBytes: number
}

/** What the API needs from the node (doc-api-store.ts). */
export interface DocApiStore {
  /** the largest update a POST may carry (the node's `maxUpdateBytes`) */
  readonly maxUpdateBytes: number
  /** what the caller may do with the doc */
  access: (docId: string) => Access
  /** the doc as JSON; undefined when it holds nothing */
  json: (docId: string) => Promise<Record<string, unknown> | undefined>
  /** the doc as one V1 update of what `since` lacks; undefined when it holds nothing. DocRefusedError `bad_state_vector` */
  update: (docId: string, since?: Uint8Array) => Promise<Uint8Array | undefined>
  /** apply a V1 update as a local write; resolves once it is stored. DocRefusedError */
  write: (docId: string, update: Uint8Array) => Promise<StoredWrite>
}

export type DocRoute = 'GET /docs/:id' | 'GET /docs/:id/update' | 'POST /docs/:id/update' | 'other /docs/:id'

/** Count one answered request (NodeMetrics.docApiRequest). */
export type CountDocRequest = (route: DocRoute, status: number, reason?: string) => void

const DOC_PATH = /^\/docs\/([^/]+)(\/update)?$/
/** what a percent-encoded path segment may hold (RFC 3986 pchar) */
const SEGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$/
const BASE64URL = /^[A-Za-z0-9_-]*$/

const STATUS: Record<DocRefusedError['reason'], number> = {
  malformed_update: 400, bad_state_vector: 400, too_many_items: 413, authorship: 403, pending_overflow: 409, encrypted: 403
}

/** Is `path` the API's (under /docs/)? `/docs` itself is the admin port's list. */
export function isDocPath (path: string): boolean {
  return path.startsWith('/docs/')
}

/** The route a request counts under. */
export function docRoute (method: string | undefined, path: string): DocRoute {
  const update = DOC_PATH.exec(path)?.[2] !== undefined
  if (method === 'GET' || method === 'HEAD') return update ? 'GET /docs/:id/update' : 'GET /docs/:id'
  return method === 'POST' && update ? 'POST /docs/:id/update' : 'other /docs/:id'
}

export class DocApi {
  private inFlight = 0

  constructor (private readonly store: DocApiStore, private readonly count: CountDocRequest) {}

  /** Answer a refusal on a doc route, counted: also the admin port's (401, 403 `host`). */
  refuse (req: IncomingMessage, res: ServerResponse, path: string, status: number, reason: string, message: string, headers: Record<string, string> = {}): void {
    this.count(docRoute(req.method, path), status, reason)
    // a body left unread is not read after the answer either: the connection ends with it
    sendError(res, status, reason, message, req.complete ? headers : { ...headers, connection: 'close' })
  }

  /** Answer a request for `path` (under /docs/; `query` after the `?`), from a caller the admin port let in. */
  async handle (req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    const route = docRoute(req.method, path)
    const refuse = (status: number, reason: string, message: string, headers?: Record<string, string>): undefined => { this.refuse(req, res, path, status, reason, message, headers) }
    const m = DOC_PATH.exec(path)
    if (m === null) return refuse(404, 'not_found', 'no such route: GET /docs/ID, GET or POST /docs/ID/update, with the doc id percent-encoded as one segment (encodeURIComponent)')
    if (route === 'other /docs/:id') return refuse(405, 'method_not_allowed', m[2] !== undefined ? 'GET or POST /docs/ID/update' : 'GET /docs/ID', { allow: m[2] !== undefined ? 'GET, HEAD, POST' : 'GET, HEAD' })
    // a page the operator opens could otherwise read docs or write them
    if (fromWebPage(req)) return refuse(403, 'web_page', 'refused: a request a browser sent for a web page')
    const docId = docIdFrom(m[1])
    if (docId === undefined) return refuse(400, 'bad_doc_id', `the doc id must be non-empty UTF-8 of at most ${MAX_DOC_ID_BYTES} bytes, percent-encoded as one path segment (encodeURIComponent)`)
    const access = this.store.access(docId)
    const write = route === 'POST /docs/:id/update'
    if (access === Access.NONE) return refuse(403, 'forbidden', `the policy gives this gateway no access to ${JSON.stringify(docId)}`)
    if (write && access !== Access.WRITE) return refuse(403, 'read_only', `the policy lets this gateway only read ${JSON.stringify(docId)}`)
    if (this.inFlight >= DOC_API_MAX_IN_FLIGHT) return refuse(503, 'busy', `${DOC_API_MAX_IN_FLIGHT} document requests are running; try again`, { 'retry-after': '1' })
    this.inFlight++
    try {
      const status = write ? await this.post(req, res, docId, refuse) : await this.get(res, docId, route, query, refuse)
      if (status !== undefined) this.count(route, status)
    } catch (err) {
      const e = err as Error
      if (e instanceof DocRefusedError) return refuse(STATUS[e.reason], e.reason, e.message)
      // the client went away while sending its body (nginx's 499): nothing to answer
      if ((e as { code?: string }).code === 'ECONNRESET') { this.count(route, 499, 'aborted'); return }
      // nothing was acknowledged: the client may send it again
      if (e.name === 'StorageError' || e.name === 'ClosedError') return refuse(503, 'unavailable', `not stored: ${e.message}`)
      this.count(route, 500)
      throw err
    } finally {
      this.inFlight--
    }
  }

  /** GET: the status sent, or undefined when refused (counted there). */
  private async get (res: ServerResponse, docId: string, route: DocRoute, query: string, refuse: (status: number, reason: string, message: string) => undefined): Promise<number | undefined> {
    const notFound = (): undefined => { refuse(404, 'not_found', `no document ${JSON.stringify(docId)} here (or it holds nothing)`) }
    if (route === 'GET /docs/:id') {
      const json = await this.store.json(docId)
      if (json === undefined) return notFound()
      send(res, 200, JSON_TYPE, JSON.stringify(json) + '\n')
      return 200
    }
    const sinceText = new URLSearchParams(query).get('since') ?? undefined
    if (sinceText !== undefined && !BASE64URL.test(sinceText)) return refuse(400, 'bad_state_vector', 'since must be a Yjs state vector in base64url (A-Z a-z 0-9 - _, no padding)')
    const update = await this.store.update(docId, sinceText !== undefined ? Buffer.from(sinceText, 'base64url') : undefined)
    if (update === undefined) return notFound()
    send(res, 200, 'application/octet-stream', update)
    return 200
  }

  /** POST: the status sent, or undefined when refused (counted there). */
  private async post (req: IncomingMessage, res: ServerResponse, docId: string, refuse: (status: number, reason: string, message: string, headers?: Record<string, string>) => undefined): Promise<number | undefined> {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
    if (type !== 'application/octet-stream') return refuse(415, 'unsupported_media_type', 'send the update as Content-Type: application/octet-stream')
    const max = this.store.maxUpdateBytes
    const body = await readBody(req, max)
    if (body === undefined) return refuse(413, 'too_large', `an update is at most ${max} bytes (the node's maxUpdateBytes); split a bigger change`)
    const stored = await this.store.write(docId, new Uint8Array(body.buffer, body.byteOffset, body.byteLength))
    send(res, 200, JSON_TYPE, JSON.stringify({ stored: true, stateVector: Buffer.from(stored.stateVector).toString('base64url'), pendingBytes: stored.pendingBytes }) + '\n')
    return 200
  }
}

/** The doc id a path segment names, or undefined when it names none. */
function docIdFrom (segment: string): string | undefined {
  if (!SEGMENT.test(segment)) return undefined
  let id: string
  try {
    id = decodeURIComponent(segment) // throws on bytes that are not UTF-8 (overlong forms and surrogates included)
  } catch {
    return undefined
  }
  return id.length > 0 && Buffer.byteLength(id, 'utf8') <= MAX_DOC_ID_BYTES ? id : undefined
}
