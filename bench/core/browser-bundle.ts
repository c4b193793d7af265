/**
 * Bundling for browsers with rollup, the way an app's bundler would: the
 * `browser` export conditions and package.json `browser` fields, CommonJS
 * dependencies converted, Node built-ins refused (a browser has none, so one
 * in the graph is a bug, reported as an error). Used by the bundle-size
 * report (bench/bundle-size.ts) and by the Chromium tests (test/browser/).
 */
import commonjsPlugin from '@rollup/plugin-commonjs'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import terserPlugin from '@rollup/plugin-terser'
import { transform } from 'esbuild'
import { builtinModules } from 'node:module'
import { fileURLToPath } from 'node:url'
import { rollup, type Plugin } from 'rollup'

// both ship CommonJS-style typings (`export default`), which NodeNext types as the module object
type Callable<T> = T extends { default: infer F } ? F : T
const commonjs = commonjsPlugin as unknown as Callable<typeof commonjsPlugin>
const terser = terserPlugin as unknown as Callable<typeof terserPlugin>

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface BrowserBundleOptions {
  /** entry files (absolute or relative to the repo root) */
  input: string | Record<string, string>
  /** modules left out of the bundle (matched by exact id or `id/` prefix) */
  external?: string[]
  /** minify with terser (default false) */
  minify?: boolean
  /** write here (a directory) instead of only returning the code */
  outDir?: string
  sourcemap?: boolean
}

export interface BrowserBundleChunk { fileName: string, code: string }

const builtins = new Set([...builtinModules, ...builtinModules.map(m => `node:${m}`)])

function noNodeBuiltins (): Plugin {
  return {
    name: 'no-node-builtins',
    resolveId (id, importer) {
      if (builtins.has(id)) this.error(`Node built-in "${id}" imported by ${importer ?? '?'}: it has no place in a browser bundle`)
      return null
    }
  }
}

/** TypeScript to JavaScript, file by file (types are checked by `npm run typecheck`, not here). */
function stripTypes (sourcemap: boolean): Plugin {
  return {
    name: 'strip-types',
    async transform (code, id) {
      if (!id.endsWith('.ts') || id.includes('/node_modules/')) return null
      // as tsconfig.json compiles it (class fields assigned, not defined: no field declarations emitted)
      const out = await transform(code, { loader: 'ts', format: 'esm', target: 'es2022', sourcemap, sourcefile: id, tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } } })
      return { code: out.code, map: out.map === '' ? null : out.map }
    }
  }
}

export async function bundleForBrowser (opts: BrowserBundleOptions): Promise<BrowserBundleChunk[]> {
  const external = opts.external ?? []
  const bundle = await rollup({
    input: opts.input,
    external: (id) => external.some(e => id === e || id.startsWith(`${e}/`)),
    onwarn: (w, warn) => { if (w.code !== 'CIRCULAR_DEPENDENCY' && w.code !== 'THIS_IS_UNDEFINED') warn(w) },
    plugins: [
      noNodeBuiltins(),
      stripTypes(opts.sourcemap === true),
      nodeResolve({ browser: true, preferBuiltins: false, extensions: ['.ts', '.js', '.mjs', '.json'], exportConditions: ['browser', 'import', 'default'] }),
      commonjs()
    ]
  })
  try {
    const out = {
      format: 'es' as const,
      dir: opts.outDir ?? 'unused',
      entryFileNames: '[name].js',
      chunkFileNames: 'chunks/[name]-[hash].js',
      sourcemap: opts.sourcemap === true,
      plugins: opts.minify === true ? [terser({ ecma: 2020, module: true })] : []
    }
    const { output } = opts.outDir !== undefined ? await bundle.write(out) : await bundle.generate(out)
    return output.filter(o => o.type === 'chunk').map(o => ({ fileName: o.fileName, code: o.code }))
  } finally {
    await bundle.close()
  }
}
