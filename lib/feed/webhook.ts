/**
 * One webhook: a doc's changes are POSTed to a URL at least once, in order
 * per doc, through a transactional outbox in the node's storage
 * (webhook-record.ts). Per doc:
 *
 *   changed ──debounce──▶ build: the batch (the doc since the cursor) is
 *   written to storage ──▶ POST until 2xx ──▶ the cursor moves to the
 *   batch's end and the outbox entry goes, in one write ──▶ next batch
 *
 * What must hold, and why:
 * - A batch is written before it is posted, and posted as those bytes until
 *   a 2xx: after a restart (kill -9 included) it is sent again as it was, so
 *   its idempotency key lets the receiver drop it exactly. A batch is
 *   replayed only if no 2xx for it was recorded: the last unacknowledged one.
 * - One batch per doc at a time; the next starts where the last one's
 *   acknowledged end is (`Cursor`): nothing skipped, nothing overlapping.
 * - A batch is the doc as it is when it is built (the live doc, or storage
 *   when the doc is not loaded), from the cursor's state vector, with the
 *   doc's whole delete set. Whatever it holds is durable before the POST:
 *   in the doc's storage, or in the outbox entry itself.
 * - Changes the gateway stored but never turned into a batch (a crash
 *   between the commit and the outbox write, or a stop while a doc was
 *   dirty) are found by the sweep (webhooks.ts), which compares stored docs
 *   changed since the webhook's watermark with their cursor.
 * - Bounded: one outbox entry per doc; at most `concurrency` requests, each
 *   within `timeoutMs`; at most `maxPendingDocs` docs waiting (past it the
 *   rest is left to a later sweep, counted as overflow). A failing receiver
 *   pauses the whole webhook with exponential backoff and jitter
 *   (then one probe at a time); a refusal of one batch (4xx) backs off that
 *   doc only. Nothing here blocks the event loop or another webhook.
 */
import { createHash, createSecretKey, type KeyObject } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import * as Y from 'yjs'
import { equals } from 'uint8arrays/equals'
import { toString as toBase64 } from 'uint8arrays/to-string'
import { docToJSON } from '../cli/doc-json.js'
import { logger } from '../log.js'
import { globToRegExp } from '../policy/rules.js'
import type { StorageAdapter } from '../storage/types.js'
import { DueQueue } from './due-queue.js'
import { GroupedWrites } from './grouped-writes.js'
import { loadStoredDoc } from './stored-doc.js'
import { IDEMPOTENCY_HEADER, post, SIGNATURE_HEADER, signature, type PostOutcome } from './webhook-post.js'
import { decodeDocRecord, decodeHookRecord, docRecordKey, encodeDocRecord, encodeHookRecord, hookRecordKey, hooksPrefix, type Cursor, type OutboxBatch } from './webhook-record.js'

const log = logger('webhook')

/** docs worked on at once per request slot: the others build their batch and write it to the outbox meanwhile */
const RUNS_PER_REQUEST = 4

export interface WebhookOptions {
  /** http: or https: URL the batches are POSTed to */
  url: string
  /** HMAC-SHA256 key: each request carries `x-meshdoc-signature: sha256=<hex>` of its body */
  secret?: Uint8Array | undefined
  /** only docs whose id matches one of these globs (`*` within a path part, `**` across); default: every doc */
  docs?: readonly string[] | undefined
  /** a doc's changes are posted this long after its first change since the last batch (default 250 ms) */
  debounceMs?: number
  /** a request must be answered within this (default 10 s) */
  timeoutMs?: number
  /** requests in flight at once, each for a different doc (default 16) */
  concurrency?: number
  /** backoff after a failure: first delay and ceiling (default 500 ms, 60 s) */
  minBackoffMs?: number
  maxBackoffMs?: number
  /** docs waiting for delivery tracked at once (default 100,000); past it, a later sweep finds the rest */
  maxPendingDocs?: number
}

/** Why an attempt failed, as counted (`status_4xx`: any answer but 2xx and 5xx, redirects included). */
export type FailureReason = 'timeout' | 'network' | 'status_4xx' | 'status_5xx' | 'storage'

