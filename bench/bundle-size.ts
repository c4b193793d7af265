/**
 * B: bundle sizes for browsers, minified (terser) and gzipped (level 9), built
 * by rollup the way an app's bundler would (bench/core/browser-bundle.ts).
 *
 *   npm run bench:bundle          # table on stdout, JSON in bench/results/bundle-latest.json
 *
 * Rows: meshdoc's own code (every dependency left out); the whole browser
 * stack as an app without WebRTC bundles it (libp2p with WebSockets, Noise,
 * yamux, identify; IndexedDB; y-protocols; lib0), without Yjs, which the app
 * has anyway; the same for an app that opts in to WebRTC (plus @libp2p/webrtc,
 * which the app imports and passes in, and the circuit-relay transport:
 * bench/browser-webrtc-app.ts); the same for an app that opts in to
 * encrypted documents (`meshdoc/e2e`: bench/browser-e2e-app.ts), our own
 * code and the whole stack; the WebSockets-only stack with Yjs; and
 * y-websocket measured the same way.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { bundleForBrowser, REPO_ROOT } from './core/browser-bundle.js'

export interface BundleRow { name: string, gzipBytes: number, rawBytes: number, goalBytes?: number }

/** every runtime dependency of meshdoc: left out when measuring our own code */
const DEPENDENCIES = ['yjs', 'lib0', 'y-protocols', 'idb-keyval', 'libp2p', '@libp2p', '@chainsafe', '@multiformats', '@noble', 'uint8arraylist', 'uint8arrays']

async function measure (name: string, input: string, external: string[], goalBytes?: number): Promise<BundleRow> {
  const chunks = await bundleForBrowser({ input: { entry: input }, external, minify: true })
  const code = chunks.map(c => c.code).join('\n')
  return { name, rawBytes: Buffer.byteLength(code), gzipBytes: gzipSync(code, { level: 9 }).length, ...(goalBytes !== undefined ? { goalBytes } : {}) }
}

/**
 * Measure every row; `goalsOnly`: only the rows with a size goal (what the
 * browser-bundle test checks), leaving out the rows kept for comparison.
 */
export async function measureBundleSizes (opts: { goalsOnly?: boolean } = {}): Promise<{ rows: BundleRow[] }> {
  const browser = join(REPO_ROOT, 'adapters/presets/browser.ts')
  const yws = join(REPO_ROOT, 'node_modules/y-websocket/src/y-websocket.js')
  const rows = [
    await measure('meshdoc: own code (browser entry)', browser, DEPENDENCIES, 25 * 1024),
    await measure('meshdoc: browser stack, WebSockets only, without yjs (libp2p WS, IndexedDB)', browser, ['yjs'], 300 * 1024),
    await measure('meshdoc: browser stack with WebRTC opted in, without yjs (libp2p WS+WebRTC+relay, IndexedDB)', join(REPO_ROOT, 'bench/browser-webrtc-app.ts'), ['yjs'], 300 * 1024),
    // encrypted documents opted in (`meshdoc/e2e`): what they add to our code, and to the whole stack
    await measure('meshdoc: own code with encrypted docs opted in (browser entry + meshdoc/e2e)', join(REPO_ROOT, 'bench/browser-e2e-app.ts'), DEPENDENCIES),
    await measure('meshdoc: browser stack with encrypted docs opted in, without yjs', join(REPO_ROOT, 'bench/browser-e2e-app.ts'), ['yjs'], 300 * 1024)
  ]
  if (opts.goalsOnly === true) return { rows }
  rows.push(
    await measure('meshdoc: browser stack, WebSockets only, with yjs', browser, []),
    await measure('y-websocket: provider without yjs', yws, ['yjs']),
    await measure('yjs alone', join(REPO_ROOT, 'node_modules/yjs/dist/yjs.mjs'), [])
  )
  return { rows }
}

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KB`

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { rows } = await measureBundleSizes()
  console.log('| bundle | minified | min + gzip | goal |')
  console.log('|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.name} | ${kb(r.rawBytes)} | ${kb(r.gzipBytes)} | ${r.goalBytes === undefined ? '' : `≤ ${kb(r.goalBytes)} — ${r.gzipBytes <= r.goalBytes ? 'met' : 'missed'}`} |`)
  const dir = join(REPO_ROOT, 'bench/results')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'bundle-latest.json'), JSON.stringify({ date: new Date().toISOString(), rows }, null, 2) + '\n')
}
