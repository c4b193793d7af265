/** `meshdoc id`: create or show the node identity (its PeerId). */
import { DATA_OPTION } from '../args.js'
import type { CommandSpec } from '../option-spec.js'
import { note, type CommandContext } from '../context.js'
import { dataDirFrom, dataDirIsOpen, identityIn, openStore } from '../data-dir.js'

export const spec: CommandSpec = {
  name: 'id',
  summary: 'Print the PeerId of the node whose data directory is --data, creating its identity key on first use.',
  positionals: [],
  options: {
    data: DATA_OPTION,
    json: { type: 'boolean', description: 'print {"peerId", "dataDir", "created"} as JSON' }
  },
  details: ['The key is kept in the data directory (mode 0700). Keep it secret: whoever holds it is this node.'],
  examples: ['meshdoc id --data /var/lib/meshdoc']
}

export async function run ({ values, io, platform }: CommandContext): Promise<number> {
  const dataDir = dataDirFrom(values.data, io.env, io.cwd)
  const storage = await openStore(platform, dataDir)
  try {
    const id = await identityIn(storage)
    if (id.created) note(io, `created a new identity in ${dataDir}`)
    if (await dataDirIsOpen(dataDir)) note(io, `warning: other users can read ${dataDir}, which holds the node's private key; run chmod 700 ${dataDir}`)
    if (values.json === true) io.stdout.write(JSON.stringify({ peerId: id.peerId, dataDir, created: id.created }) + '\n')
    else io.stdout.write(id.peerId + '\n')
  } finally {
    await storage.close?.()
  }
  return 0
}
