/**
 * `meshdoc ls --data DIR`: the documents a data directory holds, by id where
 * the node that wrote them opened them by id, by key where it served them by
 * key (a gateway), with size and last change; JSON with --json.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMeshNode } from '../adapters/presets/node.js'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { runInProcess } from './helpers/cli-inprocess.js'

interface Listed { id: string | null, key: string, bytes: number, changed: string }

describe('meshdoc ls', function () {
  this.timeout(30_000)
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-ls-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('lists a device\'s documents by id, with size and last change; a gateway\'s by key', async () => {
    const gwData = join(dir, 'gw')
    const devData = join(dir, 'dev')
    const gw = await createMeshNode({ storage: new FsStorageAdapter(gwData), privateKey: 'storage', serveAllDocs: true, listen: ['/ip4/127.0.0.1/tcp/0'] })
    const dev = await createMeshNode({ storage: new FsStorageAdapter(devData), privateKey: 'storage' })
    const t0 = Date.now()
    try {
      const a = await dev.open('sensors/dev-1')
      a.doc.getArray('readings').push(Array.from({ length: 200 }, (_, i) => ({ t: i, c: 20 + i / 100 })))
      const b = await dev.open('notes/ünïcode ✓')
      b.doc.getText('t').insert(0, 'x')
      await dev.dial(gw.multiaddrs[0])
      await Promise.all([a.whenSynced({ peer: gw.peerId, timeout: 10_000 }), b.whenSynced({ peer: gw.peerId, timeout: 10_000 })])
    } finally {
      await dev.stop()
      await gw.stop()
    }

    const devList = await runInProcess(['ls', '--data', devData, '--json'])
    assert.equal(devList.code, 0, devList.stderr)
    const docs = JSON.parse(devList.stdout) as Listed[]
    assert.deepEqual(docs.map(d => d.id), ['notes/ünïcode ✓', 'sensors/dev-1'], 'by id, sorted')
    assert.deepEqual(docs.map(d => d.key), [docKeyHex(docKeyFor('notes/ünïcode ✓')), docKeyHex(docKeyFor('sensors/dev-1'))])
    const [small, big] = docs
    assert.ok(big.bytes > small.bytes && big.bytes > 2000, `sizes ${small.bytes}, ${big.bytes}`)
    for (const d of docs) assert.ok(Date.parse(d.changed) >= t0 - 2000 && Date.parse(d.changed) <= Date.now(), d.changed)

    const human = await runInProcess(['ls', '--data', devData])
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^DOC +SIZE +LAST CHANGE$/m)
    assert.match(human.stdout, /^sensors\/dev-1 +\d+(\.\d)? KiB +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/m)
    assert.match(human.stdout, /^2 documents, /m)

    // the gateway served both by key and never learned an id; exporting one by id (a read) writes none
    const exported = await runInProcess(['export', 'sensors/dev-1', '--data', gwData])
    assert.equal(exported.code, 0, exported.stderr)
    const gwList = JSON.parse((await runInProcess(['ls', '--data', gwData, '--json'])).stdout) as Listed[]
    assert.deepEqual(gwList.map(d => d.id), [null, null])
    assert.deepEqual(new Set(gwList.map(d => d.key)), new Set(docs.map(d => d.key)))
    assert.match((await runInProcess(['ls', '--data', gwData])).stdout, new RegExp(`^key:${docs[1].key} `, 'm'))
  })

  it('an empty store says so; a directory that is not one is an error (exit 1), and is not created', async () => {
    const made = await runInProcess(['id', '--create', '--data', join(dir, 'empty')])
    assert.equal(made.code, 0, made.stderr)
    const empty = await runInProcess(['ls', '--data', join(dir, 'empty')])
    assert.equal(empty.code, 0, empty.stderr)
    assert.equal(empty.stdout, 'no documents\n')
    assert.deepEqual(JSON.parse((await runInProcess(['ls', '--data', join(dir, 'empty'), '--json'])).stdout), [])

    await writeFile(join(dir, 'file'), 'x')
    for (const bad of [join(dir, 'missing'), dir]) {
      const r = await runInProcess(['ls', '--data', bad])
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, /is not a meshdoc data directory/)
    }
    assert.equal(existsSync(join(dir, 'missing')), false, 'ls created nothing')
  })
})
