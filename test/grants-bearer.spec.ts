/**
 * Bearer tokens (lib/grants/bearer.ts): only the holder of a grant's
 * audience key can make one, so a grant copied off the mesh is no bearer
 * token; a token bound to a gateway is taken by that gateway alone; the
 * grant inside is checked as any grant is (its audience aside); parsing is
 * strict, and garbage never throws anything but GrantError.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as encoding from 'lib0/encoding'
import { hostileBearer } from './helpers/bearer-fuzz.js'
import { seededRandom } from './helpers/mesh-nodes.js'
import { BEARER_LIMITS, decodeBearer, issueBearer, verifyBearer } from '../lib/grants/bearer.js'
import { BEARER_PREFIX, decodeGrant, GRANT_PREFIX, GrantError, issueGrant, verifyGrant, type GrantRefusal } from '../lib/grants/grant.js'

const HOUR = 3_600_000
const idOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')
const grantBytes = (token: string): Uint8Array => Buffer.from(token.slice(GRANT_PREFIX.length), 'base64url')

async function refusedWith (p: Promise<unknown>, reason: GrantRefusal): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GrantError, `not a GrantError: ${String(err)}`)
    assert.equal(err.reason, reason, err.message)
    return true
  })
}

/** A bearer envelope as PROTOCOL §4.5 lays it out (to build tokens the library would never make). */
function bearer (f: { grant: Uint8Array, gateway?: string, signature: Uint8Array, version?: number }): string {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, f.version ?? 1)
  encoding.writeVarUint8Array(e, f.grant)
  encoding.writeVarString(e, f.gateway ?? '')
  encoding.writeVarUint8Array(e, f.signature)
  return BEARER_PREFIX + b64(encoding.toUint8Array(e))
}

/** What PROTOCOL §4.5 says the audience signs, signed by `key`. */
async function signed (key: PrivateKey, grantToken: string, gateway = ''): Promise<Uint8Array> {
  const id = Buffer.from(decodeGrant(grantToken).id, 'hex')
  return await key.sign(new Uint8Array([...new TextEncoder().encode('meshdoc bearer v1\n'), ...id, ...new TextEncoder().encode(gateway)]))
}

