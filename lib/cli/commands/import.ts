/** `meshdoc import DOC FILE`: apply a Yjs update file to a stored document. */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import * as Y from 'yjs'
import { DATA_OPTION, MESH_KEY_OPTION } from '../args.js'
import type { CommandSpec } from '../option-spec.js'
import { note, type CliIO, type CommandContext } from '../context.js'
import { dataDirFrom } from '../data-dir.js'
import { CliError } from '../errors.js'
import { withLocalDoc } from '../local-doc.js'
import { meshKeyFrom } from '../node-inputs.js'
import { formatBytes, Progress } from '../progress.js'
import { validateUpdate } from '../../security/validate-update.js'
import { DEFAULT_LIMITS } from '../../security/limits.js'

export const spec: CommandSpec = {
  name: 'import',
  summary: 'Apply a Yjs (V1) update file to document DOC in the data directory, and commit it to disk.',
  positionals: [
    { name: 'DOC', required: true, description: 'the document id (created if it does not exist)' },
    { name: 'FILE', required: true, description: 'the update, e.g. from `meshdoc export DOC --update`; - reads stdin' }
  ],
  options: {
    data: DATA_OPTION,
    'mesh-key-file': MESH_KEY_OPTION
  },
  details: [
    'The update is checked completely before anything is applied; a malformed file changes nothing.',
    'A gateway running on the same directory sees the changes the next time it loads the document (idle unload, restart).',
    'A progress bar (bytes read, then each phase) is drawn on stderr when it is a terminal.'
  ],
  examples: ['meshdoc import notes/today notes.yjs --data ./data']
}

/** The file's bytes, drawing progress as they arrive. */
async function readInput (file: string, io: CliIO, progress: Progress): Promise<Uint8Array> {
  let total: number | undefined
  if (file !== '-') {
    try {
      total = (await stat(file)).size
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as { code?: string }).code ?? (err as Error).message}`)
    }
  }
  const input = file === '-' ? io.stdin : createReadStream(file)
  const chunks: Buffer[] = []
  let bytes = 0
  try {
    for await (const chunk of input) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer
      chunks.push(b)
      bytes += b.byteLength
      progress.update({ bytes, ...(total !== undefined ? { totalBytes: total } : {}), phase: 'reading' })
    }
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`)
  }
  return new Uint8Array(Buffer.concat(chunks))
}

export async function run ({ values, positionals, io, platform }: CommandContext): Promise<number> {
  const [docId, file] = positionals
  const dataDir = dataDirFrom(values.data, io.env, io.cwd)
  const meshKey = meshKeyFrom(values['mesh-key-file'], io.env)
  const progress = new Progress(io.stderr, { label: `import ${docId}` })
  const update = await readInput(file, io, progress)
  const size = { bytes: update.byteLength, totalBytes: update.byteLength, docs: 0, totalDocs: 1 }
  if (update.byteLength === 0) throw new CliError(`${file} is empty`)

  const result = await withLocalDoc({ platform, dataDir, meshKey, mustExist: false }, docId, async (h) => {
    progress.update({ ...size, phase: 'validating' }, true)
    let checked: Uint8Array
    try {
      checked = validateUpdate(h.doc, update, DEFAULT_LIMITS.maxNestingDepth).bytes
    } catch (err) {
      throw new CliError(`${file} is not a valid Yjs V1 update: ${(err as Error).message}`)
    }
    const before = stateSize(h.doc)
    progress.update({ ...size, phase: 'applying' }, true)
    Y.applyUpdate(h.doc, checked, 'meshdoc-import')
    if (h.doc.store.pendingStructs !== null || h.doc.store.pendingDs !== null) {
      throw new CliError(`${file} depends on changes this replica does not have; sync DOC first, or import the update it was made from. Applied what could be applied.`)
    }
    progress.update({ ...size, phase: 'saving' }, true)
    await h.flush()
    return { added: stateSize(h.doc) - before }
  })
  progress.done()
  note(io, `imported ${formatBytes(update.byteLength)} from ${file} into ${docId} (state vector +${result.added}), saved`)
  return 0
}

/** Sum of every client's clock: grows with every inserted element or character. */
function stateSize (doc: Y.Doc): number {
  let n = 0
  for (const clock of Y.decodeStateVector(Y.encodeStateVector(doc)).values()) n += clock
  return n
}
