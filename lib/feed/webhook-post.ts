/**
 * One webhook request: POST a JSON body with node:http(s) (fetch refuses
 * ports browsers block, and a receiver may listen on any), signed with
 * HMAC-SHA256, within a deadline for the whole exchange. The answer's body
 * is read up to a few KiB and dropped. Never throws: resolves with what
 * happened, for the caller to count.
 */
import { createHmac, type KeyObject } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'

/** bytes of a receiver's answer read (and dropped) before the connection is closed */
const MAX_ANSWER_BYTES = 16 * 1024

/** How one attempt ended: `ok` (2xx), the receiver's refusal (`status`), or no answer. */
export type PostOutcome =
  | { kind: 'ok', status: number }
  | { kind: 'status', status: number }
  | { kind: 'timeout' }
  | { kind: 'network', code: string }

export const SIGNATURE_HEADER = 'x-meshdoc-signature'
export const IDEMPOTENCY_HEADER = 'idempotency-key'

/** `sha256=<hex>`: HMAC-SHA256 of the body with the webhook's secret (the header receivers check). */
export function signature (secret: KeyObject | Uint8Array, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

export interface PostOptions {
  url: URL
  body: Uint8Array
  headers: Record<string, string>
  /** the whole request, connection to answer, must finish within this */
  timeoutMs: number
  agent: http.Agent
}

export async function post (opts: PostOptions): Promise<PostOutcome> {
  const { url, body } = opts
  const lib = url.protocol === 'https:' ? https : http
  return await new Promise<PostOutcome>((resolve) => {
    let settled = false
    const done = (outcome: PostOutcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const req = lib.request(url, {
      method: 'POST',
      agent: opts.agent,
      headers: { 'content-type': 'application/json', 'content-length': String(body.byteLength), ...opts.headers }
    }, (res) => {
      const status = res.statusCode ?? 0
      let read = 0
      res.on('data', (chunk: Buffer) => {
        read += chunk.byteLength
        if (read > MAX_ANSWER_BYTES) res.destroy()
      })
      res.on('error', () => { done(answered(status)) })
      res.on('close', () => { done(answered(status)) })
    })
    const timer = setTimeout(() => {
      done({ kind: 'timeout' })
      req.destroy()
    }, opts.timeoutMs)
    req.on('error', (err: Error & { code?: string }) => { done({ kind: 'network', code: err.code ?? err.name }) })
    req.end(body)
  })
}

function answered (status: number): PostOutcome {
  return status >= 200 && status < 300 ? { kind: 'ok', status } : { kind: 'status', status }
}
