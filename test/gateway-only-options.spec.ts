/**
 * Gateway options come from the Node entry (README, "Gateway-only options"):
 * the browser entry never ignores them silently, and an engine asked to
 * enforce authorship without the class that does it refuses to start.
 */
import assert from 'node:assert/strict'
import { createMeshNode as createBrowserNode } from '../adapters/presets/browser.js'
import type { MeshNodeOptions } from '../adapters/presets/node.js'
import { AuthorRegistry } from '../lib/security/authorship.js'
import { SyncEngine } from '../lib/sync/engine.js'

describe('gateway-only options', () => {
  it('the browser entry throws a TypeError for a write quota, authorship or serving by key, before touching storage', async () => {
    const gatewayOptions: MeshNodeOptions[] = [{ quota: { maxBytes: 1024 } }, { authorship: { relays: [] } }, { serveAllDocs: true }]
    for (const opts of gatewayOptions) {
      await assert.rejects(createBrowserNode(opts as never), (err: Error) => err instanceof TypeError && /needs the Node entry/.test(err.message), JSON.stringify(opts))
    }
  })

  it('an engine asked for authorship without an AuthorRegistry (the browser entry) throws; with one it starts', () => {
    assert.throws(() => new SyncEngine({ authorship: { relays: [] } }), (err: Error) => err instanceof TypeError && /authorship needs authorRegistry/.test(err.message))
    const engine = new SyncEngine({ authorship: { relays: [] }, authorRegistry: AuthorRegistry, antiEntropyIntervalMs: 0 })
    engine.stop()
  })
})
