/**
 * Restart: a node with fs storage comes back with the same PeerId and its
 * documents, and syncs only what changed while it was down.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { createMeshNode, IDENTITY_KEY, loadOrCreateIdentity, MemoryStorageAdapter, type MeshNode } from '../adapters/presets/node.js'
import { LOOPBACK, waitUntil } from './helpers/storage-wrappers.js'

describe('restart with fs storage', function () {
  this.timeout(60_000)
  let dir: string
  const nodes: MeshNode[] = []
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-restart-')) })
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('loadOrCreateIdentity returns the same key after a reopen, and refuses a corrupt one', async () => {
    const a = new FsStorageAdapter(dir)
    const first = await loadOrCreateIdentity(a)
    await a.close()
    const b = new FsStorageAdapter(dir)
    const again = await loadOrCreateIdentity(b)
    await b.close()
    assert.ok(first.equals(again), 'the stored key comes back')
    assert.equal(first.type, 'Ed25519')
    const other = await loadOrCreateIdentity(new MemoryStorageAdapter())
    assert.ok(!first.equals(other), 'another store gets another key')
    const broken = new MemoryStorageAdapter()
    await broken.save(IDENTITY_KEY, Uint8Array.of(1, 2, 3))
    await assert.rejects(loadOrCreateIdentity(broken), (err: Error) => err.name === 'StorageError')
  })

  it('a node restarts with the same PeerId and documents, and receives only what changed while it was down', async () => {
    const start = async (): Promise<MeshNode> => {
      const n = await createMeshNode({ listen: LOOPBACK, storage: new FsStorageAdapter(dir), privateKey: 'storage' })
      nodes.push(n)
      return n
    }
    let gateway = await start()
    const device = await createMeshNode({ listen: LOOPBACK })
    nodes.push(device)
    const firstId = gateway.peerId

    const onGateway = await gateway.open('paper')
    const text = onGateway.doc.getText('t')
    for (let i = 0; i < 400; i++) text.insert(text.length, `line ${i} of a document that is long enough to matter\n`)
    await onGateway.flush()
    const onDevice = await device.open('paper')
    await device.dial(gateway.multiaddrs[0])
    await onDevice.whenSynced({ timeout: 10_000 })
    await waitUntil(() => onDevice.doc.getText('t').length === text.length, 'the device to have the document')
    const docBytes = text.toString().length

    await gateway.stop()
    nodes.splice(nodes.indexOf(gateway), 1)
    onDevice.doc.getText('t').insert(0, 'edited while the gateway was down. ')

    gateway = await start()
    assert.equal(gateway.peerId, firstId, 'same PeerId after the restart')
    const back = await gateway.open('paper')
    assert.equal(back.doc.getText('t').length, docBytes, 'the document came back from disk before any peer connected')
    const before = gateway.stats.bytesIn
    await device.dial(gateway.multiaddrs[0])
    await waitUntil(() => back.doc.getText('t').toString().startsWith('edited while'), 'the offline edit to arrive')
    await onDevice.whenSynced({ peer: firstId, timeout: 10_000 })
    const received = gateway.stats.bytesIn - before
    console.log(`      restart: the document is ${docBytes} characters; the restarted gateway received ${received} bytes to catch up`)
    assert.ok(received < docBytes / 10, `received ${received} bytes for a one-line change to a ${docBytes}-character document`)
    assert.equal(back.doc.getText('t').toString(), onDevice.doc.getText('t').toString())
  })
})
