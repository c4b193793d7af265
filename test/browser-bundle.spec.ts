/**
 * The browser build: `adapters/presets/browser.ts` (`meshdoc/browser`)
 * bundles for browsers (rollup, browser conditions) with no Node built-in
 * anywhere in its graph, our own code uses no Node globals, and the sizes
 * stay within the goals (gzipped: 25 KB for our code, 300 KB for the
 * whole stack with libp2p, with WebRTC opted in or not). Sizes are
 * deterministic for a given lockfile, so this is a test, not a benchmark.
 * And the built package (dist/, `npm run build` first) bundles with esbuild
 * the way an app's bundler takes it: no warning, and no @libp2p/webrtc in the
 * bundle of an app that does not import `meshdoc/webrtc`.
 */
import { build } from 'esbuild'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
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
    // encrypted documents are an opt-in (meshdoc/e2e): none of their code without it
    assert.doesNotMatch(code, /meshdoc e2e/, 'encrypted-document code in the default browser build')
    const e2e = (await bundleForBrowser({ input: { app: join(REPO_ROOT, 'bench/browser-e2e-app.ts') }, external: deps })).map(c => c.code).join('\n')
    assert.match(e2e, /meshdoc e2e envelope v1/, 'the opt-in brings them')
    for (const global of [/\bprocess\.(env|nextTick|on|exit)\b/, /\bBuffer\.(from|alloc|concat)\b/, /\brequire\(/, /\b__dirname\b/]) {
      assert.doesNotMatch(e2e, global, `a Node global in the browser build with meshdoc/e2e: ${global}`)
    }
  })

  it('the whole stack bundles with no Node built-in, within the size goals', async () => {
    // bundleForBrowser fails the build on any Node built-in in the graph
    const { rows } = await measureBundleSizes({ goalsOnly: true })
    for (const r of rows) console.log(`      ${r.name}: ${(r.gzipBytes / 1024).toFixed(1)} KB gzipped`)
    for (const r of rows.filter(r => r.goalBytes !== undefined)) {
      assert.ok(r.gzipBytes <= r.goalBytes!, `${r.name}: ${r.gzipBytes} B gzipped, goal ${r.goalBytes} B`)
    }
    const size = (name: string): number => rows.find(r => r.name.includes(name))!.gzipBytes
    assert.ok(size('WebSockets only, without yjs') < size('WebRTC opted in'), 'an app without WebRTC bundles less than one with it')
    const added = size('own code with encrypted docs') - size('own code (browser entry)')
    console.log(`      meshdoc/e2e adds ${(added / 1024).toFixed(1)} KB gzipped of our code, ${((size('encrypted docs opted in, without yjs') - size('WebSockets only, without yjs')) / 1024).toFixed(1)} KB to the whole stack`)
    assert.ok(added > 0, 'encrypted docs add code only when opted in')
  })

  it('an app bundling the built package with esbuild gets no warning, and WebRTC only when it imports meshdoc/webrtc', async () => {
    assert.ok(existsSync(join(REPO_ROOT, 'dist/browser.js')), 'dist/browser.js is missing: run `npm run build` first')
    const apps = {
      'WebSockets only': "import { createMeshNode } from 'meshdoc/browser'\nconsole.log(createMeshNode)",
      // `meshdoc` itself, under the browser condition, is dist/browser.js too
      'WebRTC opted in': "import { createMeshNode } from 'meshdoc'\nimport { webrtc } from 'meshdoc/webrtc'\nconsole.log(createMeshNode({ webrtc: webrtc() }))",
      'encrypted docs opted in': "import { createMeshNode } from 'meshdoc'\nimport { encryptedDocs } from 'meshdoc/e2e'\nconsole.log(createMeshNode({ encryptedDocs: encryptedDocs() }))"
    }
    for (const [name, contents] of Object.entries(apps)) {
      // silent: the warnings are in the result (ignored-bare-import, say, when dist/ has bare `import 'x'` lines)
      const result = await build({
        stdin: { contents, resolveDir: REPO_ROOT, loader: 'js' },
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'browser',
        minify: true,
        metafile: true,
        logLevel: 'silent'
      })
      assert.deepEqual(result.warnings.map(w => `${w.id}: ${w.text}`), [], `${name}: esbuild warned`)
      const inputs = Object.keys(result.metafile.inputs)
      assert.ok(inputs.includes('dist/browser.js'), `${name}: the built package was bundled`)
      assert.equal(inputs.some(i => i.includes('node_modules/@libp2p/webrtc/')), name === 'WebRTC opted in', `${name}: @libp2p/webrtc in the bundle`)
    }
  })
})
