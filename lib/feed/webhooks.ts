/**
 * A gateway's webhooks (`meshdoc gateway --webhook URL`): each is a Webhook
 * (webhook.ts), fed by the node's `change` event and, after a start, by a
 * sweep of the stored docs that changed since the webhook's watermark, so
 * that changes stored but never turned into a batch (a crash right after a
 * commit, changes made while the webhook was not running) are delivered too.
 *
 * The sweep runs in the background, one doc at a time, resting as long as
 * each load took (at most about half of one core). The watermark (see
 * HookRecord) is written after the first sweep, every WATERMARK_EVERY_MS, and
 * on stop. Node only.
 */
import { logger } from '../log.js'
import type { DocChange, MeshNode } from '../mesh-node.js'
import type { StorageAdapter } from '../storage/types.js'
import { loadStoredDoc } from './stored-doc.js'
import { cursorOf, Webhook, type WebhookOptions } from './webhook.js'

const log = logger('webhook')

/** how often each webhook's watermark is written */
const WATERMARK_EVERY_MS = 30_000
/**
 * a stored doc's files may be dated a little before the change event that
 * reports them: the sweep takes docs changed up to this long before a watermark
 */
const SLACK_MS = 5_000

/** A stored document, as the sweep lists them. */
export interface StoredDocRef {
  keyHex: string
  /** its id, when the store names it */
  docId: string | undefined
  /** when its files last changed, ms since the epoch */
  changedAt: number
}

export interface WebhooksDeps {
  /** the node's `change` events */
  node: Pick<MeshNode, 'on' | 'off'>
  storage: StorageAdapter
  /** every stored doc (the sweep) */
  listDocs: () => Promise<StoredDocRef[]>
  /** sent as User-Agent */
  userAgent: string
}

interface Floor { hook: Webhook, from: number }

export class Webhooks {
  readonly hooks: Webhook[]
  /** per webhook, the watermark may not pass this until its first sweep is done */
  private readonly floors = new Map<Webhook, number>()
  private readonly saved = new Map<Webhook, number>()
  private timer: ReturnType<typeof setInterval> | undefined
  private sweeping: Promise<void> | undefined
  private stopped = false
  private readonly onChange = (c: DocChange): void => {
    for (const h of this.hooks) if (h.takes(c.docId)) h.changed(c.keyHex, c.docId, c.doc)
  }

  constructor (options: readonly WebhookOptions[], private readonly deps: WebhooksDeps) {
    this.hooks = options.map(o => new Webhook(o, deps.storage, deps.userAgent))
  }

  /** Load every webhook's cursors and outbox, follow the node's changes, and sweep in the background. */
  async start (): Promise<void> {
    for (const h of this.hooks) {
      await h.load()
      this.floors.set(h, h.watermark)
      this.saved.set(h, h.watermark)
    }
    this.deps.node.on('change', this.onChange)
    // docs changed since each watermark (every doc for a new webhook), listed after we follow the events
    const first = this.hooks.map(hook => ({ hook, from: hook.watermark === 0 ? -Infinity : hook.watermark - SLACK_MS }))
    this.runSweep(first, () => {
      for (const h of this.hooks) this.floors.set(h, Infinity)
      void this.saveWatermarks()
    })
    this.timer = setInterval(() => { this.tick() }, WATERMARK_EVERY_MS)
    this.timer.unref()
  }

  /** Stop following changes; requests in flight get a moment (Webhook.stop); the watermarks are written. Before the storage closes. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    this.deps.node.off('change', this.onChange)
    await Promise.all(this.hooks.map(async h => { await h.stop() }))
    await this.sweeping?.catch(() => {})
    await this.saveWatermarks()
  }

  /** Resolves when the sweep running now (if any) is done: for tests. */
  async swept (): Promise<void> {
    while (this.sweeping !== undefined) await this.sweeping.catch(() => {})
  }

  private tick (): void {
    void this.saveWatermarks()
    // docs left untracked past maxPendingDocs: once the backlog is down to half, find them again
    if (this.sweeping !== undefined) return
    const again = this.hooks.filter(h => h.overflowSince !== 0 && h.pendingDocs < h.maxPendingDocs / 2)
    if (again.length === 0) return
    const marks = again.map(h => ({ hook: h, overflow: h.counters.overflow, listedAt: Date.now() }))
    this.runSweep(again.map(hook => ({ hook, from: hook.overflowSince - SLACK_MS })), () => {
      // overflow during this sweep may have come after a doc was visited: from the listing on, next time
      for (const m of marks) m.hook.overflowSince = m.hook.counters.overflow === m.overflow ? 0 : m.listedAt
    })
  }

  private runSweep (floors: Floor[], done: () => void): void {
    const p: Promise<void> = this.sweep(floors).then(() => { if (!this.stopped) done() }, (err: unknown) => {
      // the floors stay: the next start sweeps again from the same watermark
      log.error('the webhook sweep failed: %e', err)
    }).finally(() => { if (this.sweeping === p) this.sweeping = undefined })
    this.sweeping = p
  }

  /** Every stored doc changed since a webhook's floor, loaded one at a time and handed to that webhook. */
  private async sweep (floors: Floor[]): Promise<void> {
    const docs = await this.deps.listDocs()
    let visited = 0
    for (const d of docs) {
      if (this.stopped) return
      const want = floors.filter(f => d.changedAt >= f.from)
      if (want.length === 0) continue
      const started = performance.now()
      const doc = await loadStoredDoc(this.deps.storage, d.keyHex)
      if (doc === undefined) continue
      visited++
      const at = cursorOf(doc)
      const since = Math.min(Date.now(), d.changedAt)
      for (const { hook } of want) hook.swept(d.keyHex, d.docId ?? `key:${d.keyHex}`, doc, at, since)
      await new Promise(resolve => setTimeout(resolve, Math.max(1, performance.now() - started)))
    }
    log('swept %d of %d stored docs', visited, docs.length)
  }

  private async saveWatermarks (): Promise<void> {
    for (const h of this.hooks) {
      const w = h.watermarkNow(this.floors.get(h) ?? 0)
      if (w <= (this.saved.get(h) ?? 0)) continue
      try {
        await h.saveWatermark(w)
        this.saved.set(h, w)
      } catch (err) {
        log.error('webhook %s: cannot write its watermark: %e', h.label, err)
      }
    }
  }
}
