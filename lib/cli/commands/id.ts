/** `meshdoc id`: show the node identity (its PeerId) kept in a data directory. */
import { DATA_OPTION } from '../args.js'
import type { CommandSpec } from '../option-spec.js'
import { note, type CommandContext } from '../context.js'
import { dataDirFrom, dataDirIsOpen, holdsStore, identityIn, openStore, storedIdentity } from '../data-dir.js'
import { CliError } from '../errors.js'

export const spec: CommandSpec = {
  name: 'id',
  summary: 'Print the PeerId of the node whose data directory is --data (--create makes its identity if it has none).',
  positionals: [],
  options: {
    data: DATA_OPTION,
    create: { type: 'boolean', noEnv: true, noConfig: true, description: 'create the data directory and identity key if there is none yet' },
    json: { type: 'boolean', description: 'print {"peerId", "dataDir", "created"} as JSON' }
  },
  details: [
    'The data directory is the one a node using `new FsStorageAdapter(dir)` and',
    '`loadOrCreateIdentity` keeps, so this prints the id that device has.',
    'The key is kept in the data directory (mode 0700). Keep it secret: whoever holds it is this node.',
    'Exit status 1 when the directory has no identity and --create is not given.'
  ],
  examples: ['meshdoc id --data /var/lib/meshdoc', 'meshdoc id --create --data ./dev-a']
}

export async function run ({ values, io, platform }: CommandContext): Promise<number> {
  const dataDir = dataDirFrom(values.data, io.env, io.cwd)
  const create = values.create === true
  if (!create && !holdsStore(dataDir)) throw new CliError(`${dataDir} holds no meshdoc identity (use --create to make one, or meshdoc init)`)
  const storage = await openStore(platform, dataDir)
  try {
    if (!create && await storedIdentity(storage) === undefined) throw new CliError(`${dataDir} holds no meshdoc identity (use --create to make one, or meshdoc init)`)
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
