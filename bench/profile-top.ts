/**
 * Top frames of a V8 CPU profile (`.cpuprofile`, from `run.ts --cpu-prof` or
 * `node --cpu-prof`): self time and total (inclusive) time per function.
 *
 *   node --import tsx bench/profile-top.ts <file.cpuprofile> [--top 25] [--from S] [--to S]
 *
 * --from / --to: only the samples between S seconds after the profile started
 * and S seconds after (F1 prints its quiet window's offsets).
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
  children?: number[]
}
interface Profile { nodes: ProfileNode[], startTime: number, endTime: number, samples?: number[], timeDeltas?: number[] }

export interface FrameStat { name: string, selfMs: number, totalMs: number }

const SPECIAL = new Set(['(root)', '(program)', '(idle)', '(garbage collector)'])

function frameName (n: ProfileNode): string {
  const f = n.callFrame
  const fn = f.functionName === '' ? '(anonymous)' : f.functionName
  if (f.url === '') return fn
  const url = f.url.replace(/^file:\/\//, '')
  const short = url.includes('/node_modules/')
    ? url.slice(url.lastIndexOf('/node_modules/') + 14)
    : url.startsWith('/') ? relative(process.cwd(), url) : url
  return `${fn} ${short}:${f.lineNumber + 1}`
}

/** The profile with only the samples from `fromS` to `toS` seconds after its start (hit counts recomputed). */
function windowed (profile: Profile, fromS: number, toS: number): Profile {
  if (profile.samples === undefined || profile.timeDeltas === undefined) throw new Error('--from/--to need a profile with samples and timeDeltas')
  const hits = new Map<number, number>()
  let t = profile.startTime
  let first: number | undefined
  let last = profile.startTime
  for (let k = 0; k < profile.samples.length; k++) {
    t += profile.timeDeltas[k]
    const s = (t - profile.startTime) / 1e6
    if (s < fromS || s > toS) continue
    first ??= t
    last = t
    hits.set(profile.samples[k], (hits.get(profile.samples[k]) ?? 0) + 1)
  }
  return { ...profile, startTime: first ?? profile.startTime, endTime: last, nodes: profile.nodes.map(n => ({ ...n, hitCount: hits.get(n.id) ?? 0 })) }
}

/** Per-function self and total time, biggest self time first; with `window` ([from, to] seconds), only that part. */
export function summarize (whole: Profile, window?: [number, number]): { frames: FrameStat[], totalMs: number, special: Record<string, number> } {
  const profile = window === undefined ? whole : windowed(whole, window[0], window[1])
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const hits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0)
  const msPerHit = hits > 0 ? (profile.endTime - profile.startTime) / 1000 / hits : 0
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  const special: Record<string, number> = {}
  for (const n of profile.nodes) {
    const h = n.hitCount ?? 0
    if (h === 0) continue
    const name = frameName(n)
    if (SPECIAL.has(n.callFrame.functionName)) {
      special[n.callFrame.functionName] = (special[n.callFrame.functionName] ?? 0) + h * msPerHit
      continue
    }
    self.set(name, (self.get(name) ?? 0) + h)
    const seen = new Set<string>()
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id)!
      if (SPECIAL.has(node.callFrame.functionName)) continue
      const k = frameName(node)
      if (seen.has(k)) continue
      seen.add(k)
      total.set(k, (total.get(k) ?? 0) + h)
    }
  }
  const frames = [...total.keys()].map(name => ({ name, selfMs: (self.get(name) ?? 0) * msPerHit, totalMs: (total.get(name) ?? 0) * msPerHit }))
  frames.sort((a, b) => b.selfMs - a.selfMs)
  return { frames, totalMs: (profile.endTime - profile.startTime) / 1000, special }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, from: { type: 'string' }, to: { type: 'string' } } })
  const top = Number(values.top)
  const window: [number, number] | undefined = values.from !== undefined || values.to !== undefined ? [Number(values.from ?? 0), Number(values.to ?? Infinity)] : undefined
  for (const file of positionals) {
    const { frames, totalMs, special } = summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, window)
    const pct = (ms: number): string => `${(ms / totalMs * 100).toFixed(1).padStart(5)}%`
    console.log(`\n${file}: ${totalMs.toFixed(0)} ms profiled; ${Object.entries(special).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`)
    console.log('\nby self time:')
    for (const f of frames.slice(0, top)) console.log(`${f.selfMs.toFixed(1).padStart(9)} ms ${pct(f.selfMs)}  ${f.name}`)
    console.log('\nby total time:')
    for (const f of [...frames].sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) console.log(`${f.totalMs.toFixed(1).padStart(9)} ms ${pct(f.totalMs)}  ${f.name}`)
  }
}
