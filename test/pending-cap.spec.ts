/**
 * The pending-structs cap (`limits.maxPendingBytes`) in storage: structs the
 * engine drops for the cap are not kept in storage (a restart does not bring
 * them back, and storage does not grow by what the attacker sent), and the cap
 * also holds on load (dropped there, counted as `pending_overflow`, and
 * compacted out of storage). The peer that brought the doc past the cap is
 * closed (`limit_exceeded`); this one comes back each time. The cap is scaled down (64 KiB) so the attack
 * stays cheap; the attacker sends 16 times it.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { ByeReason, MessageType } from '../lib/protocol/constants.js'
import { Repo } from '../lib/repo.js'
import { PendingCharges } from '../lib/security/pending-charges.js'
import { DocPersistence } from '../lib/storage/doc-persistence.js'
import { MemoryStorageAdapter } from '../lib/storage/memory-adapter.js'
import type { StorageAdapter } from '../lib/storage/types.js'
import { SyncEngine } from '../lib/sync/engine.js'
import type { EngineDoc } from '../lib/sync/engine-doc.js'
import { engineDocKey, loadEngineDoc } from './helpers/engine-doc.js'
import { attach, hello, settle, type Attacker } from './helpers/hostile-peer.js'
import { gate, InstrumentedAdapter, waitUntil } from './helpers/storage-wrappers.js'

const CAP = 64 * 1024
const GAPPED_UPDATES = 132
const FILLER = 'x'.repeat(8 * 1024)

const pendingOf = (doc: Y.Doc): number => (doc.store.pendingStructs?.update.length ?? 0) + (doc.store.pendingDs?.length ?? 0)

/** What is stored under `docKey`, in bytes of chunk data. */
async function storedBytes (storage: StorageAdapter, docKey: string): Promise<number> {
  return (await storage.loadRange([docKey])).reduce((n, c) => n + c.data.length, 0)
}

/** Bytes of every file under `dir`. */
async function bytesOnDisk (dir: string): Promise<number> {
  let n = 0
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size
  }
  return n
}

/**
 * Updates of one writer (clientID `client`) that each insert 8 KiB at the
 * start of text `t`, with the first one withheld: every other one stays
 * pending, since its clocks start past what the receiver has of `client`.
 */
function gappedUpdates (client: number, n: number): Uint8Array[] {
  const src = new Y.Doc()
  src.clientID = client
  const updates: Uint8Array[] = []
  src.on('update', (u: Uint8Array) => { updates.push(u) })
  src.getText('t').insert(0, 'withheld')
  for (let i = 0; i < n; i++) src.getText('t').insert(0, `gap ${i} ${FILLER}`)
  src.destroy()
  return updates.slice(1)
}

/** A writer whose every update integrates: one map entry `k<i>` each. */
function integratedUpdates (client: number, map: string, n: number): Uint8Array[] {
  const src = new Y.Doc()
  src.clientID = client
  const updates: Uint8Array[] = []
  src.on('update', (u: Uint8Array) => { updates.push(u) })
  for (let i = 0; i < n; i++) src.getMap(map).set(`k${i}`, `value ${i}`)
  src.destroy()
  return updates
}

/** Load what `storage` holds for `keyHex` with no pending cap at all: what storage itself carries. */
async function uncappedReload (storage: StorageAdapter, keyHex: string): Promise<Y.Doc> {
  const doc = new Y.Doc()
  await new DocPersistence(storage, keyHex, doc, { maxPendingBytes: Number.POSITIVE_INFINITY }).load()
  return doc
}

