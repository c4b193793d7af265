/**
 * `meshdoc keys new` and `meshdoc grant`: an owner key (0600, never
 * overwritten), grants issued for a device and checked by the library as a
 * node would, a delegated grant within its parent, bearer tokens for
 * y-websocket clients (--bearer), and clear errors.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { verifyGrant } from '../lib/grants/grant.js'
import { verifyBearer } from '../lib/grants/bearer.js'
import { revocationBytes, verifyRevocation } from '../lib/grants/revocation.js'
import { parseDuration } from '../lib/cli/commands/grant.js'
import { runInProcess } from './helpers/cli-inprocess.js'

describe('meshdoc keys and meshdoc grant', function () {
  this.timeout(30_000)
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-grant-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  const ok = async (args: string[]): Promise<string> => {
    const r = await runInProcess(args)
    assert.equal(r.code, 0, r.stderr)
    return r.stdout.trim()
  }

  it('an owner key, a grant for a device that verifies for that device only, a delegated grant, and --inspect', async () => {
    const ownerKey = join(dir, 'owner.key')
    const owner = await ok(['keys', 'new', '--out', ownerKey])
    assert.match(owner, /^12D3KooW\S+$/)
    assert.equal((await stat(ownerKey)).mode & 0o777, 0o600)
    const again = await runInProcess(['keys', 'new', '--out', ownerKey])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /exists; an owner key is never overwritten/)

    const gwDir = join(dir, 'gw')
    const gwId = await ok(['id', '--create', '--data', gwDir])
    const devId = await ok(['id', '--create', '--data', join(dir, 'dev')])
    const token = await ok(['grant', '--key', ownerKey, '--to', devId, '--docs', 'sensors/17/**', '--access', 'write', '--expires', '2h'])
    const g = await verifyGrant(token, { owners: [owner], presenter: devId })
    assert.deepEqual([g.issuer, g.access, g.docs], [owner, 'write', ['sensors/17/**']])
    assert.ok(Math.abs(g.expiresAt - g.notBefore - 2 * 3_600_000) < 1000)
    await assert.rejects(verifyGrant(token, { owners: [owner], presenter: gwId }), /is for/)

    // a delegate (an operator, say) with a key of its own, allowed to delegate under sensors/**
    const delegateKey = join(dir, 'delegate.key')
    const delegate = await ok(['keys', 'new', '--out', delegateKey])
    const toDelegate = await ok(['grant', '--key', ownerKey, '--to', delegate, '--docs', 'sensors/**', '--access', 'write', '--delegate'])
    const sub = await ok(['grant', '--key', delegateKey, '--parent', toDelegate, '--to', devId, '--docs', 'sensors/3', '--access', 'read', '--expires', '1d'])
    assert.equal((await verifyGrant(sub, { owners: [owner], presenter: devId })).parent?.audience, delegate)
    const wider = await runInProcess(['grant', '--key', delegateKey, '--parent', toDelegate, '--to', devId, '--docs', 'notes/**', '--access', 'read', '--expires', '1d'])
    assert.equal(wider.code, 1)
    assert.match(wider.stderr, /wider_than_parent: "notes\/\*\*" is not within/)

    const shown = JSON.parse(await ok(['grant', '--inspect', sub])) as { id: string, audience: string, parent: { id: string, audience: string, delegate: boolean } }
    assert.equal(shown.audience, devId)
    assert.deepEqual([shown.parent.audience, shown.parent.delegate], [delegate, true])
    // the id --inspect prints is the one issuing names on stderr, and the one meshdoc revoke takes
    assert.match(shown.id, /^[0-9a-f]{32}$/)
    assert.equal(shown.parent.id, JSON.parse(await ok(['grant', '--inspect', toDelegate])).id)
    const issued = await runInProcess(['grant', '--key', ownerKey, '--to', devId, '--docs', 'sensors/17/**', '--access', 'read', '--expires', '1d'])
    const id = (JSON.parse(await ok(['grant', '--inspect', issued.stdout.trim()])) as { id: string }).id
    assert.match(issued.stderr, new RegExp(`^meshdoc: grant ${id}: read on sensors/17/\\*\\* for ${devId} until \\S+Z; meshdoc revoke ${id} --key … withdraws it$`, 'm'))
  })

  it('--bearer: a bearer token for a key made on the spot or a key file, bound to a gateway or not; --inspect and revoke read it', async () => {
    const ownerKey = join(dir, 'owner.key')
    const owner = await ok(['keys', 'new', '--out', ownerKey])
    // the login backend's case: a key made for the token alone, 12 h unless --expires says otherwise
    const fresh = await runInProcess(['grant', '--key', ownerKey, '--bearer', '--docs', 'notes/alice/**', '--access', 'write'])
    assert.equal(fresh.code, 0, fresh.stderr)
    const b = await verifyBearer(fresh.stdout.trim(), { owners: [owner] })
    assert.deepEqual([b.grant.access, b.grant.docs, b.gateway], ['write', ['notes/alice/**'], undefined])
    assert.ok(Math.abs(b.grant.expiresAt - b.grant.notBefore - 12 * 3_600_000) < 1000)
    assert.match(fresh.stderr, new RegExp(`^meshdoc: bearer token for grant ${b.grant.id}: write on notes/alice/\\*\\* for ${b.grant.audience} \\(a key made for this token, not kept\\) at any gateway`, 'm'))

    // the audience's key from a file (--to may repeat its PeerId), bound to one gateway
    const userKey = join(dir, 'user.key')
    const user = await ok(['keys', 'new', '--out', userKey])
    const gwId = await ok(['id', '--create', '--data', join(dir, 'gw')])
    const token = await ok(['grant', '--key', ownerKey, '--bearer', '--audience-key', userKey, '--to', user, '--gateway', gwId, '--docs', 'notes/**', '--access', 'read', '--expires', '1h'])
    const bound = await verifyBearer(token, { owners: [owner], gateway: gwId })
    assert.deepEqual([bound.grant.audience, bound.gateway], [user, gwId])
    await assert.rejects(verifyBearer(token, { owners: [owner], gateway: user }), /is for the gateway/)
    const shown = JSON.parse(await ok(['grant', '--inspect', token])) as { verified: boolean, bearer: string, gateway: string, grant: { id: string, audience: string } }
    assert.deepEqual([shown.verified, shown.bearer, shown.gateway, shown.grant.id, shown.grant.audience], [false, bound.id, gwId, bound.grant.id, user])
    // meshdoc revoke takes the token for its grant
    const record = await ok(['revoke', token, '--key', ownerKey, '--admin', 'none'])
    const r = await verifyRevocation(revocationBytes(record), new Set([owner]))
    assert.deepEqual([r.kind, r.target], ['grant', bound.grant.id])

    for (const [args, code, msg] of [
      [['--to', user], 2, /--bearer --to PEERID needs --audience-key FILE/],
      [['--audience-key', userKey, '--to', gwId], 2, /is not the PeerId of --audience-key/],
      [['--delegate'], 2, /--delegate with --bearer needs --audience-key/],
      [['--gateway', 'gw-1'], 1, /malformed: the gateway "gw-1" is not a PeerId/]
    ] as Array<[string[], number, RegExp]>) {
      const r = await runInProcess(['grant', '--key', ownerKey, '--bearer', '--docs', 'a', '--access', 'read', ...args])
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, msg)
    }
    const noBearer = await runInProcess(['grant', '--key', ownerKey, '--to', user, '--gateway', gwId, '--docs', 'a', '--access', 'read'])
    assert.equal(noBearer.code, 2)
    assert.match(noBearer.stderr, /--audience-key and --gateway go with --bearer/)
  })

  it('bad input: usage errors (exit 2) for a missing or wrong option, exit 1 for a bad key, PeerId or token', async () => {
    const ownerKey = join(dir, 'owner.key')
    await ok(['keys', 'new', '--out', ownerKey])
    const dev = await ok(['id', '--create', '--data', join(dir, 'dev')])
    for (const [args, code, msg] of [
      [['grant', '--key', ownerKey, '--to', dev, '--docs', 'a'], 2, /--access are required/],
      [['grant', '--key', ownerKey, '--to', dev, '--docs', 'a', '--access', 'admin'], 2, /--access must be read or write/],
      [['grant', '--key', ownerKey, '--to', dev, '--docs', 'a', '--access', 'read', '--expires', 'forever'], 2, /--expires must be a duration/],
      [['grant', '--key', join(dir, 'nope'), '--to', dev, '--docs', 'a', '--access', 'read'], 1, /cannot read the key/],
      [['grant', '--key', ownerKey, '--to', '12D3KooWtypo', '--docs', 'a', '--access', 'read'], 1, /malformed: the audience "12D3KooWtypo" is not a PeerId/],
      [['grant', '--inspect', 'mdg1.AAAA'], 1, /malformed: not a meshdoc grant/],
      [['keys', 'old', '--out', join(dir, 'k')], 2, /ACTION must be "new"/]
    ] as Array<[string[], number, RegExp]>) {
      const r = await runInProcess(args)
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, msg)
    }
    assert.equal(parseDuration('30d'), 30 * 86_400_000)
    assert.equal(parseDuration('90s'), 90_000)
  })
})
