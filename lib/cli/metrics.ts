/**
 * Prometheus metrics for a running node (prom-client, its own registry).
 * Counters are read from `node.stats` at scrape time; storage commit latency
 * is observed as commits happen (see timed-storage.ts).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { NodeSnapshot } from './node-view.js'
import type { CommitOp } from './timed-storage.js'
import { YwsMetrics } from './yws-metrics.js'
import type { DocRoute } from './doc-api.js'

export interface MetricsOptions {
  /** emit a per-document lag series for at most this many open docs, most behind first (default 1,000) */
  maxDocSeries?: number
  /** include process_* and nodejs_* metrics (default true) */
  processMetrics?: boolean
  version?: string
  /** sample the event loop's delay this often, in ms (default 20; 0: not at all) */
  loopSampleMs?: number
}

/** engine counter -> [metric name, help] */
const COUNTERS = {
  framesIn: ['meshdoc_frames_received_total', 'Sync frames received from peers.'],
  framesOut: ['meshdoc_frames_sent_total', 'Sync frames sent to peers.'],
  bytesIn: ['meshdoc_bytes_received_total', 'Sync frame bytes received from peers.'],
  bytesOut: ['meshdoc_bytes_sent_total', 'Sync frame bytes sent to peers.'],
  updatesApplied: ['meshdoc_updates_applied_total', 'Remote updates applied to local documents.'],
  updatesSent: ['meshdoc_updates_sent_total', 'Updates sent to peers (local edits and forwarded ones).']
} as const

export class NodeMetrics {
  readonly registry = new Registry()
  private readonly counters = new Map<keyof typeof COUNTERS, Counter>()
  private readonly rejected: Counter<'reason'>
  private readonly peers: Gauge
  private readonly docsOpen: Gauge
  private readonly docsStored: Gauge
  private readonly docsUnsynced: Gauge
  private readonly lagMax: Gauge
  private readonly docLag: Gauge<'doc'>
  private readonly commit: Histogram<'op'>
  private readonly commitFailures: Counter<'op'>
  private readonly maxDocSeries: number
  private readonly loopDelay: Histogram
  private loopTimer: ReturnType<typeof setInterval> | undefined
  private readonly connections: Gauge
  /** registered once a snapshot has the y-websocket endpoint's counters (gateway --yws) */
  private yws: YwsMetrics | undefined
  private readonly docApi: Counter<'route' | 'status'>
  private readonly docApiRefused: Counter<'reason'>

