// Builds dist/: one ESM file and one bundled .d.ts per public entry point.
// Every dependency (and yjs, a peer) stays external: two copies of Yjs break
// its instanceof checks, and the app's bundler dedupes libp2p.
import { existsSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
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
  'adapters/libp2p': 'adapters/libp2p/index.ts',
  'adapters/memory-storage': 'adapters/memory-storage/index.ts',
  'adapters/fs-storage': 'adapters/fs-storage/index.ts',
  'adapters/indexeddb-storage': 'adapters/indexeddb-storage/index.ts',
  'cli/meshdoc': 'bin/meshdoc.ts'
}).filter(([, src]) => existsSync(src)))

export default [
  {
    input: entries,
    external,
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', sourcemap: true },
    plugins: [typescript({ tsconfig: './tsconfig.build.json' })]
  },
  {
    // the CLI has no exports: no declaration file for it
    input: Object.fromEntries(Object.entries(entries).filter(([name]) => !name.startsWith('cli/'))),
    external,
    output: { dir: 'dist', format: 'es', entryFileNames: '[name].d.ts', chunkFileNames: 'chunks/[name]-[hash].d.ts' },
    plugins: [dts({ tsconfig: './tsconfig.build.json' })]
  }
]
