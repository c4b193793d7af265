/**
 * Grants (lib/grants/grant.ts): made by an owner, delegated within their
 * bounds, checked offline up to a trusted owner. Every kind of bad token is
 * refused with its reason, and garbage never throws anything but GrantError.
 */
import assert from 'node:assert/strict'
import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { seededRandom } from './helpers/mesh-nodes.js'
import { covers, decodeGrant, GRANT_PREFIX, GrantError, grantAllows, issueGrant, verifyGrant, type GrantRefusal } from '../lib/grants/grant.js'

const HOUR = 3_600_000
const idOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()

async function refusedWith (p: Promise<unknown>, reason: GrantRefusal): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GrantError, `not a GrantError: ${String(err)}`)
    assert.equal(err.reason, reason, err.message)
    return true
  })
}

/** A grant body as PROTOCOL §4.1 lays it out (to build tokens the library would never make). */
function body (f: { key: PrivateKey, audience: string, access: number, docs: string[], notBefore: number, expiresAt: number, delegate: number, parent?: Uint8Array }): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint8Array(e, publicKeyToProtobuf(f.key.publicKey))
  encoding.writeVarString(e, f.audience)
  encoding.writeVarUint(e, f.access)
  encoding.writeVarUint(e, f.docs.length)
  for (const d of f.docs) encoding.writeVarString(e, d)
  encoding.writeVarUint(e, f.notBefore)
  encoding.writeVarUint(e, f.expiresAt)
  encoding.writeVarUint(e, f.delegate)
  encoding.writeVarUint8Array(e, f.parent ?? new Uint8Array(0))
  return encoding.toUint8Array(e)
}

