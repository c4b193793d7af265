/**
 * `meshdoc gateway --webhook URL …`: the gateway's webhooks (lib/feed/), their
 * flags, and how they start with the gateway: after the node (they follow its
 * `change` event and sweep its store) and stopped before it (they write to its
 * storage). README, "Get data out", describes what a receiver gets.
 */
import { readFileSync } from 'node:fs'
import type { MeshNode } from '../mesh-node.js'
import type { StorageAdapter } from '../storage/types.js'
import { registerWebhookMetrics } from '../feed/webhook-metrics.js'
import { Webhooks } from '../feed/webhooks.js'
import type { WebhookOptions } from '../feed/webhook.js'
import { list, note, str, type CliIO } from './context.js'
import { ConfigError, UsageError } from './errors.js'
import type { NodeMetrics } from './metrics.js'
import type { OptionSpec, OptionValue } from './option-spec.js'
import { listStoredDocs } from './stored-docs.js'
import { version } from './version.js'

export const WEBHOOK_OPTIONS: Record<string, OptionSpec> = {
  webhook: { type: 'string', multiple: true, valueName: 'URL', description: "POST every document's changes to this URL, at least once and in order per document (README, \"Get data out\")" },
  'webhook-secret-file': { type: 'string', valueName: 'FILE', path: true, description: 'a secret: each webhook request carries x-meshdoc-signature: sha256=HMAC-SHA256(secret, body)' },
  'webhook-docs': { type: 'string', multiple: true, valueName: 'GLOB', description: 'only documents whose id matches (e.g. "sensors/*"); a document the gateway knows only by key is key:<hex>' },
  'webhook-debounce': { type: 'string', valueName: 'MS', default: '250', description: "a document's changes are posted this long after its first change since the last post" },
  'webhook-timeout': { type: 'string', valueName: 'MS', default: '10000', description: 'a webhook request must be answered within this, or it is tried again' },
  'webhook-max-backoff': { type: 'string', valueName: 'MS', default: '60000', description: 'the longest wait between retries while a receiver fails (exponential backoff with jitter)' }
}

/** The webhooks these flags ask for (none: an empty list); usage and file errors are thrown here, before anything starts. */
export function webhookOptions (values: Record<string, OptionValue | undefined>, io: CliIO): WebhookOptions[] {
  const urls = list(values.webhook)
  if (urls.length === 0) return []
  const secretFile = str(values['webhook-secret-file'])
  const secret = secretFile !== undefined ? readSecret(secretFile) : undefined
  if (secret === undefined) note(io, 'warning: --webhook without --webhook-secret-file: webhook requests are not signed')
  const docs = list(values['webhook-docs'])
  const debounceMs = ms(values, 'webhook-debounce', 0)
  const timeoutMs = ms(values, 'webhook-timeout', 1)
  const maxBackoffMs = ms(values, 'webhook-max-backoff', 1)
  return urls.map(url => {
    let u: URL
    try {
      u = new URL(url)
    } catch {
      throw new UsageError(`--webhook must be an http:// or https:// URL, got "${url}"`, 'gateway')
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--webhook must be an http:// or https:// URL, got "${url}"`, 'gateway')
    return { url, secret, docs, debounceMs, timeoutMs, maxBackoffMs, minBackoffMs: Math.min(500, maxBackoffMs) }
  })
}

/** Start the gateway's webhooks on its node, with their metrics; undefined when there are none. */
export async function startWebhooks (hooks: WebhookOptions[], gw: { node: MeshNode, storage: StorageAdapter, dataDir: string, metrics: NodeMetrics }): Promise<Webhooks | undefined> {
  if (hooks.length === 0) return undefined
  const webhooks = new Webhooks(hooks, {
    node: gw.node,
    storage: gw.storage,
    listDocs: async () => (await listStoredDocs(gw.dataDir, gw.storage)).map(d => ({ keyHex: d.key, docId: d.id ?? undefined, changedAt: Date.parse(d.changed) })),
    userAgent: `meshdoc/${version}`
  })
  registerWebhookMetrics(gw.metrics.registry, webhooks.hooks)
  await webhooks.start()
  return webhooks
}

function readSecret (file: string): Uint8Array {
  let text: string
  try {
    text = readFileSync(file, 'utf8').replace(/\s+$/, '')
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new ConfigError(file, code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`, 'gateway', 'webhook secret file')
  }
  if (text.length === 0) throw new ConfigError(file, 'is empty', 'gateway', 'webhook secret file')
  return new TextEncoder().encode(text)
}

function ms (values: Record<string, OptionValue | undefined>, flag: string, min: number): number {
  const raw = str(values[flag]) ?? ''
  const n = Number(raw)
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag} must be a whole number of milliseconds (${min} or more), got "${raw}"`, 'gateway')
  return n
}