describe('pending structs past the cap: not kept in storage, capped on load', function () {
  this.timeout(60_000)

  describe('a writer sends gapped structs past the cap to a node with fs storage', () => {
    let dir: string
    let keyHex: string
    let sentBytes = 0
    let integratedBytes = 0
    let acked: { honest: number }
    let closes = 0
    const HONEST = 24
    const SIDE = GAPPED_UPDATES / 4

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'meshdoc-pending-cap-'))
      const storage = new FsStorageAdapter(dir)
      // as the Node entry builds it: the peer that fills the cap is closed
      const engine = new SyncEngine({ antiEntropyIntervalMs: 0, limits: { maxPendingBytes: CAP }, pendingCharges: new PendingCharges() })
      const sync: EngineDoc = await loadEngineDoc(engine, 'doc', { storage, persistence: { maxPendingBytes: CAP } })
      keyHex = sync.keyHex
      const t = { engine, sync, doc: sync.doc, close: () => {} }
      const open = (id: string): Attacker => {
        const p = attach(t, id)
        p.send(hello)
        p.send({ type: MessageType.SYNC1, docKey: sync.key, flags: 0, stateVector: new Uint8Array([0]), dsDigest: new Uint8Array(8) })
        return p
      }
      const honest = open('honest')
      // the gapper is closed (limit_exceeded) each time it brings the doc past the cap, and comes back at once
      let gapper = open('gapper')
      let gapperSeq = 0
      const gapped = gappedUpdates(1001, GAPPED_UPDATES)
      // every fourth gapped update also carries structs that integrate: a record holds both
      const side = integratedUpdates(2002, 'side', SIDE)
      const edits = integratedUpdates(3003, 'honest', HONEST)
      let honestSeq = 0
      for (let i = 0; i < gapped.length; i++) {
        if (gapper.closed) {
          const bye = gapper.received.at(-1)
          assert.ok(bye?.type === MessageType.BYE && bye.reason === ByeReason.LIMIT_EXCEEDED, `closed with ${JSON.stringify(bye)}`)
          closes++
          gapper = open('gapper')
          gapperSeq = 0
        }
        const update = i % 4 === 0 ? Y.mergeUpdates([gapped[i], side[i / 4]]) : gapped[i]
        sentBytes += update.length
        gapper.send({ type: MessageType.UPDATE, docKey: sync.key, seq: ++gapperSeq, update })
        if (i % 5 === 0 && honestSeq < HONEST) {
          honestSeq++
          honest.send({ type: MessageType.UPDATE, docKey: sync.key, seq: honestSeq, update: edits[honestSeq - 1] })
        }
        if (i % 3 === 0) await settle() // commits (and compactions) interleave with the attack
      }
      while (honestSeq < HONEST) {
        honestSeq++
        honest.send({ type: MessageType.UPDATE, docKey: sync.key, seq: honestSeq, update: edits[honestSeq - 1] })
      }
      const lastAck = (p: Attacker): number => Math.max(0, ...p.received.filter(f => f.type === MessageType.ACK).map(f => (f as { seq: number }).seq))
      await waitUntil(() => lastAck(honest) === HONEST && (gapper.closed || lastAck(gapper) === gapperSeq), 'ACKs for everything sent')
      acked = { honest: lastAck(honest) }
      assert.ok((engine.counters.rejected.pending_overflow ?? 0) >= 8, JSON.stringify(engine.counters.rejected))
      assert.ok(closes >= 8, `the gapper was closed ${closes} times`)
      assert.equal(honest.closed, false, 'the honest writer stays')
      integratedBytes = Y.encodeStateAsUpdateV2(sync.doc).length - pendingOf(sync.doc)
      // the node stops: as the Repo closes a doc
      engine.stop()
      await sync.persistence?.close()
      sync.awareness.destroy()
      sync.doc.destroy()
      await storage.close()
    })

    after(async () => { await rm(dir, { recursive: true, force: true }) })

    it('after a restart the dropped structs are not back, and every acknowledged edit is', async () => {
      assert.deepEqual(acked, { honest: HONEST })
      const storage = new FsStorageAdapter(dir)
      try {
        // loaded with no cap at all: whatever pending comes back is what storage carries
        const back = await uncappedReload(storage, keyHex)
        const pending = pendingOf(back)
        assert.ok(pending <= CAP, `${pending} bytes of pending structs came back (cap ${CAP}; the attacker sent ${sentBytes})`)
        const honest = back.getMap('honest')
        for (let i = 0; i < HONEST; i++) assert.equal(honest.get(`k${i}`), `value ${i}`, `honest edit ${i}`)
        const side = back.getMap('side')
        for (let i = 0; i < SIDE; i++) assert.equal(side.get(`k${i}`), `value ${i}`, `integrated structs of mixed update ${i}`)
        // and with the node's cap, the load has nothing to drop
        const capped = new DocPersistence(storage, keyHex, new Y.Doc(), { maxPendingBytes: CAP })
        assert.deepEqual(await capped.load(), { droppedPendingBytes: 0 })
      } finally {
        await storage.close()
      }
    })

    it('storage does not grow by what the attacker sent', async () => {
      const storage = new FsStorageAdapter(dir)
      let logical: number
      try {
        logical = await storedBytes(storage, keyHex)
      } finally {
        await storage.close()
      }
      const disk = await bytesOnDisk(dir)
      // at most: the doc's integrated state and what stays pending (under the cap),
      // twice over (a snapshot and the records since), and a few updates in flight
      const bound = 2 * (integratedBytes + CAP) + 4 * (FILLER.length + 1024)
      assert.ok(sentBytes > 16 * CAP, `the attack sent ${sentBytes} bytes`)
      assert.ok(logical <= bound, `${logical} bytes stored (bound ${bound}; the attacker sent ${sentBytes})`)
      assert.ok(disk <= 2 * bound, `${disk} bytes on disk (bound ${2 * bound}; the attacker sent ${sentBytes})`)
    })
  })

  describe('storage that already holds pending structs past the cap', () => {
    const { keyHex } = engineDocKey('doc')

    /** A store holding `gapped` pending structs (well past the cap) and `kept` integrated entries, as an unbounded writer left it. */
    async function overfilled (storage: StorageAdapter, kept = 10): Promise<void> {
      const doc = new Y.Doc()
      const p = new DocPersistence(storage, keyHex, doc, { maxPendingBytes: Number.POSITIVE_INFINITY })
      await p.load()
      const stop = p.autoCommit({ saved: () => {}, failed: () => {} })
      const edits = integratedUpdates(3003, 'kept', kept)
      const gapped = gappedUpdates(1001, 32)
      for (let i = 0; i < gapped.length; i++) {
        Y.applyUpdate(doc, gapped[i], 'peer')
        if (i < kept) Y.applyUpdate(doc, edits[i], 'peer')
        if (i % 4 === 0) await p.flush()
      }
      await p.close()
      stop()
      assert.ok(pendingOf(doc) > 4 * CAP, 'the test needs pending structs past the cap')
      doc.destroy()
    }

    it('loads with them dropped and counted, and storage no longer holds them after the compaction that follows', async () => {
      const storage = new MemoryStorageAdapter()
      await overfilled(storage)
      assert.ok(pendingOf(await uncappedReload(storage, keyHex)) > 4 * CAP, 'stored as the test needs')
      const before = await storedBytes(storage, keyHex)

      const doc = new Y.Doc()
      const p = new DocPersistence(storage, keyHex, doc, { maxPendingBytes: CAP })
      const { droppedPendingBytes } = await p.load()
      assert.ok(droppedPendingBytes > CAP, `dropped ${droppedPendingBytes} bytes`)
      assert.equal(pendingOf(doc), 0)
      for (let i = 0; i < 10; i++) assert.equal(doc.getMap('kept').get(`k${i}`), `value ${i}`)
      await p.close() // the compaction the drop started runs to its end

      const back = await uncappedReload(storage, keyHex)
      assert.equal(pendingOf(back), 0, 'storage no longer carries the dropped structs')
      for (let i = 0; i < 10; i++) assert.equal(back.getMap('kept').get(`k${i}`), `value ${i}`)
      const after = await storedBytes(storage, keyHex)
      assert.ok(after < CAP && after < before / 10, `${after} bytes stored after, ${before} before`)
    })

    it('a node counts the drop as pending_overflow (the Repo passes the engine\'s cap)', async () => {
      const storage = new MemoryStorageAdapter()
      await overfilled(storage)
      const engine = new SyncEngine({ antiEntropyIntervalMs: 0, limits: { maxPendingBytes: CAP } })
      const repo = new Repo({ engine, storage })
      try {
        const handle = await repo.open('doc')
        assert.equal(engine.counters.rejected.pending_overflow, 1, JSON.stringify(engine.counters.rejected))
        assert.equal(pendingOf(handle.doc), 0)
        assert.equal(handle.doc.getMap('kept').get('k9'), 'value 9')
      } finally {
        await repo.stop()
        engine.stop()
      }
      assert.equal(pendingOf(await uncappedReload(storage, keyHex)), 0, 'storage no longer carries them')
    })

    it('pending structs under the cap are kept, in storage and on load', async () => {
      const storage = new MemoryStorageAdapter()
      await overfilled(storage)
      const doc = new Y.Doc()
      const p = new DocPersistence(storage, keyHex, doc, { maxPendingBytes: 64 * CAP })
      assert.deepEqual(await p.load(), { droppedPendingBytes: 0 })
      assert.ok(pendingOf(doc) > 4 * CAP)
      await p.close()
      assert.ok(pendingOf(await uncappedReload(storage, keyHex)) > 4 * CAP)
    })
  })

  it('a drop while a compaction is writing a snapshot that still holds the structs: that snapshot goes too', async () => {
    const { keyHex } = engineDocKey('doc')
    const mem = new MemoryStorageAdapter()
    const storage = new InstrumentedAdapter(mem)
    const doc = new Y.Doc()
    const p = new DocPersistence(storage, keyHex, doc, { maxPendingBytes: Number.POSITIVE_INFINITY })
    await p.load()
    const stop = p.autoCommit({ saved: () => {}, failed: () => {} })
    const edits = integratedUpdates(3003, 'kept', 4)
    for (const u of gappedUpdates(1001, 12)) Y.applyUpdate(doc, u, 'peer')
    for (const u of edits) Y.applyUpdate(doc, u, 'peer')
    await p.flush()
    // a compaction encodes its snapshot (pending structs included) and is held at the save
    const held = gate()
    storage.beforeSave = async (key) => { if (key[1] === 's') await held.promise }
    const compaction = p.compact()
    await settle()
    assert.ok(pendingOf(doc) > CAP)
    // the engine drops them now (Inbound.capPending)
    doc.store.pendingStructs = null
    doc.store.pendingDs = null
    p.pendingDropped()
    held.open()
    await compaction
    await p.close()
    stop()
    const back = await uncappedReload(mem, keyHex)
    assert.equal(pendingOf(back), 0, 'the snapshot written before the drop was compacted away')
    assert.equal(back.getMap('kept').get('k3'), 'value 3')
    assert.equal((await mem.loadRange([keyHex])).length, 1, 'one snapshot left')
  })
})
