/** P8: convergence of one edit across a 50-node random mesh, against diameter x per-hop p50 + 200 ms. */
import { median } from '../core/stats.js'
import { row, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtMs, load1, withChildren } from './util.js'

export const p8: Scenario = {
  id: 'P8',
  title: '50-node convergence (one process, loopback TCP + Noise + yamux)',
  async run (ctx): Promise<ScenarioResult> {
    const nodes = ctx.quick ? 12 : 50
    const runs: Array<Record<string, any>> = []
    const errors: string[] = []
    for (let r = 0; r < ctx.runs; r++) {
      try {
        const res = await withChildren(async (spawn) => {
          const child = await spawn('P8/meshdoc', 'mesh50', {})
          return await child.call('run', { nodes, extraEdges: Math.round(nodes / 2), edits: ctx.quick ? 5 : 20, seed: 1000 + r, timeoutMs: 60_000 }, 300_000)
        })
        runs.push({ run: r, load1: load1(), ...res })
        ctx.progress(`P8 run ${r + 1}/${ctx.runs} ${nodes} nodes, ${res.edges} edges, diameter ${res.diameter}: convergence p50 ${fmtMs(res.convergenceP50)} ms (max ${fmtMs(res.convergenceMax)}), hop p50 ${fmtMs(res.hopP50)} ms, bound ${fmtMs(res.boundMs)} ms`)
      } catch (err) {
        errors.push(`P8 run ${r + 1}: ${errorText(err)}`)
        ctx.progress(`P8 run ${r + 1}/${ctx.runs}: FAILED ${(err as Error).message.split('\n')[0]}`)
      }
    }
    const med = (k: string): number => median(runs.map(x => x[k] as number))
    const conv = med('convergenceP50')
    const worst = med('convergenceMax')
    const bound = med('boundMs')
    // each run is judged against its own bound (its own diameter and hop latency)
    const met = runs.length === 0 ? null : runs.filter(x => x.convergenceMax <= x.boundMs).length * 2 > runs.length
    return {
      runs,
      errors,
      summary: { nodes, diameter: med('diameter'), hopP50: med('hopP50'), hopP99: med('hopP99'), convergenceP50: conv, convergenceMax: worst, boundMs: bound, setupMs: med('setupMs') },
      rows: [
        row({ id: 'P8', metric: `${nodes}-node convergence, worst of the edits`, unit: 'ms', meshdoc: worst, baseline: bound, baselineName: `diameter (${med('diameter')}) x hop p50 (${fmtMs(med('hopP50'))} ms) + 200 ms`, ratio: Number.isFinite(worst) && bound > 0 ? worst / bound : null, ratioLabel: 'of the bound', goal: 'within the bound', met }),
        row({ id: 'P8', metric: `${nodes}-node convergence, median edit`, unit: 'ms', meshdoc: conv })
      ]
    }
  }
}