/** What a webhook counts (read at scrape time, webhook-metrics.ts). */
export interface WebhookCounters {
  /** batches the receiver acknowledged (2xx) */
  delivered: number
  /** failed attempts, by reason */
  failed: Record<FailureReason, number>
  /** attempts that sent a batch again (after a failure, or after a restart) */
  retries: number
  /** docs that changed while `maxPendingDocs` were waiting (left to a sweep) */
  overflow: number
}

interface DocState {
  readonly keyHex: string
  docId: string
  cursor: Cursor
  outbox: (OutboxBatch & { since: number, resend: boolean }) | undefined
  /** bumped by every change; `built` is the value the last batch covered */
  changes: number
  built: number
  /** when the oldest change not yet in a batch was seen (0: none) */
  dirtySince: number
  doc: WeakRef<Y.Doc> | undefined
  /** not before this time (a failed attempt's backoff) */
  notBefore: number
  attempts: number
  queued: boolean
  busy: boolean
}

/** The state of `doc` as a cursor: its state vector and a digest of its delete set. */
export function cursorOf (doc: Y.Doc): Cursor {
  return { stateVector: Y.encodeStateVector(doc), deletes: deleteDigest(doc) }
}

/**
 * SHA-256 of the doc's delete set in a canonical form (clients in order,
 * ranges merged), so that the live doc and the same doc loaded from storage
 * agree: a deletion moves no state vector, and this tells one from nothing.
 */
function deleteDigest (doc: Y.Doc): Uint8Array {
  const ds = Y.createDeleteSetFromStructStore(doc.store)
  const h = createHash('sha256')
  for (const client of [...ds.clients.keys()].sort((a, b) => a - b)) {
    h.update(`${client}:`)
    for (const d of ds.clients.get(client) ?? []) h.update(`${d.clock}+${d.len},`)
  }
  return h.digest()
}

const EMPTY_CURSOR: Cursor = cursorOf(new Y.Doc())

/** The id a webhook's records are kept under: a hash of its URL (another URL is another webhook, with cursors of its own). */
export function hookIdFor (url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16)
}

export class Webhook {
  readonly id: string
  readonly url: URL
  /** the URL without credentials, query or fragment: for logs and metrics */
  readonly label: string
  readonly counters: WebhookCounters = { delivered: 0, failed: { timeout: 0, network: 0, status_4xx: 0, status_5xx: 0, storage: 0 }, retries: 0, overflow: 0 }
  /** each delivered batch: seconds from its oldest change to the receiver's 2xx */
  onDelivered: ((seconds: number) => void) | undefined
  /** the watermark read at load (0: a new webhook) */
  watermark = 0
  private readonly docs = new Map<string, DocState>()
  private readonly queue = new DueQueue<DocState>()
  private readonly match: ((docId: string) => boolean) | undefined
  private readonly agent: http.Agent
  private readonly debounceMs: number
  private readonly timeoutMs: number
  private readonly concurrency: number
  private readonly minBackoffMs: number
  private readonly maxBackoffMs: number
  private readonly maxPending: number
  private readonly secret: KeyObject | undefined
  /** the records are written in groups (one storage commit for many docs) */
  private readonly writes: GroupedWrites
  /** docs counted in `pending` (with a batch on its way or changes waiting) */
  private readonly pendingSet = new WeakSet<DocState>()
  private pending = 0
  /** docs being worked on (building, writing, posting): at most RUNS_PER_REQUEST × concurrency */
  private inflight = 0
  /** requests in flight, and runs waiting for one */
  private posting = 0
  private readonly postWaiters: Array<() => void> = []
  private readonly running = new Set<Promise<void>>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private timerAt = Infinity
  /** consecutive failures of the receiver (not of one batch): the webhook waits, then probes one doc at a time */
  private failures = 0
  private pausedUntil = 0
  /** the oldest change not tracked because of `maxPendingDocs` (0: none) */
  overflowSince = 0
  private stopped = false

