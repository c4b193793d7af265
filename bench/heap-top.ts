/**
 * The biggest kinds of objects in a V8 heap snapshot (`.heapsnapshot`, e.g.
 * from F1's --gateway-heap-snapshot or `node --heapsnapshot-signal`): self
 * size and count per constructor name (objects) or per node type (strings,
 * code, arrays, ...). Self size only: no dominator tree, so what a Map
 * *holds* is counted under what it holds.
 *
 *   node --max-old-space-size=4096 --import tsx bench/heap-top.ts <file.heapsnapshot> [--top 30] [--per N]
 *
 * --per N: also print each line divided by N (bytes per device).
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface Snapshot {
  snapshot: { meta: { node_fields: string[], node_types: [string[], ...unknown[]] } }
  nodes: number[]
  strings: string[]
}

export interface HeapLine { kind: string, count: number, selfBytes: number }

export function heapByConstructor (snap: Snapshot): { lines: HeapLine[], totalBytes: number } {
  const fields = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const width = fields.length
  const iType = fields.indexOf('type')
  const iName = fields.indexOf('name')
  const iSize = fields.indexOf('self_size')
  const by = new Map<string, HeapLine>()
  let totalBytes = 0
  for (let k = 0; k < snap.nodes.length; k += width) {
    const type = types[snap.nodes[k + iType]]
    const size = snap.nodes[k + iSize]
    totalBytes += size
    // objects by constructor name; closures by type; the rest (strings, code, arrays, hidden) by type
    const kind = type === 'object' || type === 'native' ? `${type === 'native' ? 'native ' : ''}${snap.strings[snap.nodes[k + iName]]}` : `(${type})`
    const line = by.get(kind) ?? { kind, count: 0, selfBytes: 0 }
    line.count++
    line.selfBytes += size
    by.set(kind, line)
  }
  return { lines: [...by.values()].sort((a, b) => b.selfBytes - a.selfBytes), totalBytes }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' }, per: { type: 'string' } } })
  const top = Number(values.top)
  const per = values.per !== undefined ? Number(values.per) : undefined
  for (const file of positionals) {
    const { lines, totalBytes } = heapByConstructor(JSON.parse(readFileSync(file, 'utf8')) as Snapshot)
    console.log(`\n${file}: ${(totalBytes / 2 ** 20).toFixed(1)} MB in the heap${per !== undefined ? ` (${(totalBytes / per / 1024).toFixed(1)} KB per ${per})` : ''}\n`)
    console.log(`${'self MB'.padStart(9)} ${'%'.padStart(6)} ${'count'.padStart(9)}${per !== undefined ? `${'B per'.padStart(9)} ${'# per'.padStart(7)}` : ''}  kind`)
    for (const l of lines.slice(0, top)) {
      console.log(`${(l.selfBytes / 2 ** 20).toFixed(2).padStart(9)} ${(l.selfBytes / totalBytes * 100).toFixed(1).padStart(5)}% ${String(l.count).padStart(9)}${per !== undefined ? `${(l.selfBytes / per).toFixed(0).padStart(9)} ${(l.count / per).toFixed(1).padStart(7)}` : ''}  ${l.kind}`)
    }
  }
}
