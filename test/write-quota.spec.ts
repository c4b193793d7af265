/**
 * Per-peer write quotas (issue 13, "Writers on a gateway"): a writer past its
 * byte or document quota is refused with DENIED `quota_exceeded`, counted,
 * keeps its link and may keep reading; other writers do not notice; nothing
 * past the quota is applied or stored; the ledger survives a restart.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { QuotaLedger } from '../lib/security/quota.js'
import { MemoryStorageAdapter } from '../lib/storage/memory-adapter.js'
import type { SyncEngineOptions } from '../lib/sync/engine.js'
import type { MemoryNetwork } from '../lib/testing/memory-network.js'
import type { DocHandle, MeshNode } from '../adapters/presets/node.js'
import { EngineNet, type NetNode as Node } from './helpers/engine-net.js'
import { connect, NodePool, waitFor } from './helpers/mesh-nodes.js'

describe('per-peer write quotas', function () {
  this.timeout(60_000)

  describe('in one engine (seeded in-memory network)', () => {
    let fleet: EngineNet
    let net: MemoryNetwork

    beforeEach(() => {
      fleet = new EngineNet(13)
      net = fleet.net
    })
    afterEach(() => { fleet.stop() })

    const node = (id: string, opts: SyncEngineOptions = {}, servedOnly = false): Node => fleet.node(id, opts, servedOnly)

    const text = (n: Node, docId = 'doc'): string => n.doc(docId).doc.getText('t').toString()
    const quiet = async (): Promise<void> => { await net.runUntilQuiet() }
    const kib = (c: string): string => c.repeat(1024)

    it('a writer past its byte quota is refused and counted, keeps its link and keeps reading; the other writer is unaffected', async () => {
      const ledger = new QuotaLedger({ maxBytes: 8 * 1024 }, undefined)
      const gw = node('gw', { quota: ledger }, true)
      const writer = node('writer')
      const other = node('other')
      for (const n of [gw, writer, other]) n.doc('doc')
      net.connect('writer', 'gw')
      net.connect('other', 'gw')
      await quiet()

      const wt = writer.doc('doc').doc.getText('t')
      for (const c of 'abcdefghij') {
        wt.insert(wt.length, kib(c))
        await quiet()
      }
      const stored = text(gw)
      assert.equal(gw.engine.counters.rejected.quota_exceeded, 3, 'the writes past 8 KiB were refused')
      assert.equal(stored, 'abcdefg'.split('').map(kib).join(''), 'nothing past the quota is applied')
      assert.ok(ledger.usage('writer').bytes <= 8 * 1024, `charged ${ledger.usage('writer').bytes} bytes`)
      assert.deepEqual(writer.denied, [['gw', 'doc', 'quota_exceeded']], 'told once')
      assert.ok(gw.engine.peerIds.includes('writer'), 'the writer keeps its link')

      // the other writer is not charged for it, and the over-quota writer still reads
      other.doc('doc').doc.getMap('m').set('note', 'from the other writer')
      await quiet()
      assert.equal(gw.doc('doc').doc.getMap('m').get('note'), 'from the other writer')
      assert.equal(writer.doc('doc').doc.getMap('m').get('note'), 'from the other writer', 'the refused writer keeps reading')
      assert.equal(gw.engine.counters.rejected.quota_exceeded, 3)

      // the refused writer does not keep resending: its anti-entropy leaves the gateway alone
      const framesIn = gw.engine.counters.framesIn
      for (let i = 0; i < 5; i++) { writer.engine.runAntiEntropy(); await quiet() }
      assert.equal(gw.engine.counters.framesIn, framesIn, 'no frame from the refused writer')
      assert.equal(writer.denied.length, 1)
    })

    it('a writer past its document quota cannot create more docs, yet may write to docs that exist', async () => {
      const ledger = new QuotaLedger({ maxDocs: 2 }, undefined)
      const gw = node('gw', { quota: ledger }, true)
      const writer = node('writer')
      const other = node('other')
      net.connect('writer', 'gw')
      net.connect('other', 'gw')
      for (const id of ['a', 'b', 'c']) {
        gw.doc(id)
        writer.doc(id).doc.getText('t').insert(0, `writer creates ${id}`)
        await quiet()
      }
      assert.equal(text(gw, 'a'), 'writer creates a')
      assert.equal(text(gw, 'b'), 'writer creates b')
      assert.equal(text(gw, 'c'), '', 'the third doc is not created')
      assert.equal(gw.engine.counters.rejected.quota_exceeded, 1)
      assert.deepEqual(writer.denied, [['gw', 'c', 'quota_exceeded']])
      assert.deepEqual(ledger.usage('writer').docs, 2)
      assert.ok(gw.engine.peerIds.includes('writer'))

      // another writer creates it; it then exists, and writing to it creates nothing
      gw.doc('d')
      writer.doc('d')
      other.doc('d').doc.getText('t').insert(0, 'other creates d. ')
      await quiet()
      writer.doc('d').doc.getText('t').insert(0, 'writer adds to d. ')
      await quiet()
      assert.equal(text(gw, 'd'), 'writer adds to d. other creates d. ')
      assert.equal(ledger.usage('other').docs, 1)
      assert.equal(ledger.usage('writer').docs, 2)
    })

    it('an update that adds nothing costs nothing; an exempt relay is never charged', async () => {
      const ledger = new QuotaLedger({ maxBytes: 4096, exempt: ['relay'] }, undefined)
      const gw = node('gw', { quota: ledger }, true)
      const writer = node('writer')
      const relay = node('relay')
      for (const n of [gw, writer, relay]) n.doc('doc')
      net.connect('writer', 'gw')
      net.connect('relay', 'gw')
      writer.doc('doc').doc.getText('t').insert(0, 'x'.repeat(1000))
      await quiet()
      const charged = ledger.usage('writer').bytes
      assert.ok(charged > 1000 && charged < 1100, `charged ${charged}`)
      // anti-entropy rounds bring the same structs again: free
      for (let i = 0; i < 5; i++) { gw.engine.runAntiEntropy({ full: true }); writer.engine.runAntiEntropy({ full: true }); await quiet() }
      assert.equal(ledger.usage('writer').bytes, charged)
      relay.doc('doc').doc.getText('t').insert(0, 'y'.repeat(8000))
      await quiet()
      assert.equal(text(gw).length, 9000, 'the relay is not held to the quota')
      assert.deepEqual(ledger.usage('relay'), { bytes: 0, docs: 0 })
    })

    it('the ledger is kept in storage: usage survives a restart', async () => {
      const storage = new MemoryStorageAdapter()
      const first = new QuotaLedger({ maxBytes: 1 << 20, flushIntervalMs: 10 }, storage)
      await first.load()
      const gw = node('gw', { quota: first }, true)
      const writer = node('writer')
      gw.doc('doc')
      net.connect('writer', 'gw')
      writer.doc('doc').doc.getText('t').insert(0, 'z'.repeat(5000))
      await quiet()
      const used = first.usage('writer')
      assert.equal(used.docs, 1)
      await first.close()
      const again = new QuotaLedger({}, storage)
      await again.load()
      assert.deepEqual(again.usage('writer'), used)
    })
  })

  describe('on a gateway over libp2p, with fs storage', () => {
    const pool = new NodePool()
    let dir: string
    beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-quota-')) })
    afterEach(async () => {
      await pool.stopAll()
      await rm(dir, { recursive: true, force: true })
    })

    async function gateway (): Promise<MeshNode> {
      return await pool.create({ storage: new FsStorageAdapter(dir), serveAllDocs: true, antiEntropyIntervalMs: 0, quota: { maxBytes: 64 * 1024, maxDocs: 3 } })
    }

    async function refusedBy (h: DocHandle, gw: MeshNode): Promise<string> {
      return await new Promise(resolve => { h.on('denied', (peer, reason) => { if (peer === gw.peerId) resolve(reason) }) })
    }

    it('past its quotas a writer is refused, stays connected and reads on; nothing past them is stored; after a restart it is still refused', async () => {
      let gw = await gateway()
      const writer = await pool.create({ antiEntropyIntervalMs: 0 })
      const other = await pool.create({ antiEntropyIntervalMs: 0 })
      await connect(writer, gw)
      await connect(other, gw)

      // three docs are fine; the fourth is refused
      for (const id of ['d1', 'd2', 'd3']) {
        const h = await writer.open(id)
        h.doc.getText('t').insert(0, `doc ${id}`)
        await h.whenSynced({ peer: gw.peerId, timeout: 10_000 })
      }
      const fourth = await writer.open('d4')
      const denied = refusedBy(fourth, gw)
      fourth.doc.getText('t').insert(0, 'one doc too many')
      assert.equal(await denied, 'quota_exceeded')

      // 64 KiB of edits in all; the rest is refused
      const h1 = await writer.open('d1')
      const big = refusedBy(h1, gw)
      for (let i = 0; i < 20; i++) h1.doc.getText('t').insert(0, String(i % 10).repeat(8 * 1024))
      assert.equal(await big, 'quota_exceeded')
      await waitFor(() => (gw.stats.rejected.quota_exceeded ?? 0) >= 2, { what: 'both refusals counted' })
      assert.ok(gw.peers.includes(writer.peerId), 'the writer keeps its link')

      // another writer notices nothing, and the refused writer still reads
      const ho = await other.open('d1')
      ho.doc.getMap('m').set('from', 'other')
      await ho.whenSynced({ peer: gw.peerId, timeout: 10_000 })
      await waitFor(() => h1.doc.getMap('m').get('from') === 'other', { what: 'the refused writer reads the other writer' })

      await gw.stop()
      // what the gateway stored of the writer: at most its quota (plus the other writer's edit)
      const store = new FsStorageAdapter(dir)
      const chunks = await store.loadRange([])
      const stored = chunks.filter(c => c.key[0] !== '_meshdoc').reduce((n, c) => n + c.data.length, 0)
      assert.ok(stored <= 64 * 1024 + 1024, `stored ${stored} bytes of docs`)
      const ledger = chunks.filter(c => c.key[0] === '_meshdoc' && c.key[1] === 'quota').map(c => c.key[2])
      assert.deepEqual(ledger.sort(), [other.peerId, writer.peerId].sort(), 'usage is kept in the data directory')
      await store.close()

      // a restarted gateway on the same storage still holds the writer to what it used
      gw = await gateway()
      await connect(writer, gw)
      const d5 = await writer.open('d5')
      const again = refusedBy(d5, gw)
      d5.doc.getText('t').insert(0, 'still one too many')
      assert.equal(await again, 'quota_exceeded')
      assert.ok((gw.stats.rejected.quota_exceeded ?? 0) >= 1)
      assert.ok(gw.peers.includes(writer.peerId))
    })
  })
})