  constructor (opts: WebhookOptions, private readonly storage: StorageAdapter, private readonly userAgent: string) {
    this.url = new URL(opts.url)
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new TypeError(`a webhook URL must be http: or https:, not ${this.url.protocol}`)
    this.id = hookIdFor(opts.url)
    this.label = `${this.url.protocol}//${this.url.host}${this.url.pathname}`
    this.secret = opts.secret !== undefined ? createSecretKey(opts.secret) : undefined
    this.writes = new GroupedWrites(storage)
    const globs = opts.docs?.map(globToRegExp) ?? []
    this.match = globs.length > 0 ? (docId) => globs.some(g => g.test(docId)) : undefined
    this.debounceMs = opts.debounceMs ?? 250
    this.timeoutMs = opts.timeoutMs ?? 10_000
    this.concurrency = Math.max(1, opts.concurrency ?? 16)
    this.minBackoffMs = opts.minBackoffMs ?? 500
    this.maxBackoffMs = Math.max(this.minBackoffMs, opts.maxBackoffMs ?? 60_000)
    this.maxPending = opts.maxPendingDocs ?? 100_000
    this.agent = new (this.url.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: this.concurrency })
  }

  /** Read the cursors and outbox from storage; outbox entries are sent again at once. */
  async load (): Promise<void> {
    for (const { key, data } of await this.storage.loadRange(hooksPrefix(this.id))) {
      try {
        if (key.length === 4 && key[3] === 'm') this.watermark = decodeHookRecord(data).watermark
        if (key.length !== 5 || key[3] !== 'd') continue
        const r = decodeDocRecord(data)
        const st = this.state(key[4], r.docId)
        st.cursor = r.cursor
        if (r.outbox !== undefined) {
          st.outbox = { ...r.outbox, since: Date.now(), resend: true }
          this.track(st)
          this.schedule(st, 0)
        }
      } catch (err) {
        log.error('skipping an unreadable webhook record %s: %e', key.join('/'), err)
      }
    }
  }

  /** Does this webhook take changes of `docId`? */
  takes (docId: string): boolean {
    return this.match === undefined || this.match(docId)
  }

  /** A change to the doc was stored (`doc`: the doc now, when loaded). */
  changed (keyHex: string, docId: string, doc: Y.Doc | undefined, since = Date.now()): void {
    if (this.stopped) return
    let st = this.docs.get(keyHex)
    if ((st === undefined || !this.isPending(st)) && this.pending >= this.maxPending) {
      this.counters.overflow++
      if (this.overflowSince === 0 || since < this.overflowSince) this.overflowSince = since
      return
    }
    st ??= this.state(keyHex, docId)
    if (!docId.startsWith('key:') || st.docId.startsWith('key:')) st.docId = docId
    st.changes++
    if (st.dirtySince === 0 || since < st.dirtySince) st.dirtySince = since
    if (doc !== undefined && st.doc?.deref() !== doc) st.doc = new WeakRef(doc)
    this.track(st)
    if (!st.busy) this.schedule(st, st.dirtySince + this.debounceMs)
  }

  /**
   * The sweep found the doc as storage holds it (`stateVector`, `deletes`):
   * if that is past what the webhook delivered or holds in its outbox, and
   * nothing is waiting for it already, it is a change to deliver.
   */
  swept (keyHex: string, docId: string, doc: Y.Doc, at: Cursor, since: number): void {
    const st = this.docs.get(keyHex)
    if (st !== undefined && st.dirtySince !== 0) return
    const id = st?.docId ?? docId
    if (!this.takes(id)) return
    const known = st?.outbox?.to ?? st?.cursor ?? EMPTY_CURSOR
    if (sameCursor(known, at)) return
    this.changed(keyHex, id, doc, since)
  }

  /** Docs with a batch on its way or changes waiting. */
  get pendingDocs (): number {
    return this.pending
  }

  get maxPendingDocs (): number {
    return this.maxPending
  }

  /** Seconds since the oldest change not yet acknowledged by the receiver (0: none). */
  lagSeconds (now = Date.now()): number {
    let oldest = this.overflowSince !== 0 ? this.overflowSince : Infinity
    for (const st of this.docs.values()) {
      if (st.outbox !== undefined && st.outbox.since < oldest) oldest = st.outbox.since
      if (st.dirtySince !== 0 && st.dirtySince < oldest) oldest = st.dirtySince
    }
    return oldest === Infinity ? 0 : Math.max(0, (now - oldest) / 1000)
  }

  /**
   * What the watermark may be now: every change stored before it is in a
   * batch, delivered or in the outbox (see HookRecord). `floor`: not past it
   * (while the first sweep runs, the last watermark).
   */
  watermarkNow (floor: number, now = Date.now()): number {
    let w = Math.min(floor, now)
    if (this.overflowSince !== 0) w = Math.min(w, this.overflowSince)
    for (const st of this.docs.values()) if (st.dirtySince !== 0 && st.dirtySince < w) w = st.dirtySince
    return w
  }

  async saveWatermark (watermark: number): Promise<void> {
    await this.storage.save(hookRecordKey(this.id), encodeHookRecord({ watermark }))
  }

  /**
   * Stop: nothing new starts; requests in flight get up to `graceMs` to be
   * answered (an unanswered one stays in the outbox, to be sent again after
   * the restart), then the connections are closed.
   */
  async stop (graceMs = 3000): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearTimeout(this.timer)
    this.queue.clear()
    let timer: ReturnType<typeof setTimeout> | undefined
    const grace = new Promise<void>(resolve => { timer = setTimeout(resolve, graceMs) })
    await Promise.race([Promise.allSettled([...this.running]), grace])
    clearTimeout(timer)
    this.agent.destroy()
    for (const wake of this.postWaiters.splice(0)) wake()
    this.writes.flush()
    // anything still running finds the webhook stopped, and the storage may be closing
    await Promise.race([Promise.allSettled([...this.running]), new Promise(resolve => setTimeout(resolve, 100))])
  }

  // ---------------------------------------------------------------- per doc

  private state (keyHex: string, docId: string): DocState {
    let st = this.docs.get(keyHex)
    if (st === undefined) {
      st = { keyHex, docId, cursor: EMPTY_CURSOR, outbox: undefined, changes: 0, built: 0, dirtySince: 0, doc: undefined, notBefore: 0, attempts: 0, queued: false, busy: false }
      this.docs.set(keyHex, st)
    }
    return st
  }

  private isPending (st: DocState): boolean {
    return st.outbox !== undefined || st.changes !== st.built
  }

  /** Count the doc as pending (idempotent; `untrack` when it is not any more). */
  private track (st: DocState): void {
    if (this.pendingSet.has(st)) return
    this.pendingSet.add(st)
    this.pending++
  }

  private untrack (st: DocState): void {
    if (this.isPending(st) || !this.pendingSet.has(st)) return
    this.pendingSet.delete(st)
    this.pending--
  }

  private schedule (st: DocState, due: number): void {
    if (st.queued || st.busy || this.stopped) return
    st.queued = true
    this.queue.push(st, Math.max(due, st.notBefore))
    this.pump()
  }

  private pump (): void {
    if (this.stopped) return
    const now = Date.now()
    if (now < this.pausedUntil) { this.arm(this.pausedUntil); return }
    // after the receiver failed: one doc at a time until a request succeeds
    const limit = this.failures > 0 ? 1 : this.concurrency * RUNS_PER_REQUEST
    while (this.inflight < limit) {
      const st = this.queue.popDue(now)
      if (st === undefined) break
      st.queued = false
      st.busy = true
      this.inflight++
      const run: Promise<void> = this.run(st).catch((err: unknown) => {
        log.error('webhook %s, doc %s: %e', this.label, st.docId, err)
      }).finally(() => {
        this.running.delete(run)
        this.inflight--
        st.busy = false
        this.after(st)
        this.pump()
      })
      this.running.add(run)
    }
    const next = this.queue.nextDue
    if (next !== undefined && this.inflight < limit) this.arm(next)
  }

  private arm (at: number): void {
    if (this.stopped || at >= this.timerAt) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => {
      this.timerAt = Infinity
      this.pump()
    }, Math.max(0, at - Date.now()))
    this.timer.unref?.()
  }

  /** After a run: schedule what the doc still has to deliver, or stop counting it. */
  private after (st: DocState): void {
    if (this.stopped) return
    if (st.outbox !== undefined) this.schedule(st, 0)
    else if (st.changes !== st.built) this.schedule(st, st.dirtySince + this.debounceMs)
    else this.untrack(st)
  }

  private async run (st: DocState): Promise<void> {
    if (st.outbox === undefined) {
      if (st.changes === st.built) return
      if (!await this.build(st)) return
    }
    await this.deliver(st)
  }

  /** Write the doc's next batch to the outbox; false if there is nothing to deliver. */
  private async build (st: DocState): Promise<boolean> {
    const changes = st.changes
    const startedAt = Date.now()
    let doc = st.doc?.deref()
    if (doc === undefined || doc.isDestroyed) {
      st.doc = undefined
      doc = await loadStoredDoc(this.storage, st.keyHex)
      if (this.stopped) return false
    }
    const since = st.dirtySince !== 0 ? st.dirtySince : startedAt
    const batch = doc !== undefined ? this.batchOf(st, doc) : undefined
    if (batch === undefined) {
      this.clean(st, changes, startedAt)
      return false
    }
    try {
      await this.writes.save(docRecordKey(this.id, st.keyHex), encodeDocRecord({ docId: st.docId, cursor: st.cursor, outbox: batch }))
    } catch (err) {
      this.failed(st, 'storage', false)
      log.error('webhook %s: cannot write the outbox of %s: %e', this.label, st.docId, err)
      return false
    }
    st.outbox = { ...batch, since, resend: false }
    this.clean(st, changes, startedAt)
    return true
  }

  /** The batch from the cursor to `doc` as it is now, or undefined when the receiver has all of it. */
  private batchOf (st: DocState, doc: Y.Doc): OutboxBatch | undefined {
    const to = cursorOf(doc)
    if (sameCursor(st.cursor, to)) return undefined
    const stateVector = to.stateVector
    const update = Y.encodeStateAsUpdate(doc, st.cursor.stateVector)
    const idempotencyKey = createHash('sha256')
      .update(this.id).update('\0').update(st.keyHex).update('\0')
      .update(st.cursor.stateVector).update('\0').update(stateVector).update('\0').update(sha256(update))
      .digest('hex').slice(0, 32)
    const payload: WebhookPayload = {
      doc: st.docId,
      keyHex: st.keyHex,
      idempotencyKey,
      since: toBase64(st.cursor.stateVector, 'base64pad'),
      stateVector: toBase64(stateVector, 'base64pad'),
      update: toBase64(update, 'base64pad'),
      json: docToJSON(doc),
      ts: Date.now()
    }
    return { idempotencyKey, to, body: new TextEncoder().encode(JSON.stringify(payload)) }
  }

  /** The changes up to `changes` are in a batch (or there was nothing to deliver). */
  private clean (st: DocState, changes: number, startedAt: number): void {
    st.built = changes
    // changes that came while the batch was built are newer than its start
    st.dirtySince = st.changes === changes ? 0 : startedAt
  }

  private async deliver (st: DocState): Promise<void> {
    const batch = st.outbox!
    if (batch.resend || st.attempts > 0) this.counters.retries++
    const headers: Record<string, string> = { [IDEMPOTENCY_HEADER]: batch.idempotencyKey, 'user-agent': this.userAgent }
    if (this.secret !== undefined) headers[SIGNATURE_HEADER] = signature(this.secret, batch.body)
    if (!await this.requestSlot()) return
    let outcome: PostOutcome
    try {
      outcome = await post({ url: this.url, body: batch.body, headers, timeoutMs: this.timeoutMs, agent: this.agent })
    } finally {
      this.posting--
      this.postWaiters.shift()?.()
    }
    if (outcome.kind !== 'ok') {
      const reason = reasonOf(outcome)
      // a receiver that is down, overloaded or slow pauses the webhook; a refusal of this batch backs off this doc
      this.failed(st, reason, reason !== 'status_4xx' || (outcome.kind === 'status' && (outcome.status === 408 || outcome.status === 429)))
      log('webhook %s: %s for %s (attempt %d)', this.label, describe(outcome), st.docId, st.attempts)
      return
    }
    // the receiver has it: the cursor moves and the outbox entry goes, in one write
    try {
      await this.writes.save(docRecordKey(this.id, st.keyHex), encodeDocRecord({ docId: st.docId, cursor: batch.to, outbox: undefined }))
    } catch (err) {
      // sent again later: the receiver drops it by its key
      this.failed(st, 'storage', false)
      log.error('webhook %s: cannot record the delivery of %s: %e', this.label, st.docId, err)
      return
    }
    st.cursor = batch.to
    st.outbox = undefined
    st.attempts = 0
    st.notBefore = 0
    this.failures = 0
    this.pausedUntil = 0
    this.counters.delivered++
    this.onDelivered?.((Date.now() - batch.since) / 1000)
  }

  /** Wait for one of the `concurrency` requests (false: the webhook stopped meanwhile). */
  private async requestSlot (): Promise<boolean> {
    while (this.posting >= this.concurrency && !this.stopped) await new Promise<void>(resolve => { this.postWaiters.push(resolve) })
    if (this.stopped) return false
    this.posting++
    return true
  }

  /**
   * Count a failed attempt and back off: the whole webhook when the receiver
   * is down (every doc waits for it, so none is held back once it is up),
   * else this doc only.
   */
  private failed (st: DocState, reason: FailureReason, receiverDown: boolean): void {
    this.counters.failed[reason]++
    st.attempts++
    const now = Date.now()
    if (receiverDown) {
      this.failures++
      this.pausedUntil = Math.max(this.pausedUntil, now + this.backoff(this.failures))
    } else {
      st.notBefore = now + this.backoff(st.attempts)
    }
  }

  /** Exponential backoff with jitter: a random delay in the upper half of min × 2^(n-1), at most maxBackoffMs. */
  private backoff (n: number): number {
    const ceiling = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** Math.min(30, n - 1))
    return ceiling / 2 + Math.random() * ceiling / 2
  }
}

