/**
 * The HTTP document API of `meshdoc gateway` (lib/cli/doc-api.ts), against a
 * real gateway process and a real meshdoc device over libp2p TCP: a doc the
 * gateway knows by key only reads as JSON and as V1 updates (`since`: only
 * what is missing), a POSTed update reaches the device and is on disk when
 * 200 arrives (kill -9 and SIGTERM, each followed by a restart); every bad
 * request is refused with a status and a reason, counted, and changes
 * nothing; off loopback the gateway wants a token.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import http, { type IncomingHttpHeaders } from 'node:http'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { MemoryStorageAdapter } from '../adapters/memory-storage/index.js'
import { AdminServer } from '../lib/cli/admin-server.js'
import { nodeDocStore } from '../lib/cli/doc-api-store.js'
import { NodeMetrics } from '../lib/cli/metrics.js'
import type { NodeSnapshot } from '../lib/cli/node-view.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { DOC_API_MAX_IN_FLIGHT } from '../lib/cli/doc-api.js'
import { CliProcesses } from './helpers/cli-process.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { parsePrometheus } from './helpers/cli-prometheus.js'
import { forgedUpdate, gappedUpdate, manyItemsUpdate } from './helpers/hostile-payloads.js'
import { waitFor } from './helpers/mesh-nodes.js'
import { InstrumentedAdapter } from './helpers/storage-wrappers.js'

interface Answer { status: number, headers: IncomingHttpHeaders, body: Buffer, json: any }
interface Req { headers?: Record<string, string>, body?: Uint8Array }

const OCTETS = { 'content-type': 'application/octet-stream' }
const enc = encodeURIComponent

/** One request with node:http (fetch would normalize `..` out of the path). */
async function request (base: string, method: string, path: string, req: Req = {}): Promise<Answer> {
  const url = new URL(base)
  return await new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, method, path, headers: { ...req.headers, ...(req.body !== undefined ? { 'content-length': String(req.body.byteLength) } : {}) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        let json: unknown
        try { json = JSON.parse(body.toString('utf8')) } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json })
      })
    })
    r.on('error', reject)
    r.end(req.body)
  })
}

/** A text doc's whole state as one V1 update, written under a fresh clientID. */
function textUpdate (text: string): Uint8Array {
  const d = new Y.Doc()
  d.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(d)
}

