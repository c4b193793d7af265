// Builds dist/: one ESM file and one bundled .d.ts per public entry point.
// Every dependency and peer (yjs; @libp2p/webrtc, which nothing here imports:
// a browser app passes `webRTC` in) stays external: two copies of Yjs break
// its instanceof checks, and the app's bundler dedupes libp2p.
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, resolve } from 'node:path'
import typescript from '@rollup/plugin-typescript'
import { dts } from 'rollup-plugin-dts'

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))
const deps = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]
const external = (id) =>
  id.startsWith('node:') || builtinModules.includes(id) || deps.some(d => id === d || id.startsWith(`${d}/`))

// entry name in dist/ -> source (the package entries are the platform presets)
const entries = Object.fromEntries(Object.entries({
  index: 'adapters/presets/node.ts',
  browser: 'adapters/presets/browser.ts',
  testing: 'lib/testing/index.ts',
  protocol: 'lib/protocol/index.ts',
  webrtc: 'adapters/libp2p/webrtc.ts',
  grants: 'lib/grants/support.ts',
  e2e: 'lib/e2e/entry.ts',
  'adapters/libp2p': 'adapters/libp2p/index.ts',
  'adapters/memory-storage': 'adapters/memory-storage/index.ts',
  'adapters/fs-storage': 'adapters/fs-storage/index.ts',
  'adapters/indexeddb-storage': 'adapters/indexeddb-storage/index.ts',
  // Node only (node:http, ws): never in a browser bundle
  'adapters/y-websocket': 'adapters/y-websocket/index.ts',
  'cli/meshdoc': 'bin/meshdoc.ts'
}).filter(([, src]) => existsSync(src)))

// What this build wrote. Chunk names carry a content hash, so every change
// leaves the old chunks behind: once the last output is written, whatever
// else is in dist/ goes (it would be packed, and it would be stale). Files
// are never removed before the new ones are written, so a process running
// from dist/ meanwhile keeps working.
const written = new Set()
const track = { name: 'track-output', writeBundle (opts, bundle) { for (const f of Object.keys(bundle)) written.add(resolve(opts.dir, f)) } }
const pruneStale = {
  name: 'prune-stale-output',
  writeBundle () {
    const prune = (dir) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name)
        if (e.isDirectory()) {
          prune(p)
          if (readdirSync(p).length === 0) rmdirSync(p)
        } else if (!written.has(p)) rmSync(p, { force: true })
      }
    }
    prune(resolve('dist'))
  }
}

export default [
  {
    input: entries,
    external,
    // no source maps: dist/ is readable, unminified ESM, and maps of it pointed
    // at TypeScript sources the package does not ship
    // hoistTransitiveImports: false: no bare `import 'x'` in an entry for what
    // its chunks import; with `sideEffects: false` an app's bundler drops such
    // lines anyway, and esbuild warns about each (ignored-bare-import,
    // checked by test/browser-bundle.spec.ts)
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', sourcemap: false, hoistTransitiveImports: false },
    plugins: [typescript({ tsconfig: './tsconfig.build.json' }), track]
  },
  {
    // the CLI has no exports: no declaration file for it
    input: Object.fromEntries(Object.entries(entries).filter(([name]) => !name.startsWith('cli/'))),
    external,
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: 'chunks/[name]-[hash].d.ts' },
    // the last output: prunes what neither output wrote
    plugins: [dts({ tsconfig: './tsconfig.build.json' }), track, pruneStale]
  }
]