/**
 * The JSON body of every webhook request (README, "Get data out"). One
 * batch: everything that changed in one doc since the last batch the
 * receiver acknowledged.
 */
export interface WebhookPayload {
  /** the doc's id, or `key:<hex>` when the gateway does not know it */
  doc: string
  /** the doc's key (hex): stable, whatever the gateway knows of the id */
  keyHex: string
  /** the same for the same batch sent again (also the `idempotency-key` header): drop a key seen before */
  idempotencyKey: string
  /** base64 V1 state vector the batch starts at (what the receiver acknowledged before; empty doc: AA==) */
  since: string
  /** base64 V1 state vector after the batch */
  stateVector: string
  /** base64 V1 update: the doc's changes since `since` (with its whole delete set); apply it with Y.applyUpdate */
  update: string
  /** the doc as JSON after the batch (lib/cli/doc-json.ts) */
  json: Record<string, unknown>
  /** when the batch was made, ms since the epoch */
  ts: number
}

function sameCursor (a: Cursor, b: Cursor): boolean {
  return equals(a.stateVector, b.stateVector) && equals(a.deletes, b.deletes)
}

function sha256 (data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

function reasonOf (o: Exclude<PostOutcome, { kind: 'ok' }>): FailureReason {
  if (o.kind === 'status') return o.status >= 500 ? 'status_5xx' : 'status_4xx'
  return o.kind
}

function describe (o: Exclude<PostOutcome, { kind: 'ok' }>): string {
  return o.kind === 'status' ? `status ${o.status}` : o.kind === 'network' ? `network error ${o.code}` : 'no answer within the timeout'
}
