/**
 * Put the tables of a results file into docs/BENCHMARKS.md, between the
 * `<!-- bench:results:start -->` and `<!-- bench:results:end -->` markers.
 *
 *   node --import tsx bench/update-docs.ts [bench/results/latest.json]
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { formatResources, formatTable } from './core/table.js'
import type { ResourceRow, Row } from './scenarios/types.js'

const DOC = fileURLToPath(new URL('../docs/BENCHMARKS.md', import.meta.url))
const START = '<!-- bench:results:start -->'
const END = '<!-- bench:results:end -->'

interface Report {
  startedAt: string
  seconds: number
  options: { runs: number, quick: boolean, limit: number | null }
  host: { node: string, platform: string, cpus: number, cpuModel: string, totalMemMB: number }
  load: { start: number[], end: number[] }
  rows: Row[]
  resources?: ResourceRow[]
  scenarios: Record<string, { load: { start: number[], end: number[] } }>
  errors: string[]
}

const file = process.argv[2] ?? 'bench/results/latest.json'
const r = JSON.parse(readFileSync(file, 'utf8')) as Report
const la = (xs: number[]): string => xs.map(x => x.toFixed(2)).join(' / ')
const perScenario = Object.entries(r.scenarios).map(([id, s]) => `${id} ${s.load.start[0].toFixed(2)}`).join(', ')
const section = [
  START,
  `Run of ${r.startedAt} (${(r.seconds / 60).toFixed(0)} min): ${r.options.runs} runs per contender, ${r.options.limit === null ? 'the whole trace (259,778 edits)' : `${r.options.limit} edits`}${r.options.quick ? ', quick mode' : ''}.`,
  `Machine: ${r.host.cpus} × ${r.host.cpuModel}, ${r.host.totalMemMB} MB, ${r.host.platform}, Node ${r.host.node}.`,
  `**Load average (1 / 5 / 15 min) at the start: ${la(r.load.start)}; at the end: ${la(r.load.end)}** (1-min load at each scenario's start: ${perScenario}).`,
  '',
  formatTable(r.rows),
  '',
  ...(r.resources !== undefined && r.resources.length > 0
    ? ['CPU time (user + system) and memory of each process during the measured window, and bytes it wrote to its TCP sockets (medians):', '', formatResources(r.resources), '']
    : []),
  ...(r.errors.length > 0 ? [`${r.errors.length} run(s) failed; see \`errors\` in the JSON.`, ''] : []),
  END
].join('\n')

const doc = readFileSync(DOC, 'utf8')
const a = doc.indexOf(START)
const b = doc.indexOf(END)
if (a < 0 || b < a) throw new Error(`${DOC} has no ${START} ... ${END} section`)
writeFileSync(DOC, doc.slice(0, a) + section + doc.slice(b + END.length))
console.log(`updated ${DOC} from ${file}`)
