/** `meshdoc import DOC FILE`: apply a Yjs update file to a stored document. */
import { createReadStream } from 'node:fs'
import { lstat, rm, stat } from 'node:fs/promises'
import * as Y from 'yjs'
import { DATA_OPTION, MESH_KEY_OPTION } from '../args.js'
import type { CommandSpec } from '../option-spec.js'
import { note, type CliIO, type CommandContext } from '../context.js'
import { dataDirFrom } from '../data-dir.js'
import { isEmptyDoc } from '../doc-json.js'
import { CliError } from '../errors.js'
import { withLocalDoc } from '../local-doc.js'
import { meshKeyFrom } from '../node-inputs.js'
import { formatBytes, Progress } from '../progress.js'
import { validateUpdate } from '../../security/validate-update.js'
import { DEFAULT_LIMITS } from '../../security/limits.js'

export const spec: CommandSpec = {
  name: 'import',
  summary: 'Apply a Yjs (V1) update file, or the JSON of `meshdoc export`, to document DOC in the data directory, and commit it to disk.',
  positionals: [
    { name: 'DOC', required: true, description: 'the document id (created if it does not exist)' },
    { name: 'FILE', required: true, description: 'the update (from `meshdoc export DOC --update`), or JSON (from `meshdoc export DOC`); - reads stdin' }
  ],
  options: {
    data: DATA_OPTION,
    'mesh-key-file': MESH_KEY_OPTION
  },
  details: [
    'The update is checked completely before anything is applied; a malformed file changes nothing.',
    'JSON (an object: each key a root, a string as Y.Text, an array as Y.Array, an object as Y.Map) fills a new document;',
    'it carries no history and no nested Yjs types, so a document that holds data takes update bytes only.',
    'A failed import into a data directory that did not exist leaves none behind.',
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
  // the input is read, and JSON checked, before anything is created
  const update = await readInput(file, io, progress)
  if (update.byteLength === 0) throw new CliError(`${file} is empty`)
  const roots = jsonRoots(update, file)
  // nothing half-made: a data directory this import creates goes with it if the import fails
  // (lstat: a symlink, even one to nothing, is the user's)
  const existed = await lstat(dataDir).then(() => true, () => false)
  try {
    return await importInto({ io, platform, docId, file, dataDir, meshKey, progress, update, roots })
  } catch (err) {
    if (!existed) await rm(dataDir, { recursive: true, force: true }).catch(() => {})
    throw err
  }
}

interface ImportJob {
  io: CliIO
  platform: CommandContext['platform']
  docId: string
  file: string
  dataDir: string
  meshKey: string | undefined
  progress: Progress
  update: Uint8Array
  /** the update as JSON roots, when it is JSON */
  roots: Record<string, JsonRoot> | undefined
}

async function importInto ({ io, platform, docId, file, dataDir, meshKey, progress, update, roots }: ImportJob): Promise<number> {
  const size = { bytes: update.byteLength, totalBytes: update.byteLength, docs: 0, totalDocs: 1 }
  if (roots !== undefined) {
    await withLocalDoc({ platform, dataDir, meshKey, mustExist: false }, docId, async (h) => {
      if (!isEmptyDoc(h.doc)) throw new CliError(`${docId} already holds data: JSON fills a new document and cannot merge into one (it has no history); import the bytes of \`meshdoc export ${docId} --update\` instead`)
      progress.update({ ...size, phase: 'applying' }, true)
      fillFromJSON(h.doc, roots)
      progress.update({ ...size, phase: 'saving' }, true)
      await h.flush()
    })
    progress.done()
    note(io, `imported ${formatBytes(update.byteLength)} of JSON from ${file} into ${docId} (${Object.keys(roots).length} roots), saved`)
    return 0
  }

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

type JsonRoot = string | unknown[] | Record<string, unknown>

/**
 * The roots of a JSON file (what `meshdoc export` writes: an object, each key
 * a root), or undefined if the file is not JSON (a Yjs update starts with a
 * varuint, never with `{` after whitespace). Checked whole before anything is
 * opened: a root that is neither a string, an array, an object nor null is an
 * error.
 */
function jsonRoots (bytes: Uint8Array, file: string): Record<string, JsonRoot> | undefined {
  let i = 0
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++
  if (bytes[i] !== 0x7b) return undefined // '{'
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    // a V1 update may start with 0x7b too (123 structs' worth of clients); then it is not JSON
    if (i === 0) return undefined
    throw new CliError(`${file} looks like JSON but does not parse (${(err as Error).message}): meshdoc import takes the JSON of \`meshdoc export\`, or the bytes of \`meshdoc export --update\``)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined
  const roots: Record<string, JsonRoot> = {}
  for (const [name, value] of Object.entries(json)) {
    if (value === null) continue // an empty root, as export writes it
    if (typeof value !== 'string' && typeof value !== 'object') {
      throw new CliError(`${file}: root "${name}" is a ${typeof value}; a root is a string (Y.Text), an array (Y.Array) or an object (Y.Map)`)
    }
    roots[name] = value as JsonRoot
  }
  return roots
}

/** Each root as the type its JSON is: a string a Y.Text, an array a Y.Array, an object a Y.Map (values inside as plain JSON). */
function fillFromJSON (doc: Y.Doc, roots: Record<string, JsonRoot>): void {
  doc.transact(() => {
    for (const [name, value] of Object.entries(roots)) {
      if (typeof value === 'string') doc.getText(name).insert(0, value)
      else if (Array.isArray(value)) doc.getArray(name).push(value)
      else for (const [k, v] of Object.entries(value)) doc.getMap(name).set(k, v)
    }
  }, 'meshdoc-import')
}

/** Sum of every client's clock: grows with every inserted element or character. */
function stateSize (doc: Y.Doc): number {
  let n = 0
  for (const clock of Y.decodeStateVector(Y.encodeStateVector(doc)).values()) n += clock
  return n
}
