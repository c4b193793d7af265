/** `meshdoc keys new --out FILE`: an owner key pair for a mesh (it signs grants). */
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { writeFile } from 'node:fs/promises'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import type { CommandSpec } from '../option-spec.js'
import { note, str, type CommandContext } from '../context.js'
import { CliError, UsageError } from '../errors.js'

export const spec: CommandSpec = {
  name: 'keys',
  summary: 'Make an owner key (`keys new --out FILE`): an Ed25519 key pair that signs grants; prints its public id.',
  positionals: [{ name: 'ACTION', required: true, description: '"new"' }],
  options: {
    out: { type: 'string', valueName: 'FILE', path: true, noEnv: true, noConfig: true, description: 'where to write the private key (created 0600; never overwritten)' },
    json: { type: 'boolean', description: 'print {"owner", "file"} as JSON' }
  },
  details: [
    'The owner id it prints is what nodes trust (meshdoc gateway --trust-owner ID); the file is what signs',
    'grants and revocations (meshdoc grant --key FILE, meshdoc revoke --key FILE).',
    'Keep the file offline and secret: whoever holds it can grant anything in the mesh.'
  ],
  examples: ['meshdoc keys new --out owner.key']
}

export async function run ({ values, positionals, io }: CommandContext): Promise<number> {
  if (positionals[0] !== 'new') throw new UsageError(`ACTION must be "new", not "${positionals[0]}"`, 'keys')
  const out = str(values.out)
  if (out === undefined) throw new UsageError('--out FILE is required', 'keys')
  const key = await generateKeyPair('Ed25519')
  try {
    await writeFile(out, uint8ArrayToString(privateKeyToProtobuf(key), 'base64pad') + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new CliError(code === 'EEXIST' ? `${out} exists; an owner key is never overwritten` : `cannot write ${out}: ${code ?? (err as Error).message}`)
  }
  const owner = peerIdFromPrivateKey(key).toString()
  note(io, `wrote the owner key to ${out}; nodes trust it as ${owner}`)
  io.stdout.write(values.json === true ? JSON.stringify({ owner, file: out }) + '\n' : owner + '\n')
  return 0
}
