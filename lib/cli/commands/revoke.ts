/**
 * `meshdoc revoke TARGET --key owner.key [--admin HOST:PORT]`: an owner's
 * signed revocation of one grant (by id or token; the grants issued under it
 * go too) or of every grant to a PeerId. It is printed on stdout (`mdr1.…`);
 * with --admin it is also put in force at a running gateway (its admin port's
 * POST /revocations), which passes it on to the peers it syncs with.
 */
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { CommandSpec } from '../option-spec.js'
import { ADMIN_TOKEN_OPTION, adminRequest, adminUrl, statusHint } from '../admin-client.js'
import { adminTokenFrom } from '../admin-auth.js'
import { parseHostPort, type HostPort, type RevocationInfo } from '../admin-server.js'
import { note, str, type CliIO, type CommandContext } from '../context.js'
import { CliError, UsageError } from '../errors.js'
import { grantErrorsAsCliErrors as guard, readOwnerKey } from '../grant-inputs.js'
import { BEARER_PREFIX, decodeGrant, GRANT_PREFIX, type Grant } from '../../grants/grant.js'
import { decodeBearer } from '../../grants/bearer.js'
import { REVOCATION_PREFIX, revokeGrant, type RevokeOptions } from '../../grants/revocation.js'

export const spec: CommandSpec = {
  name: 'revoke',
  summary: 'Revoke a grant, or every grant to a PeerId, with an owner key: print the record (mdr1.…), and with --admin put it in force at a gateway.',
  positionals: [{ name: 'TARGET', required: true, description: 'a grant id (32 hex digits, as meshdoc grant prints it), a grant (mdg1.…) or a bearer token (mdb1.…: its grant), a PeerId (every grant to it), or a record to send as it is (mdr1.…)' }],
  options: {
    key: { type: 'string', valueName: 'FILE', path: true, noEnv: true, description: 'an owner key (meshdoc keys new): only an owner the nodes trust may revoke, not a delegate' },
    admin: { type: 'string', valueName: 'HOST:PORT', description: 'send it to the gateway whose admin address this is (its --admin), which puts it in force and passes it on to its peers; "none": print it only' },
    'admin-token-file': ADMIN_TOKEN_OPTION,
    timeout: { type: 'string', valueName: 'MS', default: '5000', description: 'give up on --admin after this many milliseconds' }
  },
  details: [
    'Prints the revocation, a record starting with mdr1., on stdout. It counts on every node that trusts the',
    "owner who signed it: give it to a gateway (--admin, or the gateway's --revocation-file) and the gateway ends",
    'the sessions the revoked grants allowed, keeps the record in its --data, and passes it on to its peers.',
    'A revoked grant stays revoked: to let that peer in again, issue it a new grant (revoking a PeerId bars',
    'every grant to it, later ones too). Exit status 1 when the gateway refuses the record, with its reason.'
  ],
  examples: [
    'meshdoc revoke 9c1e4f0b2a7d6e3c8b5a4f1d0e2c3b4a --key owner.key --admin 127.0.0.1:9464',
    'meshdoc revoke 12D3KooW… --key owner.key > device-17.revocation',
    'meshdoc revoke mdr1.… --admin 10.0.0.2:9464'
  ]
}

export async function run ({ values, positionals, io }: CommandContext): Promise<number> {
  const target = positionals[0].trim()
  const adminArg = str(values.admin)
  const at = adminArg === undefined || adminArg === 'none' ? undefined : parseHostPort(adminArg)
  const timeout = Number(str(values.timeout))
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError('--timeout must be a positive number of milliseconds', 'revoke')

  let record: string
  if (target.startsWith(REVOCATION_PREFIX)) {
    if (at === undefined) throw new UsageError('TARGET is a revocation record already: give --admin HOST:PORT to send it to a gateway', 'revoke')
    record = target
  } else {
    const what = await targetOf(target)
    const keyFile = str(values.key)
    if (keyFile === undefined) throw new UsageError('--key FILE (an owner key) is required', 'revoke')
    const key = readOwnerKey(keyFile)
    const owner = peerIdFromPrivateKey(key).toString()
    const root = rootOf(what.grant)
    if (root !== undefined && root.issuer !== owner) {
      note(io, `warning: grant ${what.options.grant ?? ''} was issued under owner ${root.issuer}, not ${owner} (the key's): it counts only where ${owner} is trusted too`)
    }
    record = await guard(async () => await revokeGrant({ key, ...what.options }))
    note(io, `revocation of ${what.options.grant !== undefined ? `grant ${what.options.grant}` : `every grant to ${what.options.peer ?? ''}`}, signed by owner ${owner}`)
  }
  io.stdout.write(record + '\n')
  const token = typeof values['admin-token-file'] === 'string' ? adminTokenFrom(values['admin-token-file']) : undefined
  if (at !== undefined) await putInForce(at, record, timeout, io, token)
  return 0
}

/** What TARGET names: a grant id (or a token, for its id) or a PeerId; else a UsageError. */
async function targetOf (target: string): Promise<{ options: Pick<RevokeOptions, 'grant' | 'peer'>, grant?: Grant }> {
  if (/^[0-9a-fA-F]{32}$/.test(target)) return { options: { grant: target.toLowerCase() } }
  if (target.startsWith(GRANT_PREFIX) || target.startsWith(BEARER_PREFIX)) {
    const grant = await guard(async () => target.startsWith(BEARER_PREFIX) ? decodeBearer(target).grant : decodeGrant(target))
    return { options: { grant: grant.id }, grant }
  }
  try {
    return { options: { peer: peerIdFromString(target).toString() } }
  } catch {
    throw new UsageError(`TARGET must be a grant id (32 hex digits), a grant (mdg1.…), a bearer token (mdb1.…), a PeerId or a record (mdr1.…), not "${target.slice(0, 60)}"`, 'revoke')
  }
}

/** The owner's grant at the root of `grant`'s chain. */
function rootOf (grant: Grant | undefined): Grant | undefined {
  let g = grant
  while (g?.parent !== undefined) g = g.parent
  return g
}

/** POST the record to the gateway's admin port; a refusal is a CliError with the gateway's reason. */
async function putInForce (at: HostPort, record: string, timeout: number, io: CliIO, token: string | undefined): Promise<void> {
  const url = adminUrl(at, '/revocations')
  const answer = await adminRequest(at, '/revocations', { method: 'POST', body: record, timeout, token })
  let json: Partial<RevocationInfo & { error: string, message: string }> | undefined
  try {
    json = JSON.parse(answer.body)
  } catch {}
  if (answer.status === 200 && json?.id !== undefined) {
    note(io, `the gateway at ${adminUrl(at, '')} put revocation ${json.id} in force (${json.kind ?? '?'} ${json.target ?? '?'}) and passes it on to its peers`)
    return
  }
  if (answer.status === 400 && json?.error !== undefined) throw new CliError(`the gateway at ${adminUrl(at, '')} refused the revocation: ${json.error}: ${json.message ?? ''}`)
  const said = answer.body.split('\n')[0].slice(0, 200)
  const hint = answer.status === 404 ? ' (a gateway that takes no revocations: is it older than this meshdoc?)' : statusHint(answer.status)
  throw new CliError(`${url} answered ${answer.status} ${answer.statusText}${said.length > 0 ? `: ${said}` : ''}${hint}`)
}
