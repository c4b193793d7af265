/**
 * Edits made while two devices cannot reach each other merge once they can:
 * both replicas end identical, and identical to what Yjs itself makes of the
 * two sides' updates (computed on a fresh Y.Doc, without meshdoc).
 *
 * Randomized with a seed; a failure prints `MESHDOC_SEED=<seed>` to replay it.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import * as Y from 'yjs'
import { MemoryStorageAdapter, type DocHandle, type MeshNode } from '../adapters/presets/node.js'
import {
  connect, connectionsTo, contentOf, docFromUpdates, NodePool, sameState, seededRandom, testSeed, waitFor
} from './helpers/mesh-nodes.js'
import { randomTransaction } from './helpers/random-edits.js'

const DOC = 'offline/merge'

describe('offline edits merge on reconnect', function () {
  this.timeout(30_000)
  const pool = new NodePool()
  let seed = 0

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`    replay with MESHDOC_SEED=${seed}`)
    await pool.stopAll()
  })

  /** Wait until both replicas hold exactly `expected`'s structs, then compare every shared type. */
  async function assertConvergedTo (expected: Y.Doc, handles: DocHandle[], peers: MeshNode[]): Promise<void> {
    await waitFor(() => handles.every(h => sameState(h.doc, expected)), {
      what: `the replicas to converge (seed ${seed})`,
      detail: () => handles.map(h => JSON.stringify(contentOf(h.doc))).join(' / ')
    })
    for (const h of handles) {
      assert.deepEqual(contentOf(h.doc), contentOf(expected), `replica content equals the Yjs merge (seed ${seed})`)
    }
    // and each side knows the other has stored everything
    for (const [i, h] of handles.entries()) await h.whenSynced({ peer: peers[1 - i].peerId, timeout: 10_000 })
  }

  async function syncedPair (opts: { storage?: MemoryStorageAdapter, privateKey?: Awaited<ReturnType<typeof generateKeyPair>> } = {}): Promise<{ a: MeshNode, b: MeshNode, ha: DocHandle, hb: DocHandle }> {
    const rand = seededRandom(seed)
    const a = await pool.create()
    const b = await pool.create(opts)
    await connect(b, a)
    const ha = await a.open(DOC)
    const hb = await b.open(DOC)
    // a shared history both sides start from
    for (let i = 0; i < 15; i++) {
      randomTransaction(ha.doc, rand, 'A0')
      randomTransaction(hb.doc, rand, 'B0')
    }
    await waitFor(() => sameState(ha.doc, hb.doc), { what: 'the shared history to sync' })
    assert.deepEqual(contentOf(ha.doc), contentOf(hb.doc))
    return { a, b, ha, hb }
  }

  it('concurrent edits to the same Y.Text, Y.Map and Y.Array while disconnected converge to the Yjs merge', async () => {
    seed = testSeed()
    const rand = seededRandom(seed + 1)
    const { a, b, ha, hb } = await syncedPair()

    // cut the connection
    await b.libp2p.hangUp(a.libp2p.peerId)
    await waitFor(() => a.peers.length === 0 && b.peers.length === 0, { what: 'both sides to notice the disconnect' })
    await waitFor(() => connectionsTo(a, b.peerId).length + connectionsTo(b, a.peerId).length === 0, {
      what: 'the libp2p connection to close on both sides',
      detail: () => connectionsTo(a, b.peerId).concat(connectionsTo(b, a.peerId)).map(c => `${c.direction} ${c.status}`).join(', ')
    })

    // both sides edit the same types, interleaved in time, while apart
    for (let i = 0; i < 40; i++) {
      randomTransaction(ha.doc, rand, 'A')
      randomTransaction(hb.doc, rand, 'B')
      if (i % 8 === 0) await new Promise(resolve => setTimeout(resolve, 5))
    }
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(a.peers.length + b.peers.length, 0, 'still disconnected: nothing could have crossed')
    assert.ok(!sameState(ha.doc, hb.doc), `the replicas diverged while apart (seed ${seed})`)

    // what Yjs alone makes of both sides' states
    const expected = docFromUpdates(Y.encodeStateAsUpdate(ha.doc), Y.encodeStateAsUpdate(hb.doc))
    assert.notDeepEqual(contentOf(expected), contentOf(ha.doc), `the merge is more than A's side (seed ${seed})`)
    assert.notDeepEqual(contentOf(expected), contentOf(hb.doc), `the merge is more than B's side (seed ${seed})`)

    // reconnect, dialling the other way this time
    await connect(a, b)
    await assertConvergedTo(expected, [ha, hb], [a, b])
  })

  it('repeated cuts, each right after edits not yet acknowledged, still end in the Yjs merge', async () => {
    seed = testSeed()
    const rand = seededRandom(seed + 3)
    const { a, b, ha, hb } = await syncedPair()
    for (let round = 0; round < 5; round++) {
      // edits on both sides, and the connection dropped before they are acknowledged
      for (let i = 0; i < 5; i++) {
        randomTransaction(ha.doc, rand, `A${round}`)
        randomTransaction(hb.doc, rand, `B${round}`)
      }
      const [cutter, other] = rand() < 0.5 ? [a, b] : [b, a]
      await cutter.libp2p.hangUp(other.libp2p.peerId)
      await waitFor(() => a.peers.length === 0 && b.peers.length === 0, { what: `the disconnect in round ${round}` })
      for (let i = 0; i < 10; i++) {
        randomTransaction(ha.doc, rand, `a${round}`)
        randomTransaction(hb.doc, rand, `b${round}`)
      }
      const expected = docFromUpdates(Y.encodeStateAsUpdate(ha.doc), Y.encodeStateAsUpdate(hb.doc))
      await waitFor(() => connectionsTo(a, b.peerId).length + connectionsTo(b, a.peerId).length === 0, { what: 'the old connection to close' })
      // the dial direction alternates: libp2p refuses more than 5 inbound connections a second from one host
      if (round % 2 === 0) await connect(a, b)
      else await connect(b, a)
      await assertConvergedTo(expected, [ha, hb], [a, b])
    }
  })

  it('a node restarted from its storage merges what it and its peer wrote while it was down', async () => {
    seed = testSeed()
    const rand = seededRandom(seed + 2)
    const storage = new MemoryStorageAdapter()
    const privateKey = await generateKeyPair('Ed25519')
    const { a, b, ha, hb } = await syncedPair({ storage, privateKey })
    const beforeStop = contentOf(hb.doc)
    const stateAtStop = Y.encodeStateVector(hb.doc)
    await b.stop()
    await waitFor(() => a.peers.length === 0, { what: 'A to notice B stopped' })

    // A keeps editing while B is down
    for (let i = 0; i < 25; i++) randomTransaction(ha.doc, rand, 'A')

    // B comes back from the same storage and identity, but offline, and edits too
    const b2 = await pool.create({ storage, privateKey })
    assert.equal(b2.peerId, b.peerId, 'same identity after restart')
    const hb2 = await b2.open(DOC)
    assert.deepEqual(contentOf(hb2.doc), beforeStop, 'B reloads what it held when it stopped')
    assert.deepEqual(Y.encodeStateVector(hb2.doc), stateAtStop)
    for (let i = 0; i < 25; i++) randomTransaction(hb2.doc, rand, 'B')
    assert.ok(!sameState(ha.doc, hb2.doc), `the replicas diverged while apart (seed ${seed})`)

    const expected = docFromUpdates(Y.encodeStateAsUpdate(ha.doc), Y.encodeStateAsUpdate(hb2.doc))
    assert.notDeepEqual(contentOf(expected), contentOf(ha.doc), `the merge is more than A's side (seed ${seed})`)
    assert.notDeepEqual(contentOf(expected), contentOf(hb2.doc), `the merge is more than B's side (seed ${seed})`)

    await connect(b2, a)
    await assertConvergedTo(expected, [ha, hb2], [a, b2])

    // what B merged is durable: a third start from the same storage sees the merge
    await hb2.flush()
    await b2.stop()
    const b3 = await pool.create({ storage, privateKey })
    const hb3 = await b3.open(DOC)
    assert.ok(sameState(hb3.doc, expected), 'the merged state was stored')
    assert.deepEqual(contentOf(hb3.doc), contentOf(expected))
  })
})
