/**
 * A gateway's webhooks in its /metrics (prom-client, on the node's registry,
 * lib/cli/metrics.ts): counters read from each webhook at scrape time, and
 * the delivery lag of each batch as it is acknowledged. Series are labelled
 * by the webhook's URL without credentials or query (`Webhook.label`).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { FailureReason, Webhook } from './webhook.js'

export function registerWebhookMetrics (registry: Registry, hooks: readonly Webhook[]): void {
  if (hooks.length === 0) return
  const labelNames = ['webhook'] as const
  const delivery = new Histogram({
    name: 'meshdoc_webhook_delivery_seconds',
    help: 'From the oldest change in a batch to the receiver acknowledging it.',
    labelNames,
    registers: [],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600]
  })
  const metrics = [delivery, new Counter({
    name: 'meshdoc_webhook_delivered_total',
    help: 'Batches of changes a webhook receiver acknowledged (2xx).',
    labelNames,
    registers: [],
    collect () {
      this.reset()
      for (const h of hooks) this.inc({ webhook: h.label }, h.counters.delivered)
    }
  }), new Counter({
    name: 'meshdoc_webhook_failures_total',
    help: 'Webhook requests that failed, by reason (timeout, network, status_5xx, status_4xx: any other answer but 2xx; storage: the outbox or cursor could not be written).',
    labelNames: ['webhook', 'reason'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const h of hooks) {
        for (const [reason, n] of Object.entries(h.counters.failed) as Array<[FailureReason, number]>) this.inc({ webhook: h.label, reason }, n)
      }
    }
  }), new Counter({
    name: 'meshdoc_webhook_retries_total',
    help: 'Webhook requests that sent a batch again (after a failure, or after a restart).',
    labelNames,
    registers: [],
    collect () {
      this.reset()
      for (const h of hooks) this.inc({ webhook: h.label }, h.counters.retries)
    }
  }), new Counter({
    name: 'meshdoc_webhook_overflow_total',
    help: 'Changes not tracked because too many docs were waiting for a webhook (found again by a sweep).',
    labelNames,
    registers: [],
    collect () {
      this.reset()
      for (const h of hooks) this.inc({ webhook: h.label }, h.counters.overflow)
    }
  }), new Gauge({
    name: 'meshdoc_webhook_pending_docs',
    help: 'Documents with a batch on its way to a webhook, or changes waiting for one.',
    labelNames,
    registers: [],
    collect () {
      for (const h of hooks) this.set({ webhook: h.label }, h.pendingDocs)
    }
  }), new Gauge({
    name: 'meshdoc_webhook_lag_seconds',
    help: 'Age of the oldest change a webhook receiver has not acknowledged yet (0: none).',
    labelNames,
    registers: [],
    collect () {
      const now = Date.now()
      for (const h of hooks) this.set({ webhook: h.label }, h.lagSeconds(now))
    }
  })]
  for (const m of metrics) registry.registerMetric(m)
  for (const h of hooks) h.onDelivered = (seconds) => { delivery.observe({ webhook: h.label }, seconds) }
}
