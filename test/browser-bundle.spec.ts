/**
 * The browser build: `adapters/presets/browser.ts` (`meshdoc/browser`)
 * bundles for browsers (rollup, browser conditions) with no Node built-in
 * anywhere in its graph, our own code uses no Node globals, and the sizes
 * stay within the goals (gzipped: 25 KB for our code, 300 KB for the
 * whole stack with libp2p). Sizes are deterministic for a given lockfile, so
 * this is a test, not a benchmark.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { bundleForBrowser, REPO_ROOT } from '../bench/core/browser-bundle.js'
import { measureBundleSizes } from '../bench/bundle-size.js'

describe('browser bundle', function () {
  this.timeout(120_000)

  it('our own code, bundled for browsers, uses no Node built-in or Node global', async () => {
    const deps = ['yjs', 'lib0', 'y-protocols', 'idb-keyval', 'libp2p', '@libp2p', '@chainsafe', '@multiformats', '@noble', 'uint8arraylist', 'uint8arrays']
    const chunks = await bundleForBrowser({ input: { browser: join(REPO_ROOT, 'adapters/presets/browser.ts') }, external: deps })
    const code = chunks.map(c => c.code).join('\n')
    assert.ok(code.includes('createMeshNode'))
    for (const global of [/\bprocess\.(env|nextTick|on|exit)\b/, /\bBuffer\.(from|alloc|concat)\b/, /\brequire\(/, /\b__dirname\b/]) {
      assert.doesNotMatch(code, global, `a Node global in the browser build: ${global}`)
    }
  })

  it('the whole stack bundles with no Node built-in, within the size goals', async () => {
    // bundleForBrowser fails the build on any Node built-in in the graph
    const { rows } = await measureBundleSizes()
    for (const r of rows) console.log(`      ${r.name}: ${(r.gzipBytes / 1024).toFixed(1)} KB gzipped`)
    for (const r of rows.filter(r => r.goalBytes !== undefined)) {
      assert.ok(r.gzipBytes <= r.goalBytes!, `${r.name}: ${r.gzipBytes} B gzipped, goal ${r.goalBytes} B`)
    }
  })
})
