/** The human-readable tables of medians and ratios (also pasted into docs/BENCHMARKS.md). */
import type { ResourceRow, Row } from '../scenarios/types.js'

export function fmtValue (v: number | null, unit: string): string {
  if (v === null || !Number.isFinite(v)) return 'n/a'
  switch (unit) {
    case 'upd/s':
    case 'B':
      return `${Math.round(v).toLocaleString('en-US')}${unit === 'B' ? ' B' : ''}`
    case 'ms':
      return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`
    case 'MB/s':
      return `${v.toFixed(0)} MB/s`
    case 'x':
      return v.toFixed(3)
    default:
      return `${v.toFixed(2)} ${unit}`
  }
}

function markdown (head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map(b => b[i].length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(head), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n')
}

const verdict = (r: Row): string => r.met === null ? '' : r.met ? 'met' : 'MISSED'

/** Medians, comparisons and goals: a Markdown table, readable in a terminal too. */
export function formatTable (rows: Row[]): string {
  const head = ['id', 'metric', 'meshdoc', 'compared with', 'value', 'ratio', 'goal', '']
  return markdown(head, rows.map(r => [
    r.id,
    r.metric,
    fmtValue(r.meshdoc, r.unit),
    r.baselineName ?? '',
    r.baseline === null ? '' : fmtValue(r.baseline, r.unit),
    r.ratio === null || !Number.isFinite(r.ratio) ? '' : `${r.ratio.toFixed(2)} ${r.ratioLabel ?? ''}`.trim(),
    r.goal ?? '',
    verdict(r) + (r.note !== undefined ? (verdict(r) !== '' ? '; ' : '') + r.note : '')
  ]))
}

/** CPU time, peak RSS and socket bytes written per process, medians over runs. */
export function formatResources (rows: ResourceRow[]): string {
  return markdown(['id', 'contender', 'side', 'CPU ms', 'peak RSS MB', 'RSS growth MB', 'socket bytes written'], rows.map(r => [
    r.id,
    r.contender,
    r.side,
    Number.isFinite(r.cpuMs) ? r.cpuMs.toFixed(0) : 'n/a',
    Number.isFinite(r.peakRssMB) ? r.peakRssMB.toFixed(0) : 'n/a',
    Number.isFinite(r.rssGrowthMB) ? r.rssGrowthMB.toFixed(0) : 'n/a',
    Number.isFinite(r.socketWritten) ? Math.round(r.socketWritten).toLocaleString('en-US') : 'n/a'
  ]))
}
