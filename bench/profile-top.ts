/**
 * Top frames of a V8 CPU profile (`.cpuprofile`, from `run.ts --cpu-prof` or
 * `node --cpu-prof`): self time and total (inclusive) time per function.
 *
 *   node --import tsx bench/profile-top.ts <file.cpuprofile> [--top 25]
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
interface Profile { nodes: ProfileNode[], startTime: number, endTime: number, samples?: number[] }

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

/** Per-function self and total time, biggest self time first. */
export function summarize (profile: Profile): { frames: FrameStat[], totalMs: number, special: Record<string, number> } {
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
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } })
  const top = Number(values.top)
  for (const file of positionals) {
    const { frames, totalMs, special } = summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile)
    const pct = (ms: number): string => `${(ms / totalMs * 100).toFixed(1).padStart(5)}%`
    console.log(`\n${file}: ${totalMs.toFixed(0)} ms profiled; ${Object.entries(special).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`)
    console.log('\nby self time:')
    for (const f of frames.slice(0, top)) console.log(`${f.selfMs.toFixed(1).padStart(9)} ms ${pct(f.selfMs)}  ${f.name}`)
    console.log('\nby total time:')
    for (const f of [...frames].sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) console.log(`${f.totalMs.toFixed(1).padStart(9)} ms ${pct(f.totalMs)}  ${f.name}`)
  }
}
