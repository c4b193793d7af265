/**
 * Many documents share one connection: 500 docs open on two nodes sync over a
 * single libp2p connection carrying exactly one `/meshdoc/sync/1.0.0` stream.
 */
import assert from 'node:assert/strict'
import { PROTOCOL_ID, type DocHandle, type MeshNode } from '../adapters/presets/node.js'
import { connect, connectionsTo, meshdocStreams, NodePool, sameState, waitFor } from './helpers/mesh-nodes.js'

const DOCS = 500
const docId = (i: number): string => `many/doc-${i}`

describe('many documents over one connection', function () {
  this.timeout(45_000)
  const pool = new NodePool()

  afterEach(async () => { await pool.stopAll() })

  async function openAll (node: MeshNode): Promise<DocHandle[]> {
    const handles: DocHandle[] = []
    for (let i = 0; i < DOCS; i++) handles.push(await node.open(docId(i)))
    return handles
  }

  /** Exactly one connection between the two nodes, with exactly one meshdoc stream on each end. */
  function assertOneStream (a: MeshNode, b: MeshNode): void {
    for (const [x, y] of [[a, b], [b, a]]) {
      const conns = connectionsTo(x, y.peerId)
      assert.equal(conns.length, 1, 'exactly one connection between the nodes')
      const sync = conns[0].streams.filter(s => s.protocol === PROTOCOL_ID)
      assert.equal(sync.length, 1, `exactly one ${PROTOCOL_ID} stream on the connection, found ${sync.length}`)
      assert.equal(meshdocStreams(x).length, 1, 'and no other meshdoc stream on any connection')
    }
  }

  it(`${DOCS} docs open on two nodes sync over one connection and one meshdoc stream`, async () => {
    const a = await pool.create()
    const b = await pool.create()

    // A holds history in every doc before the nodes meet
    const ha = await openAll(a)
    ha.forEach((h, i) => { h.doc.getText('body').insert(0, `written on A in doc ${i}. `) })

    await connect(b, a)
    // B opens every doc after the connection is up: each joins the existing stream
    const hb = await openAll(b)
    assertOneStream(a, b)
    await waitFor(() => hb.every((h, i) => h.doc.getText('body').toString() === `written on A in doc ${i}. `), {
      what: `A's history in all ${DOCS} docs on B`,
      detail: () => `${hb.filter(h => h.doc.getText('body').length > 0).length} docs arrived`
    })

    // now both write to every doc at once
    hb.forEach((h, i) => { h.doc.getMap('meta').set('b', i) })
    ha.forEach((h, i) => { h.doc.getText('body').insert(h.doc.getText('body').length, `and more on A ${i}.`) })
    await waitFor(() => ha.every((h, i) => sameState(h.doc, hb[i].doc)), {
      what: `all ${DOCS} docs to converge`,
      detail: () => `${ha.filter((h, i) => sameState(h.doc, hb[i].doc)).length} converged`
    })
    for (let i = 0; i < DOCS; i++) {
      assert.equal(hb[i].doc.getText('body').toString(), `written on A in doc ${i}. and more on A ${i}.`)
      assert.deepEqual(ha[i].doc.getMap('meta').toJSON(), { b: i })
    }
    await Promise.all([...ha, ...hb].map(async h => { await h.whenSynced({ timeout: 20_000 }) }))

    assertOneStream(a, b)
    assert.deepEqual(a.peers, [b.peerId])
    assert.deepEqual(b.peers, [a.peerId])
    assert.equal(a.openDocs.length, DOCS)
  })

  it('when both nodes dial each other at once they keep one meshdoc stream between them, and all docs sync', async () => {
    const a = await pool.create()
    const b = await pool.create()
    const ha = await openAll(a)
    const hb = await openAll(b)
    ha.forEach((h, i) => { h.doc.getArray('list').push([`a${i}`]) })
    hb.forEach((h, i) => { h.doc.getArray('list').push([`b${i}`]) })
    await Promise.all([a.dial(b.multiaddrs[0]), b.dial(a.multiaddrs[0])])
    await waitFor(() => ha.every((h, i) => sameState(h.doc, hb[i].doc)), {
      what: `all ${DOCS} docs to converge`,
      detail: () => `${ha.filter((h, i) => sameState(h.doc, hb[i].doc)).length} converged`
    })
    for (let i = 0; i < DOCS; i++) assert.deepEqual([...ha[i].doc.getArray('list').toJSON()].sort(), [`a${i}`, `b${i}`])
    // either connection may carry it, but there is one sync stream per side, and one session
    await waitFor(() => meshdocStreams(a).length === 1 && meshdocStreams(b).length === 1, {
      what: 'one meshdoc stream per side', detail: () => `A has ${meshdocStreams(a).length}, B has ${meshdocStreams(b).length}`
    })
    assert.deepEqual(a.peers, [b.peerId])
    assert.deepEqual(b.peers, [a.peerId])
    // and the surviving stream still carries edits both ways
    ha[7].doc.getText('body').insert(0, 'after the race')
    hb[9].doc.getText('body').insert(0, 'after the race too')
    await waitFor(() => hb[7].doc.getText('body').toString() === 'after the race' && ha[9].doc.getText('body').toString() === 'after the race too', {
      what: 'edits after the dial race to sync'
    })
  })
})
