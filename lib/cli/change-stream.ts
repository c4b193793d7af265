/**
 * `GET /changes` on the gateway's admin port: the node's `change` events as
 * they happen, one JSON object a line (application/x-ndjson), for `meshdoc
 * tail`. Query: `doc=ID` (repeatable; an exact id, `key:<hex>`, or a glob
 * with `*` matched against the ids the gateway knows; none: every doc), and
 * `patch=1` to get what `tail --patch` needs (the update, and the doc's state
 * on its first line).
 *
 * A line: { time, doc, keyHex, origin, json[, update, state] } with `update`
 * and `state` base64 V1. `doc` is the id the client asked for when it named
 * the doc exactly, else the gateway's id for it (`key:<hex>` when unknown).
 * `json` is the doc as it is when the line is written (it may already hold
 * the next change). A client that reads slower than the changes come is cut
 * off past MAX_BUFFERED bytes, with a last line { error: "slow_reader" }.
 * The stream ends when the gateway stops.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { toString as toBase64 } from 'uint8arrays/to-string'
import * as Y from 'yjs'
import type { DocChange, MeshNode } from '../mesh-node.js'
import { globToRegExp } from '../policy/rules.js'
import { docKeyFor, docKeyHex } from '../protocol/doc-key.js'
import { docToJSON } from './doc-json.js'
import { send } from './http-io.js'

/** bytes a client may leave unread before it is cut off */
const MAX_BUFFERED = 4 * 1024 * 1024
/** docs one request may name */
const MAX_DOCS = 1024

/** One line of the stream. */
export interface ChangeLine {
  time: string
  doc: string
  keyHex: string
  origin: string
  json: Record<string, unknown>
  /** with patch=1: the change (base64 V1 update) */
  update?: string
  /** with patch=1, on a doc's first line: its whole state then (base64 V1 update), the change included */
  state?: string
  /** the last line of a stream the gateway ends: why */
  error?: string
}

/** The admin port's `/changes` handler for `node` (`meshKey`: to find the docs named by id). */
export function changeStream (node: Pick<MeshNode, 'on' | 'off'>, meshKey: string | undefined): (req: IncomingMessage, res: ServerResponse, query: string) => void {
  const key = meshKey !== undefined ? new TextEncoder().encode(meshKey) : undefined
  return (req, res, query) => {
    const params = new URLSearchParams(query)
    const asked = params.getAll('doc')
    if (asked.length > MAX_DOCS) {
      send(res, 400, 'text/plain; charset=utf-8', `at most ${MAX_DOCS} doc= per request\n`)
      return
    }
    // exact ids by key (the gateway may know the doc only by key), globs by the ids it knows
    const byKey = new Map<string, string>()
    const globs: RegExp[] = []
    for (const a of asked) {
      if (/^key:[0-9a-f]{32}$/.test(a)) byKey.set(a.slice(4), a)
      else if (a.includes('*')) globs.push(globToRegExp(a))
      else byKey.set(docKeyHex(docKeyFor(a, key)), a)
    }
    const patch = params.get('patch') === '1'
    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
    if (req.method === 'HEAD') { res.end(); return }
    res.flushHeaders()
    const seen = new Set<string>()
    const onChange = (c: DocChange): void => {
      const named = byKey.get(c.keyHex)
      if (asked.length > 0 && named === undefined && !globs.some(g => g.test(c.docId))) return
      const line: ChangeLine = { time: new Date().toISOString(), doc: named ?? c.docId, keyHex: c.keyHex, origin: c.origin, json: docToJSON(c.doc) }
      if (patch) {
        line.update = toBase64(c.update, 'base64pad')
        if (!seen.has(c.keyHex)) {
          seen.add(c.keyHex)
          line.state = toBase64(Y.encodeStateAsUpdate(c.doc), 'base64pad')
        }
      }
      res.write(JSON.stringify(line) + '\n')
      if (res.writableLength > MAX_BUFFERED) {
        res.end(JSON.stringify({ error: 'slow_reader' }) + '\n')
        stop()
      }
    }
    const stop = (): void => { node.off('change', onChange) }
    node.on('change', onChange)
    res.on('close', stop)
  }
}
