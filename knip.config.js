// Unused files, exports and dependencies, checked by `npm run check:unused`
// (knip). Everything reachable from an entry point below is used; anything else
// is reported. The package entry points are rollup's inputs (the sources of the
// `exports` map and of the CLI), read from rollup.config.js so the two cannot
// drift apart; package.json `bin` (bin/meshdoc.js) and the files its
// `scripts` run are picked up by knip itself.
import rollupConfig from './rollup.config.js'

const rollupInputs = [...new Set([rollupConfig].flat().flatMap(({ input }) =>
  typeof input === 'string' ? [input] : Array.isArray(input) ? input : Object.values(input ?? {})))]
  // bin/meshdoc.ts is already an entry through the `meshdoc` npm script
  .filter(src => !src.startsWith('bin/'))

/** @type {import('knip').KnipConfig} */
export default {
  entry: [
    ...rollupInputs,
    // benchmarks: `npm run bench*` and the scripts docs/BENCHMARKS.md runs by
    // hand; bench/child.ts is spawned by path and imports its roles itself
    'bench/*.ts',
    // every example file is run by path (npm scripts, READMEs, specs) or
    // bundled for the browser (examples/browser-app/app.ts)
    'examples/**/*.ts',
    'test/**/*.spec.ts',
    // started by path from the specs: child processes, and pages bundled for Chromium
    'test/fixtures/*.ts',
    'test/helpers/child-node.ts',
    'test/helpers/storage-crash-writer.ts',
    'test/browser/*.ts'
  ],
  project: ['{lib,adapters,bin,bench,examples,test}/**/*.{ts,js}', '*.{js,cjs}'],
  // `ip` (iproute2) runs the network-namespace tests and `ss` reads a listen backlog back
  // (test/connection-limits.spec.ts); neither is an npm package
  ignoreBinaries: ['ip', 'ss'],
  // exports used in their own module only (a type named in a public signature)
  // are still part of the documented shape: not reported
  ignoreExportsUsedInFile: true
}
