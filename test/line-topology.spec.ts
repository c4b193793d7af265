/**
 * A line A – B – C: A and C never connect to each other, yet each one's edits
 * reach the other through B, which holds the document and forwards updates.
 */
import assert from 'node:assert/strict'
import type { Connection } from '@libp2p/interface'
import * as Y from 'yjs'
import type { DocHandle, MeshNode } from '../adapters/presets/node.js'
import { connect, connectionsTo, contentOf, docFromUpdates, NodePool, sameState, seededRandom, testSeed, waitFor } from './helpers/mesh-nodes.js'
import { randomTransaction } from './helpers/random-edits.js'

const DOC = 'line/doc'

describe('line topology A – B – C', function () {
  this.timeout(30_000)
  const pool = new NodePool()
  let seed = 0

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`    replay with MESHDOC_SEED=${seed}`)
    await pool.stopAll()
  })

  /** Three nodes wired as a line; records every connection A and C ever open. */
  async function line (): Promise<{ a: MeshNode, b: MeshNode, c: MeshNode, everConnected: () => string[] }> {
    const a = await pool.create()
    const b = await pool.create()
    const c = await pool.create()
    const seen: string[] = []
    for (const n of [a, c]) {
      n.libp2p.addEventListener('connection:open', (evt: CustomEvent<Connection>) => {
        seen.push(`${n.peerId} -> ${evt.detail.remotePeer.toString()}`)
      })
    }
    await connect(a, b)
    await connect(c, b)
    return { a, b, c, everConnected: () => seen }
  }

  function assertNoDirectLink (a: MeshNode, c: MeshNode, everConnected: string[]): void {
    assert.equal(connectionsTo(a, c.peerId).length, 0, 'A has no connection to C')
    assert.equal(connectionsTo(c, a.peerId).length, 0, 'C has no connection to A')
    assert.ok(!a.peers.includes(c.peerId) && !c.peers.includes(a.peerId), 'A and C have no sync session with each other')
    const direct = everConnected.filter(e => (e.startsWith(a.peerId) && e.endsWith(c.peerId)) || (e.startsWith(c.peerId) && e.endsWith(a.peerId)))
    assert.deepEqual(direct, [], 'A and C never opened a connection to each other')
  }

  async function openAll (nodes: MeshNode[]): Promise<DocHandle[]> {
    return await Promise.all(nodes.map(async n => await n.open(DOC)))
  }

  it("A's and C's edits reach each other through B", async () => {
    const { a, b, c, everConnected } = await line()
    const [ha, hb, hc] = await openAll([a, b, c])
    assert.deepEqual(b.peers.sort(), [a.peerId, c.peerId].sort(), 'B is connected to both ends')

    ha.doc.getText('body').insert(0, 'from A. ')
    ha.doc.getMap('meta').set('a', 1)
    hc.doc.getText('body').insert(0, 'from C. ')
    hc.doc.getArray('list').push(['c'])

    await waitFor(() => sameState(ha.doc, hc.doc) && sameState(ha.doc, hb.doc), {
      what: 'A and C to converge', detail: () => `A=${JSON.stringify(contentOf(ha.doc))} C=${JSON.stringify(contentOf(hc.doc))}`
    })
    const text = hc.doc.getText('body').toString()
    assert.ok(text.includes('from A. ') && text.includes('from C. '), text)
    assert.deepEqual(contentOf(ha.doc), contentOf(hc.doc))
    assert.deepEqual(hc.doc.getMap('meta').toJSON(), { a: 1 })
    assert.deepEqual(ha.doc.getArray('list').toJSON(), ['c'])
    // the ends see each other as stored by B, their only peer
    await ha.whenSynced({ timeout: 10_000 })
    await hc.whenSynced({ timeout: 10_000 })
    assert.deepEqual(ha.status.peers.map(p => p.peer), [b.peerId])
    assertNoDirectLink(a, c, everConnected())
  })

  it('history written before B opened the document still reaches the far end', async () => {
    const { a, b, c, everConnected } = await line()
    const ha = await a.open(DOC)
    const hc = await c.open(DOC)
    for (let i = 0; i < 10; i++) {
      ha.doc.getArray('list').push([`a${i}`])
      hc.doc.getArray('list').push([`c${i}`])
    }
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(ha.doc.getArray('list').length, 10, 'nothing reaches A while B does not hold the doc')
    const expected = docFromUpdates(Y.encodeStateAsUpdate(ha.doc), Y.encodeStateAsUpdate(hc.doc))
    const hb = await b.open(DOC)
    await waitFor(() => [ha, hb, hc].every(h => sameState(h.doc, expected)), {
      what: 'all three to hold both histories', detail: () => [ha, hb, hc].map(h => h.doc.getArray('list').length).join('/')
    })
    for (const h of [ha, hb, hc]) assert.deepEqual(contentOf(h.doc), contentOf(expected))
    assertNoDirectLink(a, c, everConnected())
  })

  it('random concurrent edits on all three nodes converge to the Yjs merge', async () => {
    seed = testSeed()
    const rand = seededRandom(seed)
    const { a, b, c, everConnected } = await line()
    const handles = await openAll([a, b, c])
    const tags = ['A', 'B', 'C']
    // bursts of edits on every node, with the network running in between
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 3; i++) {
        const k = Math.floor(rand() * 3)
        randomTransaction(handles[k].doc, rand, `${tags[k]}${burst}`)
      }
      if (rand() < 0.5) await new Promise(resolve => setImmediate(resolve))
      else await new Promise(resolve => setTimeout(resolve, 1 + Math.floor(rand() * 5)))
    }
    const expected = docFromUpdates(...handles.map(h => Y.encodeStateAsUpdate(h.doc)))
    await waitFor(() => handles.every(h => sameState(h.doc, expected)), {
      what: `all three to converge (seed ${seed})`, detail: () => handles.map(h => JSON.stringify(contentOf(h.doc))).join(' / ')
    })
    for (const h of handles) assert.deepEqual(contentOf(h.doc), contentOf(expected), `seed ${seed}`)
    assertNoDirectLink(a, c, everConnected())
  })
})
