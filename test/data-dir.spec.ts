/**
 * One data directory layout for the library and the CLI: the directory a
 * device opens with `new FsStorageAdapter(dir)` is the one `meshdoc id|export
 * --data dir` reads, so the id the CLI prints is the device's id. `meshdoc id`
 * creates nothing unless asked; what the store creates is private (0700/0600).
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMeshNode, loadOrCreateIdentity } from '../adapters/presets/node.js'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { runInProcess } from './helpers/cli-inprocess.js'

describe('data directory: one layout for the library and the CLI', function () {
  this.timeout(30_000)
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-datadir-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  /** a device as the README shows it: FsStorageAdapter(dir), identity in storage, one doc written */
  async function device (data: string): Promise<string> {
    const storage = new FsStorageAdapter(data)
    const node = await createMeshNode({ storage, privateKey: await loadOrCreateIdentity(storage) })
    try {
      const h = await node.open('sensors/dev-a')
      h.doc.getMap('reading').set('celsius', 21.5)
      await h.flush()
      return node.peerId
    } finally {
      await node.stop()
    }
  }

  it('meshdoc id and export --data DIR read what FsStorageAdapter(DIR) wrote', async () => {
    const data = join(dir, 'dev-a')
    const peerId = await device(data)
    const id = await runInProcess(['id', '--data', data])
    assert.equal(id.code, 0, id.stderr)
    assert.equal(id.stdout.trim(), peerId, 'the CLI prints the device\'s own PeerId')
    assert.doesNotMatch(id.stderr, /created/, 'nothing new was created')
    const out = await runInProcess(['export', 'sensors/dev-a', '--data', data])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(JSON.parse(out.stdout), { reading: { celsius: 21.5 } })
  })

  it('an identity the CLI created is the one a device on the same directory uses', async () => {
    const data = join(dir, 'gw')
    const made = await runInProcess(['id', '--create', '--data', data])
    assert.equal(made.code, 0, made.stderr)
    const storage = new FsStorageAdapter(data)
    try {
      assert.equal(peerIdFromPrivateKey(await loadOrCreateIdentity(storage)).toString(), made.stdout.trim())
    } finally {
      await storage.close()
    }
  })

  it('meshdoc id without --create reads, never creates: exit 1, no directory left behind', async () => {
    const data = join(dir, 'nothing-here')
    const r = await runInProcess(['id', '--data', data])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /holds no meshdoc identity \(use --create/)
    assert.equal(existsSync(data), false, 'no directory created')
    // a store with documents but no identity (a node that ran with a fresh key each time) is not given one either
    const storage = new FsStorageAdapter(join(dir, 'docs-only'))
    await storage.save(['00112233445566778899aabbccddeeff', 'x'], new Uint8Array([1]))
    await storage.close()
    const r2 = await runInProcess(['id', '--data', join(dir, 'docs-only')])
    assert.equal(r2.code, 1)
    const again = new FsStorageAdapter(join(dir, 'docs-only'))
    try {
      assert.equal(await again.load(['_meshdoc', 'identity']), undefined, 'no identity written')
    } finally {
      await again.close()
    }
  })

  it('the library creates the store private: directories 0700, files 0600 (the identity key among them)', async () => {
    const data = join(dir, 'private')
    await device(data)
    const modes: string[] = []
    const walk = async (p: string): Promise<void> => {
      const s = await stat(p)
      modes.push(`${p.slice(data.length) || '/'} ${(s.mode & 0o777).toString(8)}`)
      if (s.isDirectory()) for (const e of await readdir(p)) await walk(join(p, e))
    }
    await walk(data)
    assert.ok(modes.length >= 5, modes.join('\n'))
    for (const m of modes) {
      const [path, mode] = m.split(' ')
      assert.equal(mode, path === '/' || !path.includes('.') ? '700' : '600', `${path} has mode ${mode}`)
    }
    assert.ok(modes.some(m => m.startsWith('/_meshdoc')), 'the identity bucket is there')
  })

  it('a data directory in the 0.1 CLI layout (store in docs/) still opens, with the same id', async () => {
    const data = join(dir, 'old')
    const peerId = await device(join(data, 'docs')) // what the 0.1 CLI made of --data old
    const id = await runInProcess(['id', '--data', data])
    assert.equal(id.code, 0, id.stderr)
    assert.equal(id.stdout.trim(), peerId)
    const out = await runInProcess(['export', 'sensors/dev-a', '--data', data])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(JSON.parse(out.stdout), { reading: { celsius: 21.5 } })
    // a program that opened the directory itself meanwhile made a second store: the CLI will not guess
    const both = new FsStorageAdapter(data)
    await both.load(['_meshdoc', 'identity'])
    await both.close()
    const ambiguous = await runInProcess(['id', '--data', data])
    assert.equal(ambiguous.code, 1)
    assert.match(ambiguous.stderr, /holds two stores: its own and .*docs \(meshdoc 0\.1's layout\)/)
    // moved to the top, it is the same store
    const flat = join(dir, 'flat')
    await rename(join(data, 'docs'), flat)
    assert.equal((await runInProcess(['id', '--data', flat])).stdout.trim(), peerId)
  })
})