describe('meshdoc gateway: the HTTP document API (separate process, a device over TCP)', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  let devices: MeshNode[] = []

  afterEach(async () => {
    const ds = devices
    devices = []
    await Promise.allSettled(ds.map(async d => { await d.stop() }))
    await cli.killAll()
  })

  async function device (tcp: string, peerId: string): Promise<MeshNode> {
    const d = await createMeshNode({ antiEntropyIntervalMs: 0 })
    devices.push(d)
    await d.dial(tcp)
    await waitFor(() => d.peers.includes(peerId), { what: 'a sync session with the gateway', timeout: 10_000 })
    return d
  }

  it("a device's doc, which the gateway knows by key only, reads as JSON and as updates (since: only the missing part); a POSTed update reaches the device, and is on disk when 200 arrives (kill -9, SIGTERM)", async () => {
    const data = await cli.tempDir()
    const gw = cli.gateway(data)
    const { peerId, tcp, admin } = await gw.ready()
    const dev = await device(tcp, peerId)
    const h = await dev.open('sensors/dev-1')
    h.doc.getMap('readings').set('t1', 20.5)
    h.doc.getText('note').insert(0, 'hello')
    await h.whenSynced({ timeout: 10_000 })

    const docPath = `/docs/${enc('sensors/dev-1')}`
    const json = await request(admin, 'GET', docPath)
    assert.equal(json.status, 200, json.body.toString())
    assert.match(json.headers['content-type'] ?? '', /^application\/json/)
    assert.deepEqual(json.json, { note: 'hello', readings: { t1: 20.5 } })

    const full = await request(admin, 'GET', `${docPath}/update`)
    assert.equal(full.status, 200)
    assert.equal(full.headers['content-type'], 'application/octet-stream')
    const mirror = new Y.Doc()
    Y.applyUpdate(mirror, full.body)
    assert.deepEqual(mirror.getMap('readings').toJSON(), { t1: 20.5 })
    assert.equal(mirror.getText('note').toString(), 'hello')

    // since: only what the mirror lacks
    const seen = Y.encodeStateVector(mirror)
    h.doc.getMap('readings').set('t2', 21)
    await h.whenSynced({ timeout: 10_000 })
    const since = await request(admin, 'GET', `${docPath}/update?since=${Buffer.from(seen).toString('base64url')}`)
    assert.equal(since.status, 200)
    assert.ok(since.body.length < full.body.length, `${since.body.length} bytes since, ${full.body.length} in all`)
    const known = Y.decodeStateVector(seen)
    const structs = Y.decodeUpdate(since.body).structs
    assert.ok(structs.length > 0 && structs.every(s => s.id.clock >= (known.get(s.id.client) ?? 0)), 'the part since holds only structs the mirror lacks')
    Y.applyUpdate(mirror, since.body)
    assert.deepEqual(mirror.getMap('readings').toJSON(), { t1: 20.5, t2: 21 })

    // a backend writes, with fetch as in the README: the device, which holds the doc, receives it
    const before = Y.encodeStateVector(mirror)
    mirror.getMap('readings').set('fromApi', 42)
    const res = await fetch(`${admin}/docs/${encodeURIComponent('sensors/dev-1')}/update`, { method: 'POST', headers: OCTETS, body: Buffer.from(Y.encodeStateAsUpdate(mirror, before)) })
    const post = await res.json() as { stored: boolean, stateVector: string, pendingBytes: number }
    assert.equal(res.status, 200, JSON.stringify(post))
    assert.equal(post.stored, true)
    assert.equal(post.pendingBytes, 0)
    assert.deepEqual(Buffer.from(post.stateVector, 'base64url'), Buffer.from(Y.encodeStateVector(mirror)), 'the state after it: `since` for the next read')
    await waitFor(() => h.doc.getMap('readings').get('fromApi') === 42, { what: 'the device to receive the POSTed update', timeout: 10_000 })

    // a doc only the API writes; kill -9 right after its 200
    const created = await request(admin, 'POST', `/docs/${enc('api/created')}/update`, { headers: OCTETS, body: textUpdate('written over HTTP') })
    assert.equal(created.status, 200)
    const m = parsePrometheus(await (await fetch(`${admin}/metrics`)).text())
    assert.equal(m.value('meshdoc_doc_api_requests_total', { route: 'POST /docs/:id/update', status: '200' }), 2)
    assert.equal(m.value('meshdoc_doc_api_requests_total', { route: 'GET /docs/:id/update', status: '200' }), 2)
    assert.equal(m.value('meshdoc_doc_api_requests_total', { route: 'GET /docs/:id', status: '200' }), 1)
    await gw.kill()

    const gw2 = cli.gateway(data)
    const up2 = await gw2.ready()
    assert.equal((await request(up2.admin, 'GET', `/docs/${enc('api/created')}`)).json.t, 'written over HTTP', 'stored when 200 arrived')
    assert.equal((await request(up2.admin, 'GET', docPath)).json.readings.fromApi, 42)
    // and the mesh gets it too: a device that opens the doc later
    const late = await device(up2.tcp, up2.peerId)
    const lh = await late.open('api/created')
    await waitFor(() => lh.doc.getText('t').toString() === 'written over HTTP', { what: 'a late device to get the doc the API wrote', timeout: 10_000 })

    const again = await request(up2.admin, 'POST', `/docs/${enc('api/created')}/update`, { headers: OCTETS, body: textUpdate('then SIGTERM. ') })
    assert.equal(again.status, 200)
    assert.deepEqual(await gw2.stop('SIGTERM'), { code: 0, signal: null })
    const gw3 = cli.gateway(data)
    const up3 = await gw3.ready()
    const text = (await request(up3.admin, 'GET', `/docs/${enc('api/created')}`)).json.t as string
    assert.ok(text.includes('then SIGTERM. ') && text.includes('written over HTTP'), text)
  })

  it('refuses, counts and changes nothing: a forbidden or read-only doc, malformed, V2, the yjs#687 bomb, too many items, too deep, oversize, a forged author, a web page, DNS rebinding, path tricks in the id, a bad since, too many at once', async () => {
    const dir = await cli.tempDir()
    const gwDir = join(dir, 'gw')
    const id = await runInProcess(['id', '--create', '--data', gwDir])
    assert.equal(id.code, 0, id.stderr)
    const gwId = id.stdout.trim()
    // the API acts as the gateway itself: what the policy gives the gateway's own PeerId
    const policy = join(dir, 'policy.json')
    await writeFile(policy, JSON.stringify({
      default: 'write',
      rules: [
        { peers: [gwId], docs: 'secret/doc', access: 'none' },
        { peers: [gwId], docs: 'public/readme', access: 'read' }
      ]
    }))
    const gw = cli.gateway(gwDir, ['--policy', policy])
    const { peerId, tcp, admin } = await gw.ready()
    assert.equal(peerId, gwId)

    const target = `/docs/${enc('notes/target')}`
    assert.equal((await request(admin, 'POST', `${target}/update`, { headers: OCTETS, body: textUpdate('original') })).status, 200)
    const snapshot = async (): Promise<Buffer> => (await request(admin, 'GET', `${target}/update`)).body
    const original = await snapshot()

    const expected = new Map<string, number>()
    const refused = async (what: string, status: number, reason: string, method: string, path: string, req: Req = {}): Promise<Answer> => {
      const a = await request(admin, method, path, req)
      assert.equal(a.status, status, `${what}: ${a.status} ${a.body.toString().slice(0, 300)}`)
      assert.equal(a.json?.error, reason, `${what}: ${a.body.toString().slice(0, 300)}`)
      assert.equal(typeof a.json.message, 'string')
      expected.set(reason, (expected.get(reason) ?? 0) + 1)
      return a
    }
    const post = async (what: string, status: number, reason: string, body: Uint8Array, path = `${target}/update`): Promise<Answer> =>
      await refused(what, status, reason, 'POST', path, { headers: OCTETS, body })

    // what the policy says for the gateway's PeerId
    await refused('GET a doc the policy denies', 403, 'forbidden', 'GET', `/docs/${enc('secret/doc')}`)
    await post('POST to a doc the policy denies', 403, 'forbidden', textUpdate('no'), `/docs/${enc('secret/doc')}/update`)
    await post('POST to a read-only doc', 403, 'read_only', textUpdate('no'), `/docs/${enc('public/readme')}/update`)
    await refused('GET a readable doc that holds nothing', 404, 'not_found', 'GET', `/docs/${enc('public/readme')}`)

    // hostile updates: the validator's reason comes back
    const whole = textUpdate('a valid update')
    const garbage = await post('garbage', 400, 'malformed_update', new TextEncoder().encode('this is not a Yjs update'))
    assert.ok(garbage.json.message.length > 0)
    await post('a truncated update', 400, 'malformed_update', whole.subarray(0, whole.length - 3))
    const v2 = new Y.Doc()
    v2.getText('t').insert(0, 'V2')
    await post('a V2 update', 400, 'malformed_update', Y.encodeStateAsUpdateV2(v2))
    const t0 = performance.now()
    await post('the yjs#687 bomb', 400, 'malformed_update', Buffer.from('00010000000001000100010200001602000001fdffffffff7f0000', 'hex'))
    assert.ok(performance.now() - t0 < 500, 'the bomb is refused at once')
    await post('more items than the cap', 413, 'too_many_items', manyItemsUpdate(77, 300_000).update)
    const deep = new Y.Doc()
    deep.transact(() => { let m = deep.getMap('m'); for (let i = 0; i < 70; i++) { const c = new Y.Map<unknown>(); m.set('c', c); m = c } })
    const tooDeep = await post('types nested 70 deep', 400, 'malformed_update', Y.encodeStateAsUpdate(deep))
    assert.match(tooDeep.json.message, /nested deeper than 64/)
    await post('structs waiting on missing ones, over the pending cap', 409, 'pending_overflow', gappedUpdate(78, 5 * 1024 * 1024))
    await refused('not octet-stream', 415, 'unsupported_media_type', 'POST', `${target}/update`, { headers: { 'content-type': 'text/plain' }, body: whole })

    // too large: announced (nothing read), and sent without a length (read up to the cap only)
    const announced = await new Promise<number>((resolve, reject) => {
      const r = http.request(`${admin}${target}/update`, { method: 'POST', headers: { ...OCTETS, 'content-length': String(8 * 1024 * 1024 + 1) } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); r.destroy() })
      r.on('error', reject)
      r.flushHeaders()
    })
    assert.equal(announced, 413)
    expected.set('too_large', 1)
    const streamed = await new Promise<number>((resolve) => {
      const r = http.request(`${admin}${target}/update`, { method: 'POST', headers: OCTETS }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
      r.on('error', () => {}) // the gateway closes the connection once it answered
      const chunk = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < 10; i++) r.write(chunk)
      r.end()
    })
    assert.equal(streamed, 413)
    expected.set('too_large', 2)

    // a device holds the clientID it writes under: the API may not add structs under it
    const dev = await device(tcp, peerId)
    const shared = await dev.open('notes/shared')
    shared.doc.getText('t').insert(0, 'the device writes this')
    await shared.whenSynced({ timeout: 10_000 })
    const state = (await request(admin, 'GET', `/docs/${enc('notes/shared')}/update`)).body
    await post('structs under a connected peer\'s clientID', 403, 'authorship', forgedUpdate(state, shared.doc.clientID, 'forged '), `/docs/${enc('notes/shared')}/update`)
    assert.equal(shared.doc.getText('t').toString(), 'the device writes this')

    // browsers: a page's request, a page whose name resolves to 127.0.0.1 (DNS rebinding)
    await refused('a page posts (Origin)', 403, 'web_page', 'POST', `${target}/update`, { headers: { ...OCTETS, origin: 'https://evil.example' }, body: whole })
    await refused('a page reads (a cross-site fetch)', 403, 'web_page', 'GET', target, { headers: { 'sec-fetch-site': 'cross-site' } })
    await refused('a rebound name reads a doc', 403, 'host', 'GET', target, { headers: { host: 'evil.example:9464' } })
    assert.equal((await request(admin, 'GET', '/status', { headers: { host: 'evil.example:9464' } })).status, 403, 'and the other routes')
    assert.equal((await request(admin, 'GET', '/healthz', { headers: { host: 'evil.example:9464' } })).status, 200, 'but liveness')

    // the id is a doc id, never a path
    await refused('..%2F..%2Fetc%2Fpasswd: the doc of that name', 404, 'not_found', 'GET', `/docs/${enc('../../etc/passwd')}`)
    await refused('an unencoded ../', 404, 'not_found', 'GET', '/docs/../notes%2Ftarget')
    const sibling = await request(admin, 'POST', `/docs/${enc('../notes/target')}/update`, { headers: OCTETS, body: textUpdate('a doc named ../notes/target') })
    assert.equal(sibling.status, 200, 'any UTF-8 string is a doc id')
    assert.equal((await request(admin, 'GET', `/docs/${enc('../notes/target')}`)).json.t, 'a doc named ../notes/target')
    await refused('an id of 1 KiB: a doc id', 404, 'not_found', 'GET', `/docs/${'a'.repeat(1024)}`)
    await refused('an id over 1 KiB', 400, 'bad_doc_id', 'GET', `/docs/${'a'.repeat(1025)}`)
    await refused('bytes that are not UTF-8', 400, 'bad_doc_id', 'GET', '/docs/%FF%FE')
    await refused('an overlong "/" (%C0%AF)', 400, 'bad_doc_id', 'POST', '/docs/%C0%AF/update', { headers: OCTETS, body: whole })
    await refused('a UTF-16 surrogate', 400, 'bad_doc_id', 'GET', '/docs/%ED%A0%80/update')
    await refused('a broken escape', 400, 'bad_doc_id', 'GET', '/docs/50%25%zz')

    await refused('since that is not base64url', 400, 'bad_state_vector', 'GET', `${target}/update?since=not%20base64!`)
    await refused('since cut short', 400, 'bad_state_vector', 'GET', `${target}/update?since=${Buffer.from([3, 1]).toString('base64url')}`)
    const served = async (): Promise<number> => (await request(admin, 'GET', '/status')).json.servedDocs
    const servedBefore = await served()
    await refused('a doc nobody wrote', 404, 'not_found', 'GET', `/docs/${enc('never/written')}`)
    await refused('... as an update', 404, 'not_found', 'GET', `/docs/${enc('never/written')}/update`)
    assert.equal(await served(), servedBefore, 'a GET loads nothing that is not stored')
    const listed = (await request(admin, 'GET', '/docs')).json as Array<{ key: string }>
    assert.ok(listed.some(d => d.key === docKeyHex(docKeyFor('notes/target'))), JSON.stringify(listed))
    assert.ok(!listed.some(d => d.key === docKeyHex(docKeyFor('never/written'))), 'a GET stores nothing')

    // too many at once: held uploads fill the slots; the next is 503, and a client that leaves frees its slot
    const held: http.ClientRequest[] = []
    for (let i = 0; i < DOC_API_MAX_IN_FLIGHT; i++) {
      const r = http.request(`${admin}${target}/update`, { method: 'POST', headers: { ...OCTETS, 'content-length': '1000' } })
      r.on('error', () => {})
      r.write(Buffer.alloc(10))
      held.push(r)
    }
    for (;;) {
      const a = await request(admin, 'GET', target)
      if (a.status === 503) { assert.equal(a.json.error, 'busy'); assert.equal(a.headers['retry-after'], '1'); break }
      assert.equal(a.status, 200, 'served until every slot is held')
    }
    expected.set('busy', 1)
    for (const r of held) r.destroy()
    // scraped 100 ms apart: prom-client prints its event-loop lag mean as "Nan" when no sample fell between two scrapes
    const metrics = async (): Promise<ReturnType<typeof parsePrometheus>> => { await new Promise(resolve => setTimeout(resolve, 100)); return parsePrometheus(await (await fetch(`${admin}/metrics`)).text()) }
    const deadline = Date.now() + 5000
    let m = await metrics()
    while (m.value('meshdoc_doc_api_refused_total', { reason: 'aborted' }) !== DOC_API_MAX_IN_FLIGHT) {
      assert.ok(Date.now() < deadline, 'the abandoned uploads are counted')
      m = await metrics()
    }

    assert.deepEqual(await snapshot(), original, 'no refused request changed the doc')
    for (const [reason, n] of expected) assert.equal(m.value('meshdoc_doc_api_refused_total', { reason }), n, `refusals counted as ${reason}`)
    assert.equal(m.value('meshdoc_doc_api_requests_total', { route: 'POST /docs/:id/update', status: '413' }), 3)
    assert.equal(m.value('meshdoc_doc_api_requests_total', { route: 'GET /docs/:id', status: '403' }), 3)
    assert.equal((await request(admin, 'GET', '/healthz')).status, 200, 'the gateway serves on')
    assert.equal((await request(admin, 'GET', target)).json.t, 'original')
  })

  it('off loopback it wants a token: without one the gateway does not start; with one, a request without it (or with a wrong one) is 401, through loopback too, and `meshdoc status` sends it', async () => {
    const dir = await cli.tempDir()
    const args = ['gateway', '--data', join(dir, 'gw'), '--listen', '/ip4/127.0.0.1/tcp/0', '--ws-port', 'none']
    const open = await runInProcess([...args, '--admin', '0.0.0.0:0'])
    assert.equal(open.code, 2, open.stderr)
    assert.match(open.stderr, /--admin 0\.0\.0\.0:0 is not a loopback address: .*give --admin-token-file FILE/)
    const short = join(dir, 'short.token')
    await writeFile(short, 'abc\n')
    const weak = await runInProcess([...args, '--admin', '0.0.0.0:0', '--admin-token-file', short])
    assert.equal(weak.code, 2, weak.stderr)
    assert.match(weak.stderr, /admin token file .*short\.token: the token must be at least 16 characters/)

    const tokenFile = join(dir, 'admin.token')
    const token = randomBytes(32).toString('hex')
    await writeFile(tokenFile, token + '\n')
    const gw = cli.gateway(join(dir, 'gw'), ['--admin', '0.0.0.0:0', '--admin-token-file', tokenFile])
    const up = await gw.ready()
    assert.match(up.admin, /^http:\/\/0\.0\.0\.0:\d+$/)
    const port = new URL(up.admin).port
    // loopback, and this host's own address on its network if it has one
    const bases = [`http://127.0.0.1:${port}`]
    const lan = Object.values(networkInterfaces()).flat().find(a => a?.family === 'IPv4' && !a.internal)?.address
    if (lan !== undefined) bases.push(`http://${lan}:${port}`)
    const bearer = { authorization: `Bearer ${token}` }
    const wrong: Array<[string, Record<string, string>]> = [['no token', {}], ['a wrong token', { authorization: `Bearer ${token.slice(0, -1)}x` }], ['another scheme', { authorization: `Basic ${token}` }]]
    for (const base of bases) {
      for (const [what, headers] of wrong) {
        const get = await request(base, 'GET', `/docs/${enc('x')}`, { headers })
        assert.equal(get.status, 401, `${base}, ${what}`)
        assert.equal(get.json.error, 'unauthorized')
        assert.match(get.headers['www-authenticate'] ?? '', /^Bearer /)
        assert.equal((await request(base, 'POST', `/docs/${enc('x')}/update`, { headers: { ...OCTETS, ...headers }, body: textUpdate('no') })).status, 401, `${base}, ${what}`)
        assert.equal((await request(base, 'GET', '/status', { headers })).status, 401, `${base}, ${what}: every route`)
      }
      assert.equal((await request(base, 'GET', '/healthz')).status, 200, 'liveness needs no token')
      const w = await request(base, 'POST', `/docs/${enc('with/token')}/update`, { headers: { ...OCTETS, ...bearer }, body: textUpdate(`via ${base}. `) })
      assert.equal(w.status, 200, w.body.toString())
    }
    const text = (await request(bases[0], 'GET', `/docs/${enc('with/token')}`, { headers: bearer })).json.t as string
    for (const base of bases) assert.ok(text.includes(`via ${base}. `), text)
    assert.equal((await request(bases[0], 'GET', `/docs/${enc('x')}`, { headers: bearer })).status, 404, 'the refused POSTs wrote nothing')

    const at = `127.0.0.1:${port}`
    const status = await runInProcess(['status', '--admin', at, '--admin-token-file', tokenFile])
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, new RegExp(`^gateway ${up.peerId}, up `, 'm'))
    const without = await runInProcess(['status', '--admin', at])
    assert.equal(without.code, 1)
    assert.match(without.stderr, /answered 401 Unauthorized \(the admin port wants its token: --admin-token-file FILE\)/)
    // `meshdoc revoke --admin` sends it too: past the token, this gateway (it trusts no owner) refuses the record itself
    const ownerKey = join(dir, 'owner.key')
    assert.equal((await runInProcess(['keys', 'new', '--out', ownerKey])).code, 0)
    const revoke = ['revoke', up.peerId, '--key', ownerKey, '--admin', at]
    assert.match((await runInProcess([...revoke, '--admin-token-file', tokenFile])).stderr, /refused the revocation: unknown_owner/)
    assert.match((await runInProcess(revoke)).stderr, /answered 401 Unauthorized.*\(the admin port wants its token: --admin-token-file FILE\)/)
    const m = parsePrometheus((await request(bases[0], 'GET', '/metrics', { headers: bearer })).body.toString())
    assert.equal(m.value('meshdoc_doc_api_refused_total', { reason: 'unauthorized' }), bases.length * wrong.length * 2)
  })

  it('a POST whose commit fails is 503 `unavailable`, not acknowledged; sent again once storage is back, 200 (in process: a storage that fails on demand)', async () => {
    const storage = new InstrumentedAdapter(new MemoryStorageAdapter())
    const node = await createMeshNode({ storage, serveAllDocs: true, antiEntropyIntervalMs: 0 })
    devices.push(node)
    const metrics = new NodeMetrics({ processMetrics: false, loopSampleMs: 0 })
    const server = new AdminServer({ snapshot: async () => ({}) as unknown as NodeSnapshot, metrics, healthy: () => true, docApi: nodeDocStore(node) })
    const at = await server.listen({ host: '127.0.0.1', port: 0 })
    const admin = `http://127.0.0.1:${at.port}`
    try {
      const path = `/docs/${enc('notes/disk')}/update`
      const update = textUpdate('kept')
      storage.beforeSave = async () => { throw new Error('EIO: the disk is gone') }
      const failed = await request(admin, 'POST', path, { headers: OCTETS, body: update })
      assert.equal(failed.status, 503, failed.body.toString())
      assert.equal(failed.json.error, 'unavailable')
      assert.match(failed.json.message, /not stored/)
      storage.beforeSave = undefined
      const again = await request(admin, 'POST', path, { headers: OCTETS, body: update })
      assert.equal(again.status, 200, again.body.toString())
      assert.ok((await storage.inner.loadRange([docKeyHex(docKeyFor('notes/disk'))])).length > 0, 'in storage once 200 came')
      const head = await request(admin, 'HEAD', `/docs/${enc('notes/disk')}`)
      assert.equal(head.status, 200)
      assert.equal(head.body.length, 0)
      assert.equal((await request(admin, 'PUT', path, { headers: OCTETS, body: update })).json.error, 'method_not_allowed')
      const m = parsePrometheus(await metrics.registry.metrics())
      assert.equal(m.value('meshdoc_doc_api_refused_total', { reason: 'unavailable' }), 1)
      assert.equal(m.value('meshdoc_doc_api_requests_total', { route: 'other /docs/:id', status: '405' }), 1)
    } finally {
      await server.close()
      metrics.stop()
    }
  })

  it('an end-to-end encrypted doc is 403 `encrypted` for GET and POST; nothing is written in clear (in process)', async () => {
    const node = await createMeshNode({ storage: new MemoryStorageAdapter(), serveAllDocs: true, antiEntropyIntervalMs: 0, listen: ['/ip4/127.0.0.1/tcp/0'] })
    devices.push(node)
    // a node meshdoc made the key of (no privateKey): it is a member all the same
    const member = await createMeshNode({ antiEntropyIntervalMs: 0 })
    devices.push(member)
    await member.dial(node.multiaddrs[0])
    await waitFor(() => member.peers.includes(node.peerId), { what: 'a session' })
    const h = await member.open('vault/api', { encrypted: { members: [] } })
    h.doc.getText('t').insert(0, 'secret')
    await h.whenStored({ peer: node.peerId, timeout: 10_000 })
    assert.equal(node.isEncrypted('vault/api'), true)
    const metrics = new NodeMetrics({ processMetrics: false, loopSampleMs: 0 })
    const server = new AdminServer({ snapshot: async () => ({}) as unknown as NodeSnapshot, metrics, healthy: () => true, docApi: nodeDocStore(node) })
    const at = await server.listen({ host: '127.0.0.1', port: 0 })
    const admin = `http://127.0.0.1:${at.port}`
    try {
      for (const [method, path, body] of [['GET', `/docs/${enc('vault/api')}`, undefined], ['GET', `/docs/${enc('vault/api')}/update`, undefined], ['POST', `/docs/${enc('vault/api')}/update`, textUpdate('in clear')]] as const) {
        const res = await request(admin, method, path, body === undefined ? {} : { headers: OCTETS, body })
        assert.equal(res.status, 403, `${method} ${path}: ${res.body.toString()}`)
        assert.equal(res.json.error, 'encrypted')
      }
      assert.equal(node.engine.doc(docKeyHex(docKeyFor('vault/api'))), undefined, 'no doc in clear opened under its key')
    } finally {
      await server.close()
      metrics.stop()
    }
  })
})
