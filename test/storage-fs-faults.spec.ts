/**
 * Disk faults (ENOSPC, EIO) injected by wrapping fs: the write rejects with
 * StorageError, nothing is acknowledged (not to the app, not to a peer),
 * nothing is corrupted, and the store still loads.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { createMeshNode, docKeyFor, docKeyHex, type MeshNode } from '../adapters/presets/node.js'
import { seeded } from '../lib/testing/storage-compliance.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'
import { FaultyFs, type FaultKind } from './helpers/storage-faulty-fs.js'
import { LOOPBACK, waitUntil } from './helpers/storage-wrappers.js'

const NO_MERGE = { mergeMinDeadBytes: Number.MAX_SAFE_INTEGER, maxFilesPerBucket: 1_000_000 }
const SEED = process.env.MESHDOC_SEED ?? Math.floor(Math.random() * 2 ** 32).toString(16)
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : new TextDecoder().decode(b)

const isStorageError = (code: string) => (err: Error & { cause?: { code?: string } }): boolean => {
  assert.equal(err.name, 'StorageError')
  assert.equal(err.cause?.code, code)
  return true
}

describe('fs storage: disk faults', function () {
  this.timeout(60_000)
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-faults-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  const cases: Array<{ kind: FaultKind, code: string, bytesReachDisk: boolean }> = [
    { kind: 'enospc-write', code: 'ENOSPC', bytesReachDisk: false },
    { kind: 'eio-write', code: 'EIO', bytesReachDisk: false },
    { kind: 'eio-fsync', code: 'EIO', bytesReachDisk: true }
  ]
  for (const { kind, code, bytesReachDisk } of cases) {
    it(`${kind}: save rejects with StorageError, the store still loads, and writing resumes once the disk recovers`, async () => {
      const ffs = new FaultyFs()
      const a = new FsStorageAdapter(dir, { ...NO_MERGE, fs: ffs.api })
      await a.save(['doc', 'k'], bytes('v1'))
      await a.save(['doc', 'other'], bytes('o'))
      ffs.arm(kind)
      await assert.rejects(a.save(['doc', 'k'], bytes('v2 is longer than v1')), isStorageError(code))
      await assert.rejects(a.save(['doc', 'new'], bytes('n')), isStorageError(code))
      assert.ok(ffs.fired >= 2)
      ffs.disarm()

      const b = new FsStorageAdapter(dir, NO_MERGE)
      const k = text(await b.load(['doc', 'k']))
      if (bytesReachDisk) assert.ok(k === 'v1' || k === 'v2 is longer than v1', `k = ${k}`)
      else assert.equal(k, 'v1', 'a write that failed left the previous value')
      if (!bytesReachDisk) assert.equal(await b.load(['doc', 'new']), undefined)
      assert.equal(text(await b.load(['doc', 'other'])), 'o')
      if (kind === 'enospc-write') assert.ok(b.stats.damagedRegions >= 1, 'the partial record is detected and skipped')
      await b.close()

      await a.save(['doc', 'k'], bytes('v3'))
      await a.close()
      const c = new FsStorageAdapter(dir, NO_MERGE)
      assert.equal(text(await c.load(['doc', 'k'])), 'v3')
      assert.equal(text(await c.load(['doc', 'other'])), 'o')
      await c.close()
    })
  }

  it('enospc creating a new document\'s files: StorageError, nothing half-made is visible', async () => {
    const ffs = new FaultyFs()
    const a = new FsStorageAdapter(dir, { fs: ffs.api })
    await a.save(['doc', 'k'], bytes('v1'))
    ffs.arm('enospc-open')
    await assert.rejects(a.save(['doc2', 'k'], bytes('x')), isStorageError('ENOSPC'))
    ffs.disarm()
    const b = new FsStorageAdapter(dir)
    assert.deepEqual((await b.loadRange([])).map(c => c.key.join('/')), ['doc/k'])
    await a.save(['doc2', 'k'], bytes('x'))
    assert.equal(text(await b.load(['doc2', 'k'])), 'x')
    await a.close()
    await b.close()
  })

  it('a document under random faults: every flush that resolved is stored, every rejection is a StorageError', async () => {
    const rnd = seeded(`faults-${SEED}`)
    const ffs = new FaultyFs()
    // merges and compactions run all the time, so faults hit them too
    const a = new FsStorageAdapter(dir, { fs: ffs.api, mergeMinDeadBytes: 0 })
    const doc = new Y.Doc()
    const p = new DocPersistence(a, 'd0c', doc, { compactAfterRecords: 3 })
    await p.load()
    doc.on('afterTransactionCleanup', tr => { p.absorb(tr) })
    const kinds: FaultKind[] = ['enospc-write', 'eio-write', 'eio-fsync', 'enospc-open']
    const acked = new Set<string>()
    let rejected = 0
    for (let step = 0; step < 200; step++) {
      const roll = rnd.next()
      if (roll < 0.15) ffs.arm(kinds[rnd.int(kinds.length)], rnd.int(4))
      else if (roll < 0.45) ffs.disarm()
      doc.getMap('m').set(`k${step}`, 'x'.repeat(rnd.int(2000)))
      try {
        await p.flush()
        acked.add(`k${step}`)
      } catch (err) {
        assert.equal((err as Error).name, 'StorageError', `seed ${SEED}`)
        rejected++
      }
      if (step % 25 === 24) {
        // the store loads at any moment, with whatever the faults left behind
        const check = new Y.Doc()
        const reader = new FsStorageAdapter(dir)
        await new DocPersistence(reader, 'd0c', check).load()
        await reader.close()
        const missing = [...acked].filter(k => !check.getMap('m').has(k))
        assert.deepEqual(missing, [], `acknowledged but not stored at step ${step} (seed ${SEED})`)
      }
    }
    ffs.disarm()
    assert.ok(rejected >= 10 && acked.size >= 50, `faults must both fire and miss: ${rejected} rejected, ${acked.size} acknowledged (seed ${SEED})`)
    await p.flush() // the disk is back: what failed before is stored now
    await p.close()
    await a.close()
    const back = new Y.Doc()
    const reader = new FsStorageAdapter(dir)
    await new DocPersistence(reader, 'd0c', back).load()
    await reader.close()
    assert.equal(back.getMap('m').size, 200, `every change is stored once the disk recovered (seed ${SEED})`)
    console.log(`      faults: ${ffs.fired} fired, ${rejected} flushes rejected, ${acked.size} acknowledged`)
  })

  it('a peer gets no ACK while our disk fails, and gets it once the disk recovers', async () => {
    const ffs = new FaultyFs()
    const nodes: MeshNode[] = []
    try {
      const gateway = await createMeshNode({ listen: LOOPBACK, storage: new FsStorageAdapter(dir, { fs: ffs.api }), antiEntropyIntervalMs: 250 })
      nodes.push(gateway)
      const device = await createMeshNode({ listen: LOOPBACK, antiEntropyIntervalMs: 250 })
      nodes.push(device)
      const onGateway = await gateway.open('notes')
      const onDevice = await device.open('notes')
      await device.dial(gateway.multiaddrs[0])
      onDevice.doc.getText('t').insert(0, 'before the fault')
      await onDevice.whenSynced({ timeout: 10_000 })

      ffs.arm('enospc-write')
      onDevice.doc.getText('t').insert(0, 'during the fault: ')
      await waitUntil(() => onGateway.doc.getText('t').toString().startsWith('during'), 'the update to reach the gateway')
      await assert.rejects(onDevice.whenSynced({ timeout: 1500 }), (err: Error) => err.name === 'TimeoutError')
      assert.equal(onDevice.status.synced, false, 'the device must not believe the gateway stored it')
      assert.equal(onGateway.status.saved, false)

      ffs.disarm()
      await onDevice.whenSynced({ timeout: 15_000 })
      const stored = new Y.Doc()
      const keyHex = docKeyHex(docKeyFor('notes'))
      const reader = new FsStorageAdapter(dir)
      await new DocPersistence(reader, keyHex, stored).load()
      await reader.close()
      assert.equal(stored.getText('t').toString(), 'during the fault: before the fault')
    } finally {
      for (const n of nodes) await n.stop()
    }
  })
})
