/** `meshdoc ls`: the documents a data directory holds. */
import { DATA_OPTION } from '../args.js'
import type { CommandSpec } from '../option-spec.js'
import type { CommandContext } from '../context.js'
import { dataDirFrom, holdsStore, openStore } from '../data-dir.js'
import { CliError } from '../errors.js'
import { formatBytes } from '../progress.js'
import { listStoredDocs, type StoredDocInfo } from '../stored-docs.js'

export const spec: CommandSpec = {
  name: 'ls',
  summary: 'List the documents in the data directory: by id where this node opened them by id, by key otherwise, with size and last change.',
  positionals: [],
  options: {
    data: DATA_OPTION,
    json: { type: 'boolean', description: 'print one JSON array of {"id", "key", "bytes", "changed"}' }
  },
  details: [
    'A gateway serves documents by key and never learns their ids: it lists them as key:<hex>.',
    'Safe while a gateway runs on the same directory; a running gateway also answers GET /docs on its admin port.'
  ],
  examples: ['meshdoc ls --data /var/lib/meshdoc', "meshdoc ls --data ./dev-a --json | jq '.[].id'"]
}

export async function run ({ values, io, platform }: CommandContext): Promise<number> {
  const dataDir = dataDirFrom(values.data, io.env, io.cwd)
  if (!holdsStore(dataDir)) throw new CliError(`${dataDir} is not a meshdoc data directory`)
  const storage = await openStore(platform, dataDir)
  let docs: StoredDocInfo[]
  try {
    docs = await listStoredDocs(dataDir, storage)
  } finally {
    await storage.close?.()
  }
  if (values.json === true) {
    io.stdout.write(JSON.stringify(docs) + '\n')
    return 0
  }
  io.stdout.write(renderDocs(docs))
  return 0
}

export function renderDocs (docs: StoredDocInfo[]): string {
  if (docs.length === 0) return 'no documents\n'
  const label = (d: StoredDocInfo): string => d.id ?? `key:${d.key}`
  const w = Math.min(64, Math.max(8, ...docs.map(d => label(d).length)))
  const lines = [`${'DOC'.padEnd(w)}  ${'SIZE'.padStart(9)}  LAST CHANGE`]
  for (const d of docs) lines.push(`${label(d).padEnd(w)}  ${formatBytes(d.bytes).padStart(9)}  ${d.changed.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`)
  lines.push(`${docs.length} document${docs.length === 1 ? '' : 's'}, ${formatBytes(docs.reduce((n, d) => n + d.bytes, 0))}`)
  return lines.join('\n') + '\n'
}