function envelope (b: Uint8Array, signature: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint8Array(e, b)
  encoding.writeVarUint8Array(e, signature)
  return encoding.toUint8Array(e)
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => new Uint8Array([...a, ...b])

describe('grants', function () {
  this.timeout(60_000)
  let owner: PrivateKey, gateway: PrivateKey, sensor: PrivateKey, thief: PrivateKey
  const now = Date.now()
  before(async () => {
    [owner, gateway, sensor, thief] = await Promise.all([1, 2, 3, 4].map(async () => await generateKeyPair('Ed25519')))
  })

  it('an owner\'s grant verifies for its audience, and says what it allows', async () => {
    const token = await issueGrant({ key: owner, audience: idOf(sensor), access: 'write', docs: ['sensors/17/**'], expiresAt: now + HOUR })
    assert.ok(token.startsWith(GRANT_PREFIX))
    const g = await verifyGrant(token, { owners: [idOf(owner)], presenter: idOf(sensor) })
    assert.equal(g.issuer, idOf(owner))
    assert.equal(g.audience, idOf(sensor))
    assert.match(g.id, /^[0-9a-f]{32}$/)
    assert.equal(grantAllows(g, 'sensors/17/temp', 'write'), true)
    assert.equal(grantAllows(g, 'sensors/18/temp', 'read'), false)
    assert.deepEqual(decodeGrant(token).docs, ['sensors/17/**'])
  })

  it('refuses a stolen token (another presenter), an unknown owner, expired and not-yet-valid grants (with the clock-skew allowance)', async () => {
    const token = await issueGrant({ key: owner, audience: idOf(sensor), access: 'read', docs: ['a'], notBefore: now, expiresAt: now + HOUR })
    await refusedWith(verifyGrant(token, { owners: [idOf(owner)], presenter: idOf(thief) }), 'wrong_audience')
    await refusedWith(verifyGrant(token, { owners: [idOf(gateway)] }), 'unknown_owner')
    await refusedWith(verifyGrant(token, { owners: [idOf(owner)], now: now + HOUR + 61_000 }), 'expired')
    await verifyGrant(token, { owners: [idOf(owner)], now: now + HOUR + 59_000 }) // within the skew
    await refusedWith(verifyGrant(token, { owners: [idOf(owner)], now: now - 61_000 }), 'not_yet_valid')
    await verifyGrant(token, { owners: [idOf(owner)], now: now - 59_000 })
  })

  it('a forged signature: a body altered after signing, or another key\'s signature on it', async () => {
    const token = await issueGrant({ key: owner, audience: idOf(sensor), access: 'read', docs: ['sensors/17'], expiresAt: now + HOUR })
    // flip access read -> write inside the body (the signature no longer covers it)
    const bytes = Buffer.from(token.slice(GRANT_PREFIX.length), 'base64url')
    const i = bytes.indexOf(Buffer.from('sensors/17'))
    assert.ok(i > 0)
    bytes[i + 8] = '9'.charCodeAt(0) // sensors/19
    await refusedWith(verifyGrant(GRANT_PREFIX + bytes.toString('base64url'), { owners: [idOf(owner)] }), 'bad_signature')
    // the owner's body with a thief's signature (of its own grant) on it
    const mine = await issueGrant({ key: thief, audience: idOf(sensor), access: 'write', docs: ['sensors/17'], expiresAt: now + HOUR })
    const envelope = (t: string): { body: Uint8Array, signature: Uint8Array } => {
      const d = decoding.createDecoder(Buffer.from(t.slice(GRANT_PREFIX.length), 'base64url'))
      return { body: decoding.readVarUint8Array(d), signature: decoding.readVarUint8Array(d) }
    }
    const e = encoding.createEncoder()
    encoding.writeVarUint8Array(e, envelope(token).body)
    encoding.writeVarUint8Array(e, envelope(mine).signature)
    await refusedWith(verifyGrant(GRANT_PREFIX + Buffer.from(encoding.toUint8Array(e)).toString('base64url'), { owners: [idOf(owner)] }), 'bad_signature')
  })

  it('delegation: owner -> gateway (may delegate) -> sensor, within bounds; anything wider is refused', async () => {
    const toGateway = await issueGrant({ key: owner, audience: idOf(gateway), access: 'write', docs: ['sensors/**'], expiresAt: now + 10 * HOUR, delegate: true })
    const toSensor = await issueGrant({ key: gateway, audience: idOf(sensor), access: 'write', docs: ['sensors/17/**', 'sensors/3'], expiresAt: now + HOUR, parent: toGateway })
    const g = await verifyGrant(toSensor, { owners: [idOf(owner)], presenter: idOf(sensor) })
    assert.equal(g.parent?.audience, idOf(gateway))
    assert.equal(grantAllows(g, 'sensors/17/x', 'write'), true)
    assert.equal(grantAllows(g, 'sensors/4', 'read'), false, 'the leaf decides, not its parent')
    // wider than the parent: more docs, more access, longer life; and from a parent that may not delegate
    await refusedWith(issueGrant({ key: gateway, audience: idOf(sensor), access: 'write', docs: ['**'], expiresAt: now + HOUR, parent: toGateway }), 'wider_than_parent')
    await refusedWith(issueGrant({ key: gateway, audience: idOf(sensor), access: 'write', docs: ['notes/x'], expiresAt: now + HOUR, parent: toGateway }), 'wider_than_parent')
    await refusedWith(issueGrant({ key: gateway, audience: idOf(sensor), access: 'write', docs: ['sensors/1'], expiresAt: now + 11 * HOUR, parent: toGateway }), 'wider_than_parent')
    const readOnly = await issueGrant({ key: owner, audience: idOf(gateway), access: 'read', docs: ['sensors/**'], expiresAt: now + HOUR, delegate: true })
    await refusedWith(issueGrant({ key: gateway, audience: idOf(sensor), access: 'write', docs: ['sensors/1'], expiresAt: now + HOUR / 2, parent: readOnly }), 'wider_than_parent')
    const noDelegation = await issueGrant({ key: owner, audience: idOf(gateway), access: 'write', docs: ['sensors/**'], expiresAt: now + HOUR })
    await refusedWith(issueGrant({ key: gateway, audience: idOf(sensor), access: 'read', docs: ['sensors/1'], expiresAt: now + HOUR / 2, parent: noDelegation }), 'not_delegable')
    // a thief holding the gateway's grant cannot issue under it: the chain breaks
    await refusedWith(issueGrant({ key: thief, audience: idOf(sensor), access: 'read', docs: ['sensors/1'], expiresAt: now + HOUR / 2, parent: toGateway }), 'broken_chain')
  })

  it('a chain longer than the cap is refused, and so is one ending at an unknown owner', async () => {
    const keys = [owner, ...await Promise.all([1, 2, 3, 4].map(async () => await generateKeyPair('Ed25519')))]
    let token: string | undefined
    for (let i = 0; i < 4; i++) {
      token = await issueGrant({ key: keys[i], audience: idOf(keys[i + 1]), access: 'read', docs: ['**'], expiresAt: now + HOUR - i, delegate: true, ...(token !== undefined ? { parent: token } : {}) })
    }
    await verifyGrant(token!, { owners: [idOf(owner)] }) // 4 links: the cap
    await refusedWith(issueGrant({ key: keys[4], audience: idOf(sensor), access: 'read', docs: ['a'], expiresAt: now + HOUR / 2, parent: token }), 'chain_too_long')
    await refusedWith(verifyGrant(token!, { owners: [idOf(thief)] }), 'unknown_owner')
  })

  it('doc patterns: what covers what (conservatively)', () => {
    assert.equal(covers('**', 'anything/at/all'), true)
    assert.equal(covers('sensors/**', 'sensors/17/**'), true)
    assert.equal(covers('sensors/**', 'sensors/17'), true)
    assert.equal(covers('sensors/*', 'sensors/17'), true)
    assert.equal(covers('sensors/*', 'sensors/17/x'), false)
    assert.equal(covers('sensors/*', 'sensors/*'), true)
    assert.equal(covers('sensors/**', 'sensor*'), false)
    assert.equal(covers('sensors/17/**', 'sensors/**'), false)
    assert.equal(covers('s*/**', 's/x'), true)
    assert.equal(covers('s*/**', 's1/**'), false, 'unsure is no')
  })

  it(`garbage, truncated and bit-flipped tokens: only GrantError, never a throw of anything else (${Number(process.env.MESHDOC_GRANT_FUZZ ?? 10_000)} cases)`, async () => {
    const seed = Number(process.env.MESHDOC_SEED ?? 1)
    const rnd = seededRandom(seed)
    const runs = Number(process.env.MESHDOC_GRANT_FUZZ ?? 10_000)
    const parent = await issueGrant({ key: owner, audience: idOf(gateway), access: 'write', docs: ['sensors/**'], expiresAt: now + HOUR, delegate: true })
    const valid = await issueGrant({ key: gateway, audience: idOf(sensor), access: 'write', docs: ['sensors/1'], expiresAt: now + HOUR / 2, parent })
    const raw = Buffer.from(valid.slice(GRANT_PREFIX.length), 'base64url')
    const reasons = new Map<string, number>()
    for (let i = 0; i < runs; i++) {
      let token: string
      const kind = i % 4
      if (kind === 0) token = GRANT_PREFIX + Buffer.from(raw.subarray(0, Math.floor(rnd() * raw.length))).toString('base64url')
      else if (kind === 1) {
        const b = Buffer.from(raw)
        for (let f = 0; f < 1 + Math.floor(rnd() * 4); f++) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8)
        token = GRANT_PREFIX + b.toString('base64url')
      } else if (kind === 2) token = GRANT_PREFIX + Buffer.from(Array.from({ length: Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 256))).toString('base64url')
      else token = String.fromCharCode(...Array.from({ length: Math.floor(rnd() * 60) }, () => 32 + Math.floor(rnd() * 95)))
      try {
        await verifyGrant(token, { owners: [idOf(owner)] })
        // a flip may land in a byte nothing depends on only if the result is still the same valid grant
        assert.equal(decodeGrant(token).id, decodeGrant(valid).id, `seed ${seed} case ${i}: a changed token verified`)
      } catch (err) {
        if (!(err instanceof GrantError)) assert.fail(`seed ${seed} case ${i}: ${String(err)} for ${token.slice(0, 80)}`)
        reasons.set(err.reason, (reasons.get(err.reason) ?? 0) + 1)
      }
    }
    assert.ok((reasons.get('malformed') ?? 0) > 0 && (reasons.get('bad_signature') ?? 0) > 0, JSON.stringify([...reasons]))
  })

  it('attacks from review: no regex blow-up, signature length, huge times, line terminators, non-canonical encodings', async () => {
    // a forged "owner" grant (zero signature) with a pathological pattern above a real child: refused fast, on its signature
    const b = await generateKeyPair('Ed25519')
    const evil = '*a'.repeat(14) + 'b'
    const forgedParent = envelope(body({ key: thief, audience: idOf(b), access: 2, docs: [evil], notBefore: now, expiresAt: now + HOUR, delegate: 1 }), new Uint8Array(64))
    const childBody = body({ key: b, audience: idOf(sensor), access: 2, docs: ['a'.repeat(60)], notBefore: now, expiresAt: now + HOUR / 2, delegate: 0, parent: forgedParent })
    const child = GRANT_PREFIX + Buffer.from(envelope(childBody, await b.sign(concat(new TextEncoder().encode('meshdoc grant v1\n'), childBody)))).toString('base64url')
    let t0 = performance.now()
    await refusedWith(verifyGrant(child, { owners: [idOf(thief)] }), 'bad_signature')
    assert.ok(performance.now() - t0 < 500, `${performance.now() - t0} ms`)
    // a real delegate's pattern with many stars: matching stays linear
    const toGateway = await issueGrant({ key: owner, audience: idOf(gateway), access: 'write', docs: ['x/**'], expiresAt: now + HOUR, delegate: true })
    const starry = await verifyGrant(await issueGrant({ key: gateway, audience: idOf(sensor), access: 'write', docs: ['x/' + evil], expiresAt: now + HOUR / 2, parent: toGateway }), { owners: [idOf(owner)] })
    t0 = performance.now()
    assert.equal(grantAllows(starry, 'x/' + 'a'.repeat(5000), 'read'), false)
    assert.ok(performance.now() - t0 < 200, `${performance.now() - t0} ms`)
    // a signature of the wrong length, and times past the largest date: GrantErrors, never TypeError or RangeError
    const ownerBody = body({ key: owner, audience: idOf(sensor), access: 1, docs: ['a'], notBefore: now, expiresAt: now + HOUR, delegate: 0 })
    await refusedWith(verifyGrant(GRANT_PREFIX + Buffer.from(envelope(ownerBody, new Uint8Array(63))).toString('base64url'), { owners: [idOf(owner)] }), 'malformed')
    const late = body({ key: owner, audience: idOf(sensor), access: 1, docs: ['a'], notBefore: 2 ** 53 - 2, expiresAt: 2 ** 53 - 1, delegate: 0 })
    await refusedWith(verifyGrant(GRANT_PREFIX + Buffer.from(envelope(late, new Uint8Array(64))).toString('base64url'), { owners: [idOf(owner)] }), 'malformed')
    // an overlong var-uint (delegate encoded in two bytes): not canonical
    const loose = Buffer.from(ownerBody)
    const canonicalOk = await issueGrant({ key: owner, audience: idOf(sensor), access: 'read', docs: ['a'], notBefore: now, expiresAt: now + HOUR })
    assert.ok(canonicalOk.length > 0)
    const at = loose.length - 2 // ... delegate(0) parent-length(0)
    const overlong = Buffer.concat([loose.subarray(0, at), Buffer.from([0x80, 0x00]), loose.subarray(at + 1)])
    await refusedWith(verifyGrant(GRANT_PREFIX + Buffer.from(envelope(overlong, await owner.sign(concat(new TextEncoder().encode('meshdoc grant v1\n'), overlong)))).toString('base64url'), { owners: [idOf(owner)] }), 'malformed')
    // line terminators: a sub-grant never allows what its parent does not
    const parent = await verifyGrant(toGateway, { owners: [idOf(owner)] })
    const sub = await verifyGrant(await issueGrant({ key: gateway, audience: idOf(sensor), access: 'write', docs: ['x/*'], expiresAt: now + HOUR / 2, parent: toGateway }), { owners: [idOf(owner)] })
    for (const id of ['x/a\nb', 'x/a\u2028b', 'x/\r']) assert.equal(grantAllows(sub, id, 'write') && !grantAllows(parent, id, 'write'), false, JSON.stringify(id))
    // an audience in another form than base58btc is refused when issued
    const cid = peerIdFromPrivateKey(sensor).toCID().toString()
    await refusedWith(issueGrant({ key: owner, audience: cid, access: 'read', docs: ['a'], expiresAt: now + HOUR }), 'malformed')
  })

  it('a token over the size cap is refused before it is decoded', async () => {
    await refusedWith(verifyGrant(GRANT_PREFIX + 'A'.repeat(20_000), { owners: [] }), 'too_large')
  })
})