describe('bearer tokens', function () {
  this.timeout(60_000)
  let owner: PrivateKey, user: PrivateKey, thief: PrivateKey, gwA: PrivateKey, gwB: PrivateKey
  let grant: string
  let owners: string[]
  const now = Date.now()
  before(async () => {
    [owner, user, thief, gwA, gwB] = await Promise.all([1, 2, 3, 4, 5].map(async () => await generateKeyPair('Ed25519')))
    owners = [idOf(owner)]
    grant = await issueGrant({ key: owner, audience: idOf(user), access: 'write', docs: ['notes/user/**'], notBefore: now, expiresAt: now + HOUR })
  })

  it('the audience makes one of its grant; it verifies with no presenter, says what the grant says, and is the same token each time', async () => {
    const token = await issueBearer({ grant, audienceKey: user })
    assert.ok(token.startsWith(BEARER_PREFIX))
    const b = await verifyBearer(token, { owners })
    assert.equal(b.grant.id, decodeGrant(grant).id)
    assert.deepEqual([b.grant.audience, b.grant.access, b.grant.docs], [idOf(user), 'write', ['notes/user/**']])
    assert.equal(b.grantToken, grant)
    assert.equal(b.gateway, undefined)
    assert.match(b.id, /^[0-9a-f]{32}$/)
    // Ed25519 signs deterministically: one (grant, gateway, key), one token, one id to count it by
    assert.equal(await issueBearer({ grant, audienceKey: user }), token)
    assert.equal(decodeBearer(token).id, b.id)
    assert.notEqual(decodeBearer(await issueBearer({ grant, audienceKey: user, gateway: idOf(gwA) })).id, b.id)
    // a delegated grant: the chain is checked up to the owner
    const toGw = await issueGrant({ key: owner, audience: idOf(gwA), access: 'write', docs: ['notes/**'], expiresAt: now + HOUR, delegate: true })
    const sub = await issueGrant({ key: gwA, audience: idOf(user), access: 'read', docs: ['notes/user/x'], expiresAt: now + HOUR / 2, parent: toGw })
    const chained = await verifyBearer(await issueBearer({ grant: sub, audienceKey: user }), { owners })
    assert.equal(chained.grant.parent?.audience, idOf(gwA))
  })

  it('a plain grant is not a bearer token (not_bearer), and a bearer token is not a grant', async () => {
    await refusedWith(verifyBearer(grant, { owners }), 'not_bearer')
    await refusedWith(verifyBearer(`  ${grant}\n`, { owners }), 'not_bearer')
    assert.throws(() => decodeBearer(grant), (err: unknown) => err instanceof GrantError && err.reason === 'not_bearer')
    await refusedWith(verifyGrant(await issueBearer({ grant, audienceKey: user }), { owners }), 'malformed')
  })

  it('only the audience\'s key makes one: another key is refused at issue; forged, re-bound or with the grant swapped, it is bad_signature', async () => {
    await assert.rejects(issueBearer({ grant, audienceKey: thief }), (err: unknown) => err instanceof GrantError && err.reason === 'wrong_audience')
    // a thief that copied the grant off the mesh signs it with its own key
    await refusedWith(verifyBearer(bearer({ grant: grantBytes(grant), signature: await signed(thief, grant) }), { owners }), 'bad_signature')
    // ... or takes its own valid bearer token and puts the stolen grant in it
    const thiefGrant = await issueGrant({ key: owner, audience: idOf(thief), access: 'read', docs: ['public/**'], expiresAt: now + HOUR })
    const own = await issueBearer({ grant: thiefGrant, audienceKey: thief })
    await verifyBearer(own, { owners })
    const ownSignature = Buffer.from(own.slice(BEARER_PREFIX.length), 'base64url').subarray(-64)
    await refusedWith(verifyBearer(bearer({ grant: grantBytes(grant), signature: ownSignature }), { owners }), 'bad_signature')
    // ... or unbinds a token bound to one gateway, or binds it to another
    const bound = await issueBearer({ grant, audienceKey: user, gateway: idOf(gwA) })
    const boundSignature = Buffer.from(bound.slice(BEARER_PREFIX.length), 'base64url').subarray(-64)
    await refusedWith(verifyBearer(bearer({ grant: grantBytes(grant), signature: boundSignature }), { owners, gateway: idOf(gwA) }), 'bad_signature')
    await refusedWith(verifyBearer(bearer({ grant: grantBytes(grant), gateway: idOf(gwB), signature: boundSignature }), { owners, gateway: idOf(gwB) }), 'bad_signature')
    // the same layout signed by the audience verifies: the format is as PROTOCOL §4.5 says
    assert.equal(bearer({ grant: grantBytes(grant), signature: await signed(user, grant) }), await issueBearer({ grant, audienceKey: user }))
  })

  it('bound to a gateway, it is taken by that gateway only', async () => {
    const bound = await issueBearer({ grant, audienceKey: user, gateway: idOf(gwA) })
    assert.equal((await verifyBearer(bound, { owners, gateway: idOf(gwA) })).gateway, idOf(gwA))
    await refusedWith(verifyBearer(bound, { owners, gateway: idOf(gwB) }), 'wrong_gateway')
    await refusedWith(verifyBearer(bound, { owners }), 'wrong_gateway')
    const any = await issueBearer({ grant, audienceKey: user })
    await verifyBearer(any, { owners, gateway: idOf(gwB) })
    await assert.rejects(issueBearer({ grant, audienceKey: user, gateway: 'gateway-1' }), (err: unknown) => err instanceof GrantError && err.reason === 'malformed')
  })

  it('the grant inside is checked as any grant is: owner, time, every signature of its chain', async () => {
    const token = await issueBearer({ grant, audienceKey: user })
    await refusedWith(verifyBearer(token, { owners: [idOf(thief)] }), 'unknown_owner')
    await refusedWith(verifyBearer(token, { owners, now: now + HOUR + 61_000 }), 'expired')
    await refusedWith(verifyBearer(token, { owners, now: now - 61_000 }), 'not_yet_valid')
    // the owner's signature broken (the grant's id, a hash of its body, unchanged): the audience signed it, the chain fails
    const tampered = grantBytes(grant)
    tampered[tampered.length - 1] ^= 1
    const tamperedToken = GRANT_PREFIX + b64(tampered)
    await refusedWith(verifyBearer(await issueBearer({ grant: tamperedToken, audienceKey: user }), { owners }), 'bad_signature')
  })

  it('strict parsing: version, trailing bytes, overlong integers, the signature\'s length, the gateway, the audience\'s key type, sizes', async () => {
    const g = grantBytes(grant)
    const sig = await signed(user, grant)
    const cases: Array<[string, unknown, GrantRefusal]> = [
      ['version 2', bearer({ grant: g, signature: sig, version: 2 }), 'malformed'],
      ['a trailing byte', bearer({ grant: g, signature: sig }) + 'AA', 'malformed'],
      ['a 63-byte signature', bearer({ grant: g, signature: sig.subarray(1) }), 'malformed'],
      ['a gateway that is no PeerId', bearer({ grant: g, gateway: 'gw', signature: sig }), 'malformed'],
      ['a gateway over the cap', bearer({ grant: g, gateway: 'x'.repeat(BEARER_LIMITS.maxGatewayBytes + 1), signature: sig }), 'malformed'],
      ['no grant', bearer({ grant: new Uint8Array(0), signature: sig }), 'malformed'],
      ['not base64url', BEARER_PREFIX + '$$$', 'malformed'],
      ['another prefix', 'mdb2.' + b64(g), 'malformed'],
      ['empty', '', 'malformed'],
      ['not a string', 42, 'malformed'],
      ['too large', BEARER_PREFIX + 'A'.repeat(BEARER_LIMITS.maxTokenBytes), 'too_large']
    ]
    for (const [what, token, reason] of cases) {
      await assert.rejects(verifyBearer(token as string, { owners }), (err: unknown) => {
        assert.ok(err instanceof GrantError, `${what}: ${String(err)}`)
        assert.equal(err.reason, reason, `${what}: ${err.message}`)
        return true
      })
    }
    // an overlong var-uint (the version in two bytes): not canonical
    const raw = Buffer.from(bearer({ grant: g, signature: sig }).slice(BEARER_PREFIX.length), 'base64url')
    await verifyBearer(BEARER_PREFIX + b64(raw), { owners })
    await refusedWith(verifyBearer(BEARER_PREFIX + b64(Buffer.concat([Buffer.from([0x81, 0x00]), raw.subarray(1)])), { owners }), 'malformed')
    // a grant to a PeerId whose key is not Ed25519: no bearer token for it
    const secp = await generateKeyPair('secp256k1')
    const toSecp = await issueGrant({ key: owner, audience: idOf(secp), access: 'read', docs: ['a'], expiresAt: now + HOUR })
    await assert.rejects(issueBearer({ grant: toSecp, audienceKey: secp }), (err: unknown) => err instanceof GrantError && err.reason === 'malformed')
    await refusedWith(verifyBearer(bearer({ grant: grantBytes(toSecp), signature: new Uint8Array(64) }), { owners }), 'malformed')
  })

  it(`garbage, truncated and bit-flipped bearer tokens: only GrantError, never a throw of anything else (${Number(process.env.MESHDOC_GRANT_FUZZ ?? 10_000)} cases)`, async () => {
    const seed = Number(process.env.MESHDOC_SEED ?? 1)
    const rnd = seededRandom(seed)
    const runs = Number(process.env.MESHDOC_GRANT_FUZZ ?? 10_000)
    const toGw = await issueGrant({ key: owner, audience: idOf(gwA), access: 'write', docs: ['notes/**'], expiresAt: now + HOUR, delegate: true })
    const sub = await issueGrant({ key: gwA, audience: idOf(user), access: 'write', docs: ['notes/user/**'], expiresAt: now + HOUR / 2, parent: toGw })
    const valid = await issueBearer({ grant: sub, audienceKey: user, gateway: idOf(gwB) })
    const reasons = new Map<string, number>()
    const t0 = performance.now()
    for (let i = 0; i < runs; i++) {
      const token = hostileBearer(valid, i, rnd)
      try {
        const b = await verifyBearer(token, { owners, gateway: idOf(gwB) })
        assert.equal(b.id, decodeBearer(valid).id, `seed ${seed} case ${i}: a changed token verified`)
      } catch (err) {
        if (!(err instanceof GrantError)) assert.fail(`seed ${seed} case ${i}: ${String(err)} for ${token.slice(0, 80)}`)
        reasons.set(err.reason, (reasons.get(err.reason) ?? 0) + 1)
      }
    }
    assert.ok((reasons.get('malformed') ?? 0) > 0 && (reasons.get('bad_signature') ?? 0) > 0, JSON.stringify([...reasons]))
    assert.ok(performance.now() - t0 < 20_000, `${Math.round(performance.now() - t0)} ms`)
  })
})
