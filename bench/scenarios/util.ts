/** Helpers for scenario code: scoped children, per-run error capture, formatting. */
import { loadavg } from 'node:os'
import { spawnRole, type Child } from '../core/procs.js'
import { median } from '../core/stats.js'
import type { Usage } from '../roles/doc-commands.js'
import type { ResourceRow } from './types.js'

export type Spawn = (label: string, role: string, opts?: unknown) => Promise<Child>

/** Run `f` with a spawner; every child it started exits (or is killed) afterwards. */
export async function withChildren<T> (f: (spawn: Spawn) => Promise<T>): Promise<T> {
  const mine: Child[] = []
  try {
    return await f(async (label, role, opts) => {
      const c = await spawnRole(label, role, opts)
      mine.push(c)
      return c
    })
  } finally {
    await Promise.all(mine.map(async c => { await c.exit() }))
  }
}

export const load1 = (): number => loadavg()[0]

export const fmtInt = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
export const fmtMs = (n: number): string => Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(1)) : 'n/a'

/** Run each contender once per run, rotating the order so no contender always goes first. */
export async function rotate<C extends string> (runs: number, contenders: C[], f: (c: C, run: number) => Promise<void>): Promise<void> {
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < contenders.length; k++) await f(contenders[(r + k) % contenders.length], r)
  }
}

export function errorText (err: unknown): string {
  return (err as Error)?.stack ?? String(err)
}

/** Per (contender, side) medians of CPU time, peak RSS and socket bytes written. */
export function resourceRows (id: string, runs: Array<{ contender: string, usage: Partial<Record<string, Usage>> }>): ResourceRow[] {
  const out: ResourceRow[] = []
  const contenders = [...new Set(runs.map(r => r.contender))]
  for (const c of contenders) {
    const mine = runs.filter(r => r.contender === c)
    const sides = [...new Set(mine.flatMap(r => Object.keys(r.usage)))]
    for (const side of sides) {
      const u = mine.map(r => r.usage[side]).filter((x): x is Usage => x !== undefined)
      out.push({
        id,
        contender: c,
        side: side.toUpperCase(),
        cpuMs: median(u.map(x => x.cpuUserMs + x.cpuSystemMs)),
        peakRssMB: median(u.map(x => x.peakRssMB)),
        rssGrowthMB: median(u.map(x => x.peakRssMB - x.rssAtMarkMB)),
        socketWritten: median(u.map(x => x.socketWritten)),
        runs: u.length
      })
    }
  }
  return out
}
