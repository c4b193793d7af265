/**
 * Gateway options come from the Node entry (README, "Gateway-only options"):
 * the browser entry never ignores them silently, and the browser bundle
 * carries none of authorship's code (the Node entry hands the engine its
 * author registries).
 */
import assert from 'node:assert/strict'
import { createMeshNode as createBrowserNode } from '../adapters/presets/browser.js'
import { createMeshNode as createNodeNode, type MeshNodeOptions } from '../adapters/presets/node.js'
import { AuthorRegistry } from '../lib/security/authorship.js'

describe('gateway-only options', () => {
  it('the browser entry throws a TypeError for a write quota, authorship or serving by key, before touching storage', async () => {
    const gatewayOptions: MeshNodeOptions[] = [{ quota: { maxBytes: 1024 } }, { authorship: { relays: [] } }, { serveAllDocs: true }]
    for (const opts of gatewayOptions) {
      await assert.rejects(createBrowserNode(opts as never), (err: Error) => err instanceof TypeError && /needs the Node entry/.test(err.message), JSON.stringify(opts))
    }
  })

  it('the Node entry enforces authorship through the registries it hands the engine', async () => {
    const node = await createNodeNode({ authorship: { relays: [] }, antiEntropyIntervalMs: 0 })
    try {
      const h = await node.open('doc')
      const engine = (node as unknown as { engine: { openDocs: Array<{ id: string, authors: unknown }> } }).engine
      assert.ok(engine.openDocs.find(d => d.id === 'doc')?.authors instanceof AuthorRegistry, 'the doc has an author registry')
      await h.close()
    } finally {
      await node.stop()
    }
    const plain = await createNodeNode({ antiEntropyIntervalMs: 0 })
    try {
      await plain.open('doc')
      const engine = (plain as unknown as { engine: { openDocs: Array<{ id: string, authors: unknown }> } }).engine
      assert.equal(engine.openDocs.find(d => d.id === 'doc')?.authors, undefined, 'without authorship, none')
    } finally {
      await plain.stop()
    }
  })
})
