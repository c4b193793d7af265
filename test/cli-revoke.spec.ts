/**
 * Grants end to end with the `meshdoc` CLI: an owner key, a device's id and
 * its grant made with the CLI, a gateway process that trusts the owner
 * (--trust-owner) and holds a grant of its own (--grant-file), and devices
 * that are real meshdoc nodes in this process. `meshdoc revoke --admin` cuts
 * the device at once, its later writes never reach the gateway, and the
 * revocation is still in force after a restart. The admin port refuses what
 * is not a trusted owner's revocation, and bad gateway inputs are named.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { createMeshNode, issueGrant, revocationBytes, verifyRevocation, type DocHandle, type MeshNode } from '../adapters/presets/node.js'
import { CliProcesses } from './helpers/cli-process.js'
import { runInProcess, type Captured } from './helpers/cli-inprocess.js'
import { waitFor } from './helpers/mesh-nodes.js'

const HOUR = 3_600_000
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const textOf = (h: DocHandle): string => h.doc.getText('t').toString()

describe('meshdoc revoke and meshdoc gateway --trust-owner', function () {
  this.timeout(120_000)
  const cli = new CliProcesses()
  let nodes: MeshNode[] = []

  afterEach(async () => {
    const ns = nodes
    nodes = []
    await Promise.allSettled(ns.map(async n => { await n.stop() }))
    await cli.killAll()
  })

  /** Run a command in-process; it must exit 0. */
  async function ok (args: string[], opts: Parameters<typeof runInProcess>[1] = {}): Promise<Captured> {
    const r = await runInProcess(args, opts)
    assert.equal(r.code, 0, `meshdoc ${args.join(' ')}: ${r.stderr}`)
    return r
  }

  /** The owner key, and data directories with ids for `names` (what `meshdoc id --create` prints). */
  async function fleet (...names: string[]): Promise<{ dir: string, ownerKey: string, owner: string, ids: Record<string, string> }> {
    const dir = await cli.tempDir('meshdoc-revoke-')
    const ownerKey = join(dir, 'owner.key')
    const owner = (await ok(['keys', 'new', '--out', ownerKey])).stdout.trim()
    const ids: Record<string, string> = {}
    for (const n of names) ids[n] = (await ok(['id', '--create', '--data', join(dir, n)])).stdout.trim()
    return { dir, ownerKey, owner, ids }
  }

  /** A device: a library node on the data directory `meshdoc id` made (so it has that id), holding `grant`. */
  async function device (dataDir: string, grant: string): Promise<MeshNode> {
    const n = await createMeshNode({ storage: new FsStorageAdapter(dataDir), privateKey: 'storage', grants: [grant], antiEntropyIntervalMs: 0 })
    nodes.push(n)
    return n
  }

  async function linked (n: MeshNode, addr: string, peerId: string): Promise<void> {
    await n.dial(addr)
    await waitFor(() => n.peers.includes(peerId), { what: 'a sync session with the gateway' })
  }

  async function rejected (admin: string): Promise<Record<string, number>> {
    return ((await (await fetch(`${admin}/status`)).json()) as { stats: { rejected: Record<string, number> } }).stats.rejected
  }

  /** Wait until the gateway has refused a grant as revoked (its /status counters). */
  async function refusedAsRevoked (admin: string): Promise<void> {
    const deadline = Date.now() + 10_000
    while (((await rejected(admin)).grant_revoked ?? 0) === 0) {
      assert.ok(Date.now() < deadline, `the gateway never refused a grant as revoked: ${JSON.stringify(await rejected(admin))}`)
      await sleep(50)
    }
  }

  /** What the gateway stored of `doc` (it must be stopped): `meshdoc export`. */
  async function stored (gwDir: string, doc: string): Promise<string> {
    return (JSON.parse((await ok(['export', doc, '--data', gwDir])).stdout) as { t: string }).t
  }

  it('keys new, id, grant, gateway --trust-owner: the device syncs; revoke --admin cuts it, its later writes never reach the gateway, and the revocation outlives a restart', async () => {
    const { dir, ownerKey, owner, ids } = await fleet('gw', 'device', 'reader')
    const grant = async (to: string, docs: string, access: string): Promise<{ token: string, id: string }> => {
      const r = await ok(['grant', '--key', ownerKey, '--to', to, '--docs', docs, '--access', access, '--expires', '1h'])
      const token = r.stdout.trim()
      const id = (JSON.parse((await ok(['grant', '--inspect', token])).stdout) as { id: string }).id
      assert.match(id, /^[0-9a-f]{32}$/)
      assert.match(r.stderr, new RegExp(`^meshdoc: grant ${id}: ${access} on `, 'm'), 'grant names on stderr the id that --inspect prints and revoke takes')
      return { token, id }
    }
    const toDevice = await grant(ids.device, 'notes/**', 'write')
    const toReader = await grant(ids.reader, 'notes/**', 'read')
    const toGateway = await grant(ids.gw, '**', 'write')
    const grantFile = join(dir, 'gateway.grants')
    await writeFile(grantFile, `# the gateway's own grant\n\n${toGateway.token}\n`)

    const gwDir = join(dir, 'gw')
    const gwArgs = ['--trust-owner', owner, '--grant-file', grantFile]
    const gw = cli.gateway(gwDir, gwArgs)
    const up = await gw.ready()
    assert.equal(up.peerId, ids.gw)
    assert.match(gw.stderr, /^meshdoc: grants: trusting 1 owner\(s\) \(a peer needs a grant from one to sync\), holding 1 grant\(s\)$/m)
    const held = await (await fetch(`${up.admin}/grants`)).json() as Array<{ id: string, access: string, docs: string[], expiresAt: string }>
    assert.deepEqual(held.map(g => [g.id, g.access, g.docs]), [[toGateway.id, 'write', ['**']]])
    assert.ok(Date.parse(held[0].expiresAt) > Date.now())

    const dev = await device(join(dir, 'device'), toDevice.token)
    const reader = await device(join(dir, 'reader'), toReader.token)
    await linked(dev, up.tcp, up.peerId)
    await linked(reader, up.tcp, up.peerId)
    const atDevice = await dev.open('notes/field-log')
    const atReader = await reader.open('notes/field-log')
    atDevice.doc.getText('t').insert(0, 'before;')
    await waitFor(() => textOf(atReader) === 'before;', { what: "the device's write at the reader, through the gateway" })

    // the owner revokes the device's grant by the id `grant --inspect` prints
    const admin = up.admin.replace(/^http:\/\//, '')
    const revoked = await cli.run(['revoke', toDevice.id, '--key', ownerKey, '--admin', admin])
    assert.equal(revoked.code, 0, revoked.stderr)
    const record = revoked.stdout.trim()
    assert.match(record, /^mdr1\.[A-Za-z0-9_-]+$/, 'the record on stdout')
    const r = await verifyRevocation(revocationBytes(record), new Set([owner]))
    assert.deepEqual([r.kind, r.target], ['grant', toDevice.id])
    assert.match(revoked.stderr, new RegExp(`the gateway at ${up.admin} put revocation ${r.id} in force \\(grant ${toDevice.id}\\)`))
    await gw.waitForStderr(new RegExp(`revocation ${r.id} in force: grant ${toDevice.id}`), 5000)
    await waitFor(() => !atDevice.status.peers.some(p => p.peer === up.peerId), { what: "the device's session with the gateway to end" })

    // its later writes reach neither the gateway nor the reader, whose grant stands
    atDevice.doc.getText('t').insert(textOf(atDevice).length, 'after;')
    await sleep(1500)
    assert.equal(textOf(atReader), 'before;')
    assert.ok(atReader.status.peers.some(p => p.peer === up.peerId), "the reader's session goes on")
    assert.deepEqual(await gw.stop(), { code: 0, signal: null }, gw.stderr)
    assert.equal(await stored(gwDir, 'notes/field-log'), 'before;', 'the gateway stored nothing of the write after the cut')

    // restarted with the same flags (no --revocation-file): the record was kept in --data
    const gw2 = cli.gateway(gwDir, gwArgs)
    const up2 = await gw2.ready()
    assert.match(gw2.stderr, /holding 1 grant\(s\)/, "the gateway's own grant is untouched")
    await dev.dial(up2.tcp).catch(() => {})
    await refusedAsRevoked(up2.admin)
    atDevice.doc.getText('t').insert(textOf(atDevice).length, 'restarted;')
    // the record sent again, as it is: the gateway holds it already, and says so the same way
    const again = await cli.run(['revoke', record, '--admin', up2.admin.replace(/^http:\/\//, '')])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stderr, new RegExp(`put revocation ${r.id} in force`))
    await sleep(1000)
    assert.ok(!atDevice.status.peers.some(p => p.peer === up2.peerId), 'the device has no session on the doc with the restarted gateway')
    assert.deepEqual(await gw2.stop(), { code: 0, signal: null }, gw2.stderr)
    assert.equal(await stored(gwDir, 'notes/field-log'), 'before;')
  })

  it("the admin port takes only a trusted owner's revocation: forged or garbled 400, oversize 413, a web page's 403; revoke with another key exits 1 (unknown_owner); nothing changes", async () => {
    const { dir, ownerKey, owner, ids } = await fleet('gw', 'device')
    const token = (await ok(['grant', '--key', ownerKey, '--to', ids.device, '--docs', 'notes/**', '--access', 'write'])).stdout.trim()
    const gw = cli.gateway(join(dir, 'gw'), ['--trust-owner', owner])
    const up = await gw.ready()
    assert.match(gw.stderr, /grants: trusting 1 owner\(s\).*, holding 0 grant\(s\)/)
    const dev = await device(join(dir, 'device'), token)
    await linked(dev, up.tcp, up.peerId)
    const h = await dev.open('notes/a')
    h.doc.getText('t').insert(0, 'one;')
    await h.whenSynced({ timeout: 10_000 })

    // the owner's real record for the device, printed only (no --admin): then tampered with
    const printed = await ok(['revoke', ids.device, '--key', ownerKey])
    assert.match(printed.stderr, /revocation of every grant to 12D3KooW\S+, signed by owner/)
    const bytes = revocationBytes(printed.stdout.trim())
    const forged = bytes.slice()
    forged[forged.length - 1] ^= 1
    const cases: Array<[string, number, RegExp]> = [
      ['mdr1.' + Buffer.from(forged).toString('base64url'), 400, /"error":"bad_signature"/],
      ['mdr1.' + Buffer.from(bytes.subarray(0, 40)).toString('base64url'), 400, /"error":"malformed"/],
      ['mdr1.not*base64url', 400, /"error":"malformed"/],
      ['hello', 400, /"error":"malformed"/],
      ['', 400, /"error":"malformed"/],
      ['mdr1.' + 'A'.repeat(5000), 413, /too large/]
    ]
    for (const [body, status, said] of cases) {
      const res = await post(up.admin, body)
      assert.equal(res.status, status, `${body.slice(0, 30)}: ${res.body}`)
      assert.match(res.body, said)
    }
    assert.equal((await post(up.admin, 'mdr1.' + 'A'.repeat(5000), { chunked: true })).status, 413, 'a chunked body is capped too')
    assert.equal((await post(up.admin, printed.stdout, { headers: { origin: 'http://example.com' } })).status, 403, 'no request from a web page')
    const get = await fetch(`${up.admin}/revocations`)
    assert.equal(get.status, 405)
    assert.equal(get.headers.get('allow'), 'POST')

    // a key that is not an owner's: the gateway refuses, revoke exits 1 with its reason
    const otherKey = join(dir, 'other.key')
    await ok(['keys', 'new', '--out', otherKey])
    const refused = await cli.run(['revoke', ids.device, '--key', otherKey, '--admin', up.admin.replace(/^http:\/\//, '')])
    assert.equal(refused.code, 1, refused.stderr)
    assert.match(refused.stderr, /^meshdoc revoke: the gateway at http:\S+ refused the revocation: unknown_owner: revocation [0-9a-f]{32} was signed by 12D3KooW\S+, not a trusted owner$/m)

    // nothing changed: the device still syncs, and no revocation came into force
    h.doc.getText('t').insert(4, 'two;')
    await h.whenSynced({ timeout: 10_000 })
    assert.ok(dev.peers.includes(up.peerId))
    assert.doesNotMatch(gw.stderr, /in force/)
    const counts = await rejected(up.admin)
    assert.equal(counts.grant_revoked ?? 0, 0)
  })

  it('--revocation-file puts records in force from the start; a gateway that trusts no owner refuses every record and says why', async () => {
    const { dir, ownerKey, owner, ids } = await fleet('gw', 'device', 'other-gw')
    const token = (await ok(['grant', '--key', ownerKey, '--to', ids.device, '--docs', 'notes/**', '--access', 'write'])).stdout.trim()
    const revocations = join(dir, 'gateway.revocations')
    const record = (await ok(['revoke', ids.device, '--key', ownerKey])).stdout.trim()
    await writeFile(revocations, `# device lost on 2026-12-01\n${record}\n`)
    const gw = cli.gateway(join(dir, 'gw'), ['--trust-owner', owner, '--revocation-file', revocations])
    const up = await gw.ready()
    assert.match(gw.stderr, /holding 0 grant\(s\), 1 revocation\(s\) from files/)
    const dev = await device(join(dir, 'device'), token)
    await dev.dial(up.tcp).catch(() => {})
    await refusedAsRevoked(up.admin)

    const open = cli.gateway(join(dir, 'other-gw'))
    const upOpen = await open.ready()
    assert.match(open.stderr, /grants: trusting 0 owner\(s\) \(peers' grants are not checked\), holding 0 grant\(s\)/)
    const r = await cli.run(['revoke', record, '--admin', upOpen.admin.replace(/^http:\/\//, '')])
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /refused the revocation: unknown_owner: .* \(this gateway trusts no owner: start it with --trust-owner\)$/m)
  })

  it('bad gateway inputs: a bad --trust-owner exits 2; a grant file for another node or expired exits 1 naming file and line; env and config file give them too', async () => {
    const { dir, ownerKey, owner, ids } = await fleet('gw', 'device')
    const gwDir = join(dir, 'gw')
    const gateway = async (args: string[], opts: Parameters<typeof runInProcess>[1] = {}): Promise<Captured> =>
      await runInProcess(['gateway', '--data', gwDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--ws-port', 'none', '--admin', 'none', ...args], opts)
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
    const key = privateKeyFromProtobuf(Buffer.from((await readFile(ownerKey, 'utf8')).trim(), 'base64'))
    const expired = await issueGrant({ key, audience: ids.gw, access: 'read', docs: ['a'], notBefore: Date.now() - 3 * HOUR, expiresAt: Date.now() - 2 * HOUR })
    const toDevice = (await ok(['grant', '--key', ownerKey, '--to', ids.device, '--docs', 'a', '--access', 'read'])).stdout.trim()
    const toGateway = (await ok(['grant', '--key', ownerKey, '--to', ids.gw, '--docs', 'a', '--access', 'read'])).stdout.trim()
    const file = async (name: string, text: string): Promise<string> => { await writeFile(join(dir, name), text); return join(dir, name) }
    const wrong = await file('wrong.grants', `${toGateway}\n# the device's, by mistake\n${toDevice}\n`)
    const old = await file('old.grants', expired + '\n')
    const empty = await file('empty.grants', '# nothing yet\n\n')
    const junk = await file('junk.grants', `${toGateway}\nhello\n`)
    const otherKey = join(dir, 'other.key')
    await ok(['keys', 'new', '--out', otherKey])
    const notOwners = await file('other.revocations', (await ok(['revoke', ids.device, '--key', otherKey])).stdout)
    const config = await file('gateway.json', JSON.stringify({ 'trust-owner': [owner], 'grant-file': './wrong.grants' }))

    for (const [args, code, msg, opts] of [
      [['--trust-owner', 'nope'], 2, /^meshdoc gateway: --trust-owner: "nope" is not a PeerId/m],
      [['--trust-owner', secp], 2, /is the PeerId of an secp256k1 key; owner keys are Ed25519/],
      [[], 2, /--trust-owner: "12D3KooWnope" is not a PeerId/, { env: { MESHDOC_TRUST_OWNER: `${owner},12D3KooWnope` } }],
      [['--grant-file', wrong], 1, new RegExp(`^meshdoc gateway: grant file ${wrong} line 3: wrong_audience: grant [0-9a-f]{32} is for ${ids.device}, not this node \\(${ids.gw}\\)$`, 'm')],
      [['--grant-file', old], 1, new RegExp(`grant file ${old} line 1: expired: grant [0-9a-f]{32} expired at `)],
      [['--grant-file', join(dir, 'missing.grants')], 2, /grant file \S+missing\.grants: no such file/],
      [['--grant-file', empty], 2, /grant file \S+empty\.grants: holds no grant/],
      [['--grant-file', junk], 2, /grant file \S+junk\.grants: line 2 is not a grant \(mdg1\.…\)/],
      [['--trust-owner', owner, '--revocation-file', notOwners], 1, new RegExp(`revocation file ${notOwners} line 1: unknown_owner: `)],
      [['--revocation-file', notOwners], 1, /unknown_owner: .* \(no owner is trusted: give --trust-owner\)/],
      // relative paths: against the config file's directory, and against the working directory from the environment
      [['--config', config], 1, new RegExp(`grant file ${wrong} line 3: wrong_audience`), { cwd: '/' }],
      [[], 1, new RegExp(`grant file ${old} line 1: expired`), { cwd: dir, env: { MESHDOC_GRANT_FILE: 'old.grants', MESHDOC_TRUST_OWNER: owner } }]
    ] as Array<[string[], number, RegExp, Parameters<typeof runInProcess>[1]?]>) {
      const r = await gateway(args, opts)
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, msg)
      assert.equal(r.stdout, '')
    }
  })

  it('a grant file whose grant was revoked: the gateway starts without it and names the file and line', async () => {
    const { dir, ownerKey, owner, ids } = await fleet('gw')
    const grantFile = join(dir, 'gateway.grants')
    const token = (await ok(['grant', '--key', ownerKey, '--to', ids.gw, '--docs', '**', '--access', 'write'])).stdout.trim()
    await writeFile(grantFile, token + '\n')
    const id = (JSON.parse((await ok(['grant', '--inspect', token])).stdout) as { id: string }).id
    const gwDir = join(dir, 'gw')
    const args = ['--trust-owner', owner, '--grant-file', grantFile]
    const gw = cli.gateway(gwDir, args)
    const up = await gw.ready()
    // every grant to the gateway, revoked by PeerId
    const r = await cli.run(['revoke', ids.gw, '--key', ownerKey, '--admin', up.admin.replace(/^http:\/\//, '')])
    assert.equal(r.code, 0, r.stderr)
    await waitFor(() => gw.stderr.includes(`in force: every grant to ${ids.gw}`), { what: 'the revocation at the gateway' })
    assert.deepEqual(await (await fetch(`${up.admin}/grants`)).json(), [], 'the revoked grant is no longer held')
    assert.deepEqual(await gw.stop(), { code: 0, signal: null }, gw.stderr)

    const gw2 = cli.gateway(gwDir, args)
    const up2 = await gw2.ready()
    assert.match(gw2.stderr, new RegExp(`^meshdoc: warning: grant file ${grantFile} line 1: grant ${id} is revoked here; running without it$`, 'm'))
    assert.match(gw2.stderr, /holding 0 grant\(s\)/)
    assert.deepEqual(await (await fetch(`${up2.admin}/grants`)).json(), [])
  })

  it('meshdoc revoke: TARGET as a grant id, a token or a PeerId; usage errors exit 2; an unreachable gateway exits 1', async () => {
    const { dir, ownerKey, owner, ids } = await fleet('device')
    const token = (await ok(['grant', '--key', ownerKey, '--to', ids.device, '--docs', 'a', '--access', 'read'])).stdout.trim()
    const id = (JSON.parse((await ok(['grant', '--inspect', token])).stdout) as { id: string }).id
    const owners = new Set([owner])
    const target = async (args: string[]): Promise<[string, string]> => {
      const r = await verifyRevocation(revocationBytes((await ok(['revoke', ...args, '--key', ownerKey])).stdout), owners)
      return [r.kind, r.target]
    }
    assert.deepEqual(await target([id]), ['grant', id])
    assert.deepEqual(await target([id.toUpperCase()]), ['grant', id])
    assert.deepEqual(await target([token]), ['grant', id], 'a token: its id')
    assert.deepEqual(await target([ids.device]), ['peer', ids.device])

    const otherKey = join(dir, 'other.key')
    await ok(['keys', 'new', '--out', otherKey])
    const mismatch = await ok(['revoke', token, '--key', otherKey])
    assert.match(mismatch.stderr, new RegExp(`warning: grant ${id} was issued under owner ${owner}`))

    const record = (await ok(['revoke', id, '--key', ownerKey])).stdout.trim()
    for (const [args, code, msg] of [
      [['revoke', 'not-a-target', '--key', ownerKey], 2, /TARGET must be a grant id \(32 hex digits\), a grant \(mdg1\.…\), a bearer token \(mdb1\.…\), a PeerId or a record \(mdr1\.…\)/],
      [['revoke', id], 2, /--key FILE \(an owner key\) is required/],
      [['revoke', record], 2, /give --admin HOST:PORT to send it/],
      [['revoke'], 2, /missing argument: TARGET/],
      [['revoke', id, '--key', join(dir, 'nope.key')], 1, /cannot read the key/],
      [['revoke', 'mdg1.AAAA', '--key', ownerKey], 1, /malformed/],
      [['revoke', record, '--admin', '127.0.0.1:1'], 1, /cannot reach the gateway's admin port at http:\/\/127\.0\.0\.1:1\/revocations: ECONNREFUSED/]
    ] as Array<[string[], number, RegExp]>) {
      const r = await runInProcess(args)
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, msg)
    }
  })
})

/** POST `body` to the admin port's /revocations with node:http (any headers, chunked or not). */
async function post (admin: string, body: string, opts: { headers?: Record<string, string>, chunked?: boolean } = {}): Promise<{ status: number, body: string }> {
  const url = new URL('/revocations', admin)
  return await new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...(opts.chunked === true ? {} : { 'content-length': Buffer.byteLength(body) }), ...opts.headers }
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (opts.chunked === true) {
      // in parts, without a content-length: the cap is counted as it arrives
      for (let i = 0; i < body.length; i += 1000) req.write(body.slice(i, i + 1000))
      req.end()
    } else {
      req.end(body)
    }
  })
}
