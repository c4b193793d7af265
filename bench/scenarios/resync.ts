/** P5: bytes of an idle resync round of the B4 doc between replicas already in sync. */
import { median } from '../core/stats.js'
import { row, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtInt, load1, rotate, withChildren } from './util.js'

type Contender = 'meshdoc' | 'y-protocols'

export const p5: Scenario = {
  id: 'P5',
  title: 'idle resync of a doc already in sync, in bytes',
  async run (ctx): Promise<ScenarioResult> {
    const path = await ctx.statePath()
    const runs: Array<Record<string, number | string>> = []
    const errors: string[] = []
    await rotate(ctx.runs, ['meshdoc', 'y-protocols'] as Contender[], async (c, run) => {
      try {
        const r = await withChildren(async (spawn) => {
          const child = await spawn(`P5/${c}`, 'resync', {})
          return await child.call(c, { statePath: path })
        })
        runs.push({ contender: c, run, load1: load1(), ...r })
        ctx.progress(`P5 run ${run + 1}/${ctx.runs} ${c.padEnd(12)} ${c === 'meshdoc' ? `tick ${fmtInt(r.tickProtocolBytes)} B, full round ` : ''}protocol ${fmtInt(r.protocolBytes)} B, TCP ${fmtInt(r.socketBytes)} B`)
      } catch (err) {
        errors.push(`P5 run ${run + 1} ${c}: ${errorText(err)}`)
        ctx.progress(`P5 run ${run + 1}/${ctx.runs} ${c}: FAILED ${(err as Error).message.split('\n')[0]}`)
      }
    })
    const med = (c: Contender, k: string): number => median(runs.filter(r => r.contender === c).map(r => r[k] as number))
    const yp = med('y-protocols', 'protocolBytes')
    const ys = med('y-protocols', 'socketBytes')
    const tick = med('meshdoc', 'tickProtocolBytes')
    const dir = med('meshdoc', 'maxDirectionBytes')
    const full = med('meshdoc', 'protocolBytes')
    const fullTcp = med('meshdoc', 'socketBytes')
    const x = (a: number, b: number): number | null => Number.isFinite(a) && Number.isFinite(b) && a > 0 ? b / a : null
    const under = (v: number): boolean | null => Number.isFinite(v) ? v < 100 : null
    return {
      runs,
      errors,
      summary: {
        meshdoc: { tickProtocolBytes: tick, tickSocketBytes: med('meshdoc', 'tickSocketBytes'), fullProtocolBytes: full, fullMaxDirectionBytes: dir, fullSocketBytes: fullTcp, fullFrames: med('meshdoc', 'frames') },
        'y-protocols': { protocolBytes: yp, socketBytes: ys, step1: med('y-protocols', 'step1'), step2: med('y-protocols', 'step2') }
      },
      rows: [
        row({ id: 'P5', metric: 'idle resync: periodic anti-entropy tick, protocol bytes', unit: 'B', meshdoc: tick, baseline: yp, baselineName: 'y-protocols step 1 + step 2 (y-websocket resync)', goal: '< 100 B', met: under(tick), note: 'skips docs known in sync' }),
        row({ id: 'P5', metric: 'idle resync: full anti-entropy round, protocol bytes each way (larger)', unit: 'B', meshdoc: dir, baseline: yp, baselineName: 'y-protocols step 1 + step 2', ratio: x(dir, yp), ratioLabel: 'x fewer', goal: '< 100 B', met: under(dir) }),
        row({ id: 'P5', metric: 'idle resync: full round, protocol bytes both ways', unit: 'B', meshdoc: full, baseline: 2 * yp, baselineName: 'y-protocols, both ways', ratio: x(full, 2 * yp), ratioLabel: 'x fewer' }),
        row({ id: 'P5', metric: 'idle resync: full round, TCP bytes both ways', unit: 'B', meshdoc: fullTcp, baseline: 2 * ys, baselineName: 'y-websocket resync (ws), both ways', ratio: x(fullTcp, 2 * ys), ratioLabel: 'x fewer', note: 'Noise + yamux framing' })
      ]
    }
  }
}
