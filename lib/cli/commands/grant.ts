/** `meshdoc grant`: issue a grant with an owner (or delegate) key, or inspect one. */
import type { CommandSpec } from '../option-spec.js'
import { list, note, str, type CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { grantErrorsAsCliErrors as guard, readOwnerKey } from '../grant-inputs.js'
import { decodeGrant, issueGrant, type Grant } from '../../grants/grant.js'

export const spec: CommandSpec = {
  name: 'grant',
  summary: 'Issue a grant (--key FILE --to PEERID --docs PATTERN --access read|write --expires 30d), or print what one says (--inspect TOKEN).',
  positionals: [],
  options: {
    key: { type: 'string', valueName: 'FILE', path: true, noEnv: true, description: 'the issuer\'s key (meshdoc keys new)' },
    to: { type: 'string', valueName: 'PEERID', noEnv: true, noConfig: true, description: 'the audience: the PeerId that may use it (meshdoc id --data DIR)' },
    docs: { type: 'string', multiple: true, valueName: 'PATTERN', noEnv: true, noConfig: true, description: 'doc ids or globs (* one segment, ** any); repeat for more' },
    access: { type: 'string', valueName: 'read|write', noEnv: true, noConfig: true, description: 'what it allows' },
    expires: { type: 'string', valueName: 'DURATION', default: '30d', noEnv: true, noConfig: true, description: 'lifetime: 90s, 30m, 12h, 30d' },
    delegate: { type: 'boolean', noEnv: true, noConfig: true, description: 'the audience may issue sub-grants within this one' },
    parent: { type: 'string', valueName: 'TOKEN', noEnv: true, noConfig: true, description: 'the issuer\'s own grant, when the issuer is a delegate rather than an owner' },
    inspect: { type: 'string', valueName: 'TOKEN', noEnv: true, noConfig: true, description: 'print what TOKEN says as JSON (signatures and trust are not checked)' }
  },
  details: [
    'Prints the grant, a token starting with mdg1., on stdout. A sub-grant (--parent) is never wider',
    'than its parent: the same or fewer docs, the same or less access, an earlier expiry.',
    'Grants are checked offline by any node that trusts the owner: a gateway with --trust-owner OWNER gives',
    'a peer what its grants allow. The grant id (on stderr, and in --inspect) is what meshdoc revoke takes.'
  ],
  examples: [
    "meshdoc grant --key owner.key --to 12D3KooW… --docs 'sensors/17/**' --access write --expires 30d",
    'meshdoc grant --inspect mdg1.…'
  ]
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

export function parseDuration (value: string): number {
  const m = /^(\d+)([smhd])$/.exec(value.trim())
  const ms = m === null ? NaN : Number(m[1]) * UNITS[m[2]]
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new UsageError(`--expires must be a duration such as 90s, 30m, 12h or 30d, not "${value}"`, 'grant')
  return ms
}

export async function run ({ values, io }: CommandContext): Promise<number> {
  const inspect = str(values.inspect)
  if (inspect !== undefined) {
    io.stdout.write(JSON.stringify(describe(await guard(async () => decodeGrant(inspect))), null, 2) + '\n')
    return 0
  }
  const keyFile = str(values.key)
  const to = str(values.to)
  const docs = list(values.docs)
  const access = str(values.access)
  if (keyFile === undefined || to === undefined || docs.length === 0 || access === undefined) {
    throw new UsageError('--key, --to, --docs and --access are required (or --inspect TOKEN)', 'grant')
  }
  if (access !== 'read' && access !== 'write') throw new UsageError(`--access must be read or write, not "${access}"`, 'grant')
  const lifetime = parseDuration(str(values.expires) ?? '30d')
  const now = Date.now()
  const token = await guard(async () => await issueGrant({
    key: readOwnerKey(keyFile),
    audience: to,
    access,
    docs,
    notBefore: now,
    expiresAt: now + lifetime,
    delegate: values.delegate === true,
    ...(str(values.parent) !== undefined ? { parent: str(values.parent) } : {})
  }))
  const id = decodeGrant(token).id
  note(io, `grant ${id}: ${access} on ${docs.join(' ')} for ${to} until ${new Date(now + lifetime).toISOString()}; meshdoc revoke ${id} --key … withdraws it`)
  io.stdout.write(token + '\n')
  return 0
}

function describe (g: Grant): unknown {
  return {
    verified: false, // --inspect checks no signature and no trust: use verifyGrant
    id: g.id,
    issuer: g.issuer,
    audience: g.audience,
    access: g.access,
    docs: g.docs,
    notBefore: new Date(g.notBefore).toISOString(),
    expiresAt: new Date(g.expiresAt).toISOString(),
    delegate: g.delegate,
    parent: g.parent === undefined ? null : describe(g.parent)
  }
}
