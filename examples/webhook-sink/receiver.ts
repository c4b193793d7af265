/**
 * What a webhook receiver does with a meshdoc gateway's requests
 * (`meshdoc gateway --webhook URL`, README "Get data out"): check the
 * signature, drop a batch it has taken before (by its idempotency key), and
 * read what the batch added. Depends only on node:crypto and yjs, so it can
 * be copied into any Node service.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import * as Y from 'yjs'

/** The JSON body of a webhook request (lib/feed/webhook.ts `WebhookPayload`). */
export interface Batch {
  /** the doc's id (`key:<hex>` when the gateway does not know it) */
  doc: string
  keyHex: string
  idempotencyKey: string
  /** base64 V1 state vectors: where the batch starts (what you acknowledged before), and ends */
  since: string
  stateVector: string
  /** base64 V1 update: the doc's changes since `since` */
  update: string
  /** the doc as JSON after the batch */
  json: Record<string, unknown>
  /** when the gateway made the batch, ms since the epoch */
  ts: number
}

/** True when `header` (x-meshdoc-signature) is `sha256=` the HMAC-SHA256 of the raw body with `secret`. */
export function verifySignature (secret: string | Uint8Array, body: Uint8Array, header: string | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`)
  const got = Buffer.from(header ?? '')
  return got.length === expected.length && timingSafeEqual(got, expected)
}

/**
 * The values a batch appended to lists (a sensor doc's readings): the
 * content of every list item its update adds, in order. Map entries are left
 * out; text is left out. A batch holds only what is new since `since`, so
 * batches taken once each give every value once.
 */
export function addedValues (batch: Pick<Batch, 'update'>): unknown[] {
  const { structs } = Y.decodeUpdate(Buffer.from(batch.update, 'base64'))
  const out: unknown[] = []
  for (const s of structs) {
    if (s instanceof Y.Item && s.parentSub === null && s.content instanceof Y.ContentAny) out.push(...s.content.getContent())
  }
  return out
}
