/**
 * The y-websocket endpoint's counters as Prometheus metrics (`meshdoc_yws_*`),
 * registered on the node's registry once a snapshot carries them (a gateway
 * started with --yws), and set from the snapshot at each scrape.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { YwsBridgeStats } from '../yws-bridge.js'

type Totals = 'connectionsAccepted' | 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut' | 'writesAcknowledged' | 'updatesMerged' | 'readsPaused'
type ByReason = 'connectionsRefused' | 'connectionsClosed' | 'messagesRefused'

const TOTALS: Record<Totals, [string, string]> = {
  connectionsAccepted: ['meshdoc_yws_connections_accepted_total', 'y-websocket sockets accepted and linked to the engine.'],
  messagesIn: ['meshdoc_yws_messages_received_total', 'y-websocket messages received from clients.'],
  messagesOut: ['meshdoc_yws_messages_sent_total', 'y-websocket messages sent to clients.'],
  bytesIn: ['meshdoc_yws_bytes_received_total', 'y-websocket message bytes received from clients.'],
  bytesOut: ['meshdoc_yws_bytes_sent_total', 'y-websocket message bytes sent to clients.'],
  writesAcknowledged: ['meshdoc_yws_writes_acknowledged_total', "Clients' writes the gateway stored and acknowledged (y-websocket has no message for it)."],
  updatesMerged: ['meshdoc_yws_updates_merged_total', "Clients' update messages merged with others of the same socket read into one engine update."],
  readsPaused: ['meshdoc_yws_reads_paused_total', 'Times a client sent past its message budget and its socket was not read until the budget refilled.']
}

const BY_REASON: Record<ByReason, [string, string]> = {
  connectionsRefused: ['meshdoc_yws_connections_refused_total', 'y-websocket connections refused at the upgrade (HTTP status) or closed right after it, by reason.'],
  connectionsClosed: ['meshdoc_yws_connections_closed_total', 'y-websocket sockets the gateway closed, by reason.'],
  messagesRefused: ['meshdoc_yws_messages_refused_total', 'y-websocket client messages refused or dropped, the socket left open, by reason.']
}

export class YwsMetrics {
  private readonly open: Gauge
  private readonly totals = new Map<Totals, Counter>()
  private readonly byReason = new Map<ByReason, Counter<'reason'>>()

  constructor (registry: Registry) {
    const registers = [registry]
    this.open = new Gauge({ name: 'meshdoc_yws_connections_open', help: 'y-websocket sockets open.', registers })
    for (const [key, [name, help]] of Object.entries(TOTALS)) this.totals.set(key as Totals, new Counter({ name, help, registers }))
    for (const [key, [name, help]] of Object.entries(BY_REASON)) this.byReason.set(key as ByReason, new Counter({ name, help, labelNames: ['reason'], registers }))
  }

  set (stats: YwsBridgeStats): void {
    this.open.set(stats.connectionsOpen)
    for (const [key, c] of this.totals) {
      c.reset()
      c.inc(stats[key])
    }
    for (const [key, c] of this.byReason) {
      c.reset()
      for (const [reason, n] of Object.entries(stats[key])) c.inc({ reason }, n)
    }
  }
}
