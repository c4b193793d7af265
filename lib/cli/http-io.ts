/** Reading a bounded request body and sending an answer, for the admin port (admin-server.ts, doc-api.ts). */
import type { IncomingMessage, ServerResponse } from 'node:http'

export const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * The request body, or undefined past `max` bytes (announced or sent): then
 * the rest is left unread (the answer closes the connection), never buffered.
 */
export async function readBody (req: IncomingMessage, max: number): Promise<Buffer | undefined> {
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
    const onEnd = (): void => { done(); resolve(Buffer.concat(chunks)) }
    const onError = (err: Error): void => { done(); reject(err) }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
  })
}

export function send (res: ServerResponse, status: number, type: string, body: string | Uint8Array, headers: Record<string, string> = {}): void {
  if (res.headersSent) { res.end(); return }
  res.writeHead(status, { 'content-type': type, 'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength, 'cache-control': 'no-store', ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

/** A refusal as JSON `{ error, message }`: `error` a stable reason code. */
export function sendError (res: ServerResponse, status: number, error: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, JSON_TYPE, JSON.stringify({ error, message }) + '\n', headers)
}
