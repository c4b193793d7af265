/** `meshdoc export DOC`: a stored document as JSON, or as a Yjs update. */
import { writeFile } from 'node:fs/promises'
import * as Y from 'yjs'
import { DATA_OPTION, MESH_KEY_OPTION } from '../args.js'
import type { CommandSpec } from '../option-spec.js'
import { note, str, type CommandContext } from '../context.js'
import { dataDirFrom } from '../data-dir.js'
import { docToJSON, isEmptyDoc } from '../doc-json.js'
import { CliError, UsageError } from '../errors.js'
import { withLocalDoc } from '../local-doc.js'
import { meshKeyFrom } from '../node-inputs.js'

export const spec: CommandSpec = {
  name: 'export',
  summary: 'Write a document from the data directory to stdout (or --out FILE): as JSON, or with --update as Yjs update bytes.',
  positionals: [{ name: 'DOC', required: true, description: 'the document id, e.g. sensors/dev-1' }],
  options: {
    data: DATA_OPTION,
    update: { type: 'boolean', noEnv: true, noConfig: true, description: 'write the whole document as one Yjs (V1) update instead of JSON' },
    out: { type: 'string', valueName: 'FILE', noEnv: true, noConfig: true, description: 'write to FILE instead of stdout' },
    'mesh-key-file': MESH_KEY_OPTION
  },
  details: [
    'JSON holds every root type, its kind inferred from its content: Y.Map as an object,',
    'Y.Array as an array, Y.Text as a string, XML as its string form.',
    'A document that holds nothing is reported as not found (exit 1).'
  ],
  examples: [
    'meshdoc export sensors/dev-1 --data /var/lib/meshdoc | jq .readings[-1]',
    'meshdoc export notes/today --data ./data --update --out notes.yjs'
  ]
}

export async function run ({ values, positionals, io, platform }: CommandContext): Promise<number> {
  const [docId] = positionals
  const out = str(values.out)
  const asUpdate = values.update === true
  if (asUpdate && out === undefined && io.stdout.isTTY === true) {
    throw new UsageError('refusing to write binary update bytes to a terminal: use --out FILE or a pipe', 'export')
  }
  const dataDir = dataDirFrom(values.data, io.env, io.cwd)
  const meshKey = meshKeyFrom(values['mesh-key-file'], io.env)
  const bytes = await withLocalDoc({ platform, dataDir, meshKey, readOnly: true }, docId, async (h) => {
    if (isEmptyDoc(h.doc)) throw new CliError(`no document ${JSON.stringify(docId)} in ${dataDir} (or a different mesh key)`)
    return asUpdate ? Y.encodeStateAsUpdate(h.doc) : new TextEncoder().encode(JSON.stringify(docToJSON(h.doc), null, 2) + '\n')
  })
  if (out !== undefined) {
    await writeFile(out, bytes)
    note(io, `wrote ${docId} to ${out} (${bytes.byteLength} bytes${asUpdate ? ', Yjs update' : ', JSON'})`)
  } else {
    io.stdout.write(bytes)
  }
  return 0
}
