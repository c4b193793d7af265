/**
 * `meshdoc grant`: issue a grant with an owner (or delegate) key, or inspect
 * one; with --bearer, the grant wrapped in a bearer token signed by its
 * audience's key (a key file, or one made on the spot), for y-websocket clients.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { CommandSpec } from '../option-spec.js'
import { list, note, str, type CommandContext } from '../context.js'
import { UsageError } from '../errors.js'
import { grantErrorsAsCliErrors as guard, readOwnerKey } from '../grant-inputs.js'
import { BEARER_PREFIX, decodeGrant, issueGrant, type Grant } from '../../grants/grant.js'
import { decodeBearer, issueBearer } from '../../grants/bearer.js'

export const spec: CommandSpec = {
  name: 'grant',
  summary: 'Issue a grant (--key FILE --to PEERID --docs PATTERN --access read|write --expires 30d), a bearer token for y-websocket clients (--bearer), or print what one says (--inspect TOKEN).',
  positionals: [],
  options: {
    key: { type: 'string', valueName: 'FILE', path: true, noEnv: true, description: 'the issuer\'s key (meshdoc keys new)' },
    to: { type: 'string', valueName: 'PEERID', noEnv: true, noConfig: true, description: 'the audience: the PeerId that may use it (meshdoc id --data DIR)' },
    docs: { type: 'string', multiple: true, valueName: 'PATTERN', noEnv: true, noConfig: true, description: 'doc ids or globs (* one segment, ** any); repeat for more' },
    access: { type: 'string', valueName: 'read|write', noEnv: true, noConfig: true, description: 'what it allows' },
    expires: { type: 'string', valueName: 'DURATION', noEnv: true, noConfig: true, description: 'lifetime: 90s, 30m, 12h, 30d (default 30d; with --bearer 12h)' },
    delegate: { type: 'boolean', noEnv: true, noConfig: true, description: 'the audience may issue sub-grants within this one' },
    parent: { type: 'string', valueName: 'TOKEN', noEnv: true, noConfig: true, description: 'the issuer\'s own grant, when the issuer is a delegate rather than an owner' },
    bearer: { type: 'boolean', noEnv: true, noConfig: true, description: 'print a bearer token (mdb1.…) for y-websocket clients (gateway --yws) instead: the grant, signed over by its audience\'s key' },
    'audience-key': { type: 'string', valueName: 'FILE', path: true, noEnv: true, description: 'with --bearer: the audience\'s key (meshdoc keys new), the grant going to its PeerId; without it, a key is made for this token alone (--to not needed)' },
    gateway: { type: 'string', valueName: 'PEERID', noEnv: true, noConfig: true, description: 'with --bearer: only the gateway with this PeerId takes the token (meshdoc id --data DIR); default any that trusts the owner' },
    inspect: { type: 'string', valueName: 'TOKEN', noEnv: true, noConfig: true, description: 'print what TOKEN (mdg1.… or mdb1.…) says as JSON (signatures and trust are not checked)' }
  },
  details: [
    'Prints the grant, a token starting with mdg1., on stdout. A sub-grant (--parent) is never wider',
    'than its parent: the same or fewer docs, the same or less access, an earlier expiry.',
    'Grants are checked offline by any node that trusts the owner: a gateway with --trust-owner OWNER gives',
    'a peer what its grants allow. The grant id (on stderr, and in --inspect) is what meshdoc revoke takes.',
    'A y-websocket client (gateway --yws) cannot prove a PeerId, so it hands over a bearer token (--bearer; mdb1.…):',
    'a grant its audience signed over, which only the holder of the audience\'s key can make. A plain grant is',
    'refused there, as every peer it was presented to could replay it. Whoever holds a bearer token gets what its',
    'grant allows until it expires or is revoked: keep them short-lived (docs/SECURITY.md, "y-websocket clients").'
  ],
  examples: [
    "meshdoc grant --key owner.key --to 12D3KooW… --docs 'sensors/17/**' --access write --expires 30d",
    "meshdoc grant --key owner.key --bearer --docs 'notes/alice/**' --access write --expires 1h",
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
    io.stdout.write(JSON.stringify(await guard(async () => inspected(inspect)), null, 2) + '\n')
    return 0
  }
  const bearer = values.bearer === true
  const audienceKeyFile = str(values['audience-key'])
  const gateway = str(values.gateway)
  if (!bearer && (audienceKeyFile !== undefined || gateway !== undefined)) throw new UsageError('--audience-key and --gateway go with --bearer', 'grant')
  const keyFile = str(values.key)
  const docs = list(values.docs)
  const access = str(values.access)
  // a bearer token is signed by the audience: its key from a file, or one made for this token alone
  const audienceKey: PrivateKey | undefined = !bearer ? undefined : audienceKeyFile !== undefined ? readOwnerKey(audienceKeyFile) : await generateKeyPair('Ed25519')
  const audienceId = audienceKey === undefined ? undefined : peerIdFromPrivateKey(audienceKey).toString()
  const to = str(values.to) ?? audienceId
  if (keyFile === undefined || to === undefined || docs.length === 0 || access === undefined) {
    throw new UsageError('--key, --to, --docs and --access are required (or --inspect TOKEN; --bearer needs no --to)', 'grant')
  }
  if (access !== 'read' && access !== 'write') throw new UsageError(`--access must be read or write, not "${access}"`, 'grant')
  if (bearer && to !== audienceId) {
    throw new UsageError(audienceKeyFile !== undefined ? `--to ${to} is not the PeerId of --audience-key ${audienceKeyFile} (${audienceId ?? ''})` : '--bearer --to PEERID needs --audience-key FILE, that PeerId\'s key: the audience signs the token', 'grant')
  }
  if (bearer && audienceKeyFile === undefined && values.delegate === true) throw new UsageError('--delegate with --bearer needs --audience-key FILE: a key made for the token is not kept, so nobody could delegate', 'grant')
  const lifetime = parseDuration(str(values.expires) ?? (bearer ? '12h' : '30d'))
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
  const until = new Date(now + lifetime).toISOString()
  if (audienceKey === undefined) {
    note(io, `grant ${id}: ${access} on ${docs.join(' ')} for ${to} until ${until}; meshdoc revoke ${id} --key … withdraws it`)
    io.stdout.write(token + '\n')
    return 0
  }
  const printed = await guard(async () => await issueBearer({ grant: token, audienceKey, ...(gateway !== undefined ? { gateway } : {}) }))
  const whose = audienceKeyFile !== undefined ? to : `${to} (a key made for this token, not kept)`
  note(io, `bearer token for grant ${id}: ${access} on ${docs.join(' ')} for ${whose} at ${gateway ?? 'any gateway that trusts the owner'} until ${until}; meshdoc revoke ${id} --key … withdraws it`)
  io.stdout.write(printed + '\n')
  return 0
}

/** What --inspect prints: a grant, or a bearer token and the grant inside. */
function inspected (token: string): unknown {
  if (!token.trim().startsWith(BEARER_PREFIX)) return describe(decodeGrant(token))
  const b = decodeBearer(token)
  return { verified: false, bearer: b.id, gateway: b.gateway ?? null, grant: describe(b.grant) }
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
