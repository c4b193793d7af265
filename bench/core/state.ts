/** The B4 document (or a prefix of it) as a V2 state file, built once per bench run. */
import { writeFileSync } from 'node:fs'
import * as Y from 'yjs'
import { WRITER_CLIENT_ID } from '../scenarios/types.js'
import { applyEdit, loadEdits, TEXT_NAME } from './trace.js'

export async function buildState (path: string, limit: number | undefined): Promise<string> {
  const { edits, endContent } = loadEdits(limit)
  const doc = new Y.Doc()
  doc.clientID = WRITER_CLIENT_ID
  const text = doc.getText(TEXT_NAME)
  for (const e of edits) applyEdit(doc, text, e)
  if (text.toString() !== endContent) throw new Error('trace replay does not give the trace end content')
  writeFileSync(path, Y.encodeStateAsUpdateV2(doc))
  doc.destroy()
  return path
}