  constructor (opts: MetricsOptions = {}) {
    const registers = [this.registry]
    this.maxDocSeries = opts.maxDocSeries ?? 1000
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry })
    new Gauge({ name: 'meshdoc_info', help: 'meshdoc version.', labelNames: ['version'], registers }).set({ version: opts.version ?? 'unknown' }, 1)
    for (const [key, [name, help]] of Object.entries(COUNTERS)) {
      this.counters.set(key as keyof typeof COUNTERS, new Counter({ name, help, registers }))
    }
    this.rejected = new Counter({ name: 'meshdoc_frames_rejected_total', help: 'Frames refused, sessions closed for a violation, and connections refused (not_allowed: the allow-list), by reason.', labelNames: ['reason'], registers })
    this.peers = new Gauge({ name: 'meshdoc_peers_connected', help: 'Peers with an open sync session.', registers })
    this.docsOpen = new Gauge({ name: 'meshdoc_docs_open', help: 'Documents loaded in memory (opened by id, or served to peers by key).', registers })
    this.docsStored = new Gauge({ name: 'meshdoc_docs_stored', help: 'Documents in local storage.', registers })
    this.docsUnsynced = new Gauge({ name: 'meshdoc_docs_unsynced', help: 'Open documents with changes a connected peer has not acknowledged.', registers })
    this.lagMax = new Gauge({ name: 'meshdoc_sync_lag_max_seconds', help: 'The largest sync lag of any open document.', registers })
    this.docLag = new Gauge({ name: 'meshdoc_doc_sync_lag_seconds', help: 'Seconds an open document has had changes a connected peer holding it has not acknowledged (0 when synced).', labelNames: ['doc'], registers })
    this.commit = new Histogram({
      name: 'meshdoc_storage_commit_seconds',
      help: 'Time for a storage commit to become durable (fsync included).',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    })
    this.commitFailures = new Counter({ name: 'meshdoc_storage_commit_failures_total', help: 'Storage commits that failed (nothing in them was acknowledged).', labelNames: ['op'], registers })
    this.connections = new Gauge({ name: 'meshdoc_connections_open', help: 'libp2p connections open (peers in their handshake or without a sync session included).', registers })
    this.docApi = new Counter({ name: 'meshdoc_doc_api_requests_total', help: 'Requests to the HTTP document API (/docs/ID, /docs/ID/update), by route and status.', labelNames: ['route', 'status'], registers })
    this.docApiRefused = new Counter({ name: 'meshdoc_doc_api_refused_total', help: 'Requests the HTTP document API refused, by reason (the error code it answered).', labelNames: ['reason'], registers })
    // prom-client's nodejs_eventloop_lag_* are percentiles reset at every scrape: a stall between
    // two scrapes is lost. This histogram keeps every sample: how late a timer fired.
    this.loopDelay = new Histogram({
      name: 'meshdoc_event_loop_delay_seconds',
      help: 'How late a timer set every 20 ms fired: the event loop\'s delay, every sample kept.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers
    })
    const every = opts.loopSampleMs ?? 20
    if (every > 0) {
      let last = performance.now()
      this.loopTimer = setInterval(() => {
        const now = performance.now()
        this.loopDelay.observe(Math.max(0, now - last - every) / 1000)
        last = now
      }, every)
      this.loopTimer.unref()
    }
  }

  /** Stop sampling the event loop. */
  stop (): void {
    clearInterval(this.loopTimer)
  }

  /** Record one storage commit (pass to `timeCommits`). */
  readonly observeCommit = (seconds: number, op: CommitOp, ok: boolean): void => {
    if (ok) this.commit.observe({ op }, seconds)
    else this.commitFailures.inc({ op })
  }

  /** Count one answered request of the HTTP document API (doc-api.ts); `reason` for a refusal. */
  readonly docApiRequest = (route: DocRoute, status: number, reason?: string): void => {
    this.docApi.inc({ route, status: String(status) })
    if (reason !== undefined) this.docApiRefused.inc({ reason })
  }

  /** Prometheus text for the state in `snap`. */
  async render (snap: NodeSnapshot): Promise<string> {
    for (const [key, c] of this.counters) {
      c.reset()
      c.inc(snap.stats[key])
    }
    this.rejected.reset()
    for (const [reason, n] of Object.entries(snap.stats.rejected)) this.rejected.inc({ reason }, n)
    this.peers.set(snap.peers.length)
    if (snap.connections !== undefined) this.connections.set(snap.connections)
    this.docsOpen.set(snap.openDocs.length + snap.servedDocs)
    if (snap.storedDocs !== undefined) this.docsStored.set(snap.storedDocs)
    const docs = [...snap.openDocs].sort((a, b) => b.lagSeconds - a.lagSeconds)
    this.docsUnsynced.set(docs.filter(d => d.lagSeconds > 0).length)
    this.lagMax.set(docs[0]?.lagSeconds ?? 0)
    this.docLag.reset()
    for (const d of docs.slice(0, this.maxDocSeries)) this.docLag.set({ doc: d.id }, d.lagSeconds)
    if (snap.yws !== undefined) (this.yws ??= new YwsMetrics(this.registry)).set(snap.yws)
    return await this.registry.metrics()
  }

  get contentType (): string {
    return this.registry.contentType
  }
}
