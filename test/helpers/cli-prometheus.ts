/**
 * A strict parser for the Prometheus text exposition format (0.0.4), so a test
 * can assert that `/metrics` is well-formed and read values from it. Throws on
 * any line that is not a comment, a HELP/TYPE line or a valid sample, on a
 * sample of a family with no TYPE before it, and on duplicate series.
 */

export interface Sample { name: string, labels: Record<string, string>, value: number }
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Exposition {
  types: Map<string, MetricType>
  help: Map<string, string>
  samples: Sample[]
  /** the value of `name` with exactly `labels` (default none); undefined when absent */
  value: (name: string, labels?: Record<string, string>) => number | undefined
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"\s*(,|$)/y

function parseValue (s: string, line: number): number {
  if (s === '+Inf') return Infinity
  if (s === '-Inf') return -Infinity
  if (s === 'NaN') return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad sample value "${s}"`)
  return Number(s)
}

function parseLabels (s: string, line: number): Record<string, string> {
  const out: Record<string, string> = {}
  LABEL.lastIndex = 0
  while (LABEL.lastIndex < s.length) {
    const at = LABEL.lastIndex
    const m = LABEL.exec(s)
    if (m === null) throw new Error(`line ${line}: bad labels at "${s.slice(at)}"`)
    if (m[1] in out) throw new Error(`line ${line}: label ${m[1]} twice`)
    out[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
    if (m[3] === '') break
  }
  return out
}

/** The family a sample belongs to: histogram and summary samples carry suffixes. */
function familyOf (name: string, types: Map<string, MetricType>): string | undefined {
  if (types.has(name)) return name
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const base = name.slice(0, -suffix.length)
    const t = types.get(base)
    if (t === 'histogram' || t === 'summary') return base
  }
  return undefined
}

export function parsePrometheus (text: string): Exposition {
  const types = new Map<string, MetricType>()
  const help = new Map<string, string>()
  const samples: Sample[] = []
  const seen = new Set<string>()
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline')
  text.split('\n').forEach((raw, i) => {
    const line = i + 1
    if (raw.trim() === '') return
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw)
      if (m === null) return // a plain comment
      if (!NAME.test(m[2])) throw new Error(`line ${line}: bad metric name ${m[2]}`)
      if (m[1] === 'HELP') help.set(m[2], m[3])
      else {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) throw new Error(`line ${line}: bad type ${m[3]}`)
        if (types.has(m[2])) throw new Error(`line ${line}: TYPE of ${m[2]} given twice`)
        types.set(m[2], m[3] as MetricType)
      }
      return
    }
    const m = SAMPLE.exec(raw)
    if (m === null) throw new Error(`line ${line}: not a sample: ${raw}`)
    const labels = m[3] !== undefined ? parseLabels(m[3], line) : {}
    if (familyOf(m[1], types) === undefined) throw new Error(`line ${line}: sample ${m[1]} has no TYPE before it`)
    const id = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`
    if (seen.has(id)) throw new Error(`line ${line}: duplicate series ${id}`)
    seen.add(id)
    samples.push({ name: m[1], labels, value: parseValue(m[4], line) })
  })
  const value = (name: string, labels: Record<string, string> = {}): number | undefined => {
    const want = JSON.stringify(Object.entries(labels).sort())
    return samples.find(s => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value
  }
  return { types, help, samples, value }
}
