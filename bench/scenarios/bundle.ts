/**
 * B: bundle sizes, gzipped. The measuring belongs to the browser work
 * (`bench/bundle-size.ts`, exporting `measureBundleSizes`); this scenario only
 * puts its rows into the run's table. Without that file the row is skipped
 * with a note.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { row, type Scenario, type ScenarioResult } from './types.js'

export interface BundleSizes { rows: Array<{ name: string, gzipBytes: number, rawBytes: number }> }

const MODULE = '../bundle-size.js'

export const bundle: Scenario = {
  id: 'B',
  title: 'bundle sizes, gzipped',
  async run (ctx): Promise<ScenarioResult> {
    if (!existsSync(fileURLToPath(new URL('../bundle-size.ts', import.meta.url)))) {
      ctx.progress('B: skipped, bench/bundle-size.ts does not exist yet')
      return {
        runs: [],
        summary: { skipped: 'bench/bundle-size.ts not present' },
        rows: [row({ id: 'B', metric: 'bundle size, gzipped', unit: 'B', meshdoc: NaN, note: 'skipped: bench/bundle-size.ts not present' })],
        errors: []
      }
    }
    // a variable specifier: this file must typecheck while bundle-size.ts does not exist
    const { measureBundleSizes } = await import(MODULE) as { measureBundleSizes: () => Promise<BundleSizes> }
    const sizes = await measureBundleSizes()
    return {
      runs: [sizes],
      summary: { bundles: sizes.rows },
      rows: sizes.rows.map(b => row({
        id: 'B',
        metric: `bundle size, gzipped: ${b.name}`,
        unit: 'B',
        meshdoc: b.gzipBytes,
        note: `${b.rawBytes.toLocaleString('en-US')} B minified, before gzip`
      })),
      errors: []
    }
  }
}
