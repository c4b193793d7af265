/**
 * A gateway (serveAllDocs) whose app opens a doc by id while a peer asks for
 * the same doc by key: both loads take time (slow storage), and they overlap.
 * There must be one copy of the doc in the engine, the app's open must
 * resolve, and the peer must sync with that copy (a second copy was refused
 * by the engine: "document … is already open", which rejected the app's open
 * or lost the peer's load, and crashed a process that did not catch it).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import type { DocHandle } from '../adapters/presets/node.js'
import { connect, NodePool, waitFor } from './helpers/mesh-nodes.js'
import { InstrumentedAdapter } from './helpers/storage-wrappers.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('a gateway\'s app opening a doc by id while a peer loads it by key', function () {
  this.timeout(30_000)
  const pool = new NodePool()
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-open-race-')) })
  afterEach(async () => {
    await pool.stopAll()
    await rm(dir, { recursive: true, force: true })
  })

  for (const peerFirst of [false, true]) {
    it(`one copy, the app's open resolves and the peer syncs with it (${peerFirst ? 'the peer asks first' : 'the app opens first'})`, async () => {
      // the doc on the gateway's disk
      const gw0 = await pool.create({ storage: new FsStorageAdapter(dir), serveAllDocs: true })
      const h0 = await gw0.open('race/doc')
      h0.doc.getText('t').insert(0, 'stored')
      await gw0.stop()

      // the same gateway again, its storage slow to load: each load takes 300 ms
      const slow = new InstrumentedAdapter(new FsStorageAdapter(dir))
      const gw = await pool.create({ storage: slow, serveAllDocs: true })
      slow.beforeLoadRange = async () => { await sleep(300) }
      const device = await pool.create()
      const hd = await device.open('race/doc')
      let opening: Promise<DocHandle>
      if (peerFirst) {
        await connect(device, gw)
        await sleep(50)
        opening = gw.open('race/doc')
      } else {
        opening = gw.open('race/doc')
        await sleep(50)
        await connect(device, gw)
      }
      const hg = await opening
      await waitFor(() => hd.doc.getText('t').toString() === 'stored', { what: 'the device holds the stored text', detail: () => hd.doc.getText('t').toString() })
      // the peer syncs with the app's copy: what the app writes reaches it, and back
      hg.doc.getText('t').insert(0, 'app ')
      await waitFor(() => hd.doc.getText('t').toString() === 'app stored', { what: 'the app\'s edit at the device', detail: () => hd.doc.getText('t').toString() })
      hd.doc.getText('t').insert(hd.doc.getText('t').length, ' device')
      await waitFor(() => hg.doc.getText('t').toString() === 'app stored device', { what: 'the device\'s edit in the app\'s copy' })
      assert.equal(gw.stats.rejected.internal_error ?? 0, 0)
    })
  }
})
