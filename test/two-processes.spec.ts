/**
 * Nodes in separate OS processes, over real libp2p (TCP on 127.0.0.1, Noise,
 * yamux): edits flow both ways, concurrent edits converge, and a node that
 * joins late receives everything written before it joined.
 *
 * One node runs in this (mocha) process so the test can read its Y.Doc
 * directly; the others are `test/helpers/child-node.ts` processes.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import type { MeshNode } from '../adapters/presets/node.js'
import { ChildNode } from './helpers/child-node-client.js'
import {
  connectionsTo, contentOf, docFromUpdates, fromBase64, LOOPBACK, NodePool, sameState, toBase64, waitFor
} from './helpers/mesh-nodes.js'

const DOC = 'notes/two-processes'

describe('nodes in separate OS processes', function () {
  this.timeout(45_000)
  const pool = new NodePool()
  let children: ChildNode[] = []

  afterEach(async () => {
    const kids = children
    children = []
    await Promise.allSettled(kids.map(async c => { await c.kill() }))
    await pool.stopAll()
  })

  function spawnChild (name: string): ChildNode {
    const c = new ChildNode(name)
    children.push(c)
    return c
  }

  /** The child's copy of DOC, rebuilt in a fresh Y.Doc from its full state. */
  async function childDoc (child: ChildNode): Promise<Y.Doc> {
    return docFromUpdates(fromBase64(await child.request('state', { doc: DOC })))
  }

  /** Wait until the child's copy of DOC holds exactly the state of `doc`. */
  async function childReaches (child: ChildNode, doc: Y.Doc): Promise<void> {
    await child.request('waitForState', { doc: DOC, update: toBase64(Y.encodeStateAsUpdate(doc)), timeout: 15_000 }, 20_000)
  }

  /** One node in a child process and one here, connected, both holding DOC. */
  async function pair (): Promise<{ child: ChildNode, childPeer: string, childAddr: string, local: MeshNode }> {
    const child = spawnChild('child node A')
    const { peerId, multiaddrs } = await child.request('start', { listen: LOOPBACK })
    assert.ok(multiaddrs.length > 0, 'the child node listens')
    await child.request('open', { doc: DOC })
    const local = await pool.create()
    await local.dial(multiaddrs[0])
    await waitFor(() => local.peers.includes(peerId), { what: 'a sync session with the child' })
    const deadline = Date.now() + 10_000
    while (!(await child.request('peers', {})).includes(local.peerId)) {
      if (Date.now() > deadline) throw new Error('the child never saw a sync session with this process')
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    return { child, childPeer: peerId, childAddr: multiaddrs[0], local }
  }

  it('edits flow both ways between two processes over TCP on 127.0.0.1', async () => {
    const { child, childPeer, local } = await pair()
    const conns = connectionsTo(local, childPeer)
    assert.equal(conns.length, 1, 'one libp2p connection to the child')
    assert.match(conns[0].remoteAddr.toString(), /^\/ip4\/127\.0\.0\.1\/tcp\/\d+/, 'the connection is TCP on loopback')
    assert.deepEqual(await child.request('peers', {}), [local.peerId], 'the child sees exactly our node')

    const h = await local.open(DOC)
    const body = h.doc.getText('body')

    // child -> this process
    await child.request('edit', {
      doc: DOC,
      edits: [
        { type: 'text-insert', name: 'body', index: 0, text: 'written in the child process.' },
        { type: 'map-set', name: 'meta', key: 'childPid', value: 1 },
        { type: 'array-push', name: 'list', values: ['from child'] }
      ]
    })
    await waitFor(() => body.toString() === 'written in the child process.', {
      what: "the child's edit to arrive", detail: () => JSON.stringify(body.toString())
    })
    assert.deepEqual(h.doc.getMap('meta').toJSON(), { childPid: 1 })
    assert.deepEqual(h.doc.getArray('list').toJSON(), ['from child'])

    // this process -> child
    body.insert(0, 'parent: ')
    body.delete(body.length - 1, 1)
    h.doc.getMap('meta').set('parent', 'yes')
    h.doc.getArray('list').insert(0, ['from parent'])
    await childReaches(child, h.doc)
    const remote = await childDoc(child)
    assert.equal(remote.getText('body').toString(), 'parent: written in the child process')
    assert.deepEqual(contentOf(remote), contentOf(h.doc))
    assert.ok(sameState(remote, h.doc), 'both replicas hold the same structs')

    // both sides report the other as having stored everything
    await h.whenSynced({ peer: childPeer, timeout: 10_000 })
    await child.request('whenSynced', { doc: DOC, peer: local.peerId, timeout: 10_000 })
  })

  it('concurrent edits made in both processes converge to the Yjs merge of both', async () => {
    const { child, local } = await pair()
    const h = await local.open(DOC)
    // same positions, same keys, at the same time on both sides
    const childEdit = child.request('edit', {
      doc: DOC,
      edits: [
        { type: 'text-insert', name: 'body', index: 0, text: 'CHILD' },
        { type: 'map-set', name: 'meta', key: 'winner', value: 'child' },
        { type: 'array-push', name: 'list', values: ['c1', 'c2'] }
      ]
    })
    h.doc.transact(() => {
      h.doc.getText('body').insert(0, 'parent')
      h.doc.getMap('meta').set('winner', 'parent')
      h.doc.getArray('list').push(['p1'])
    })
    await childEdit
    await waitFor(() => h.doc.getText('body').length === 'CHILDparent'.length, { what: "the child's concurrent edit" })
    await childReaches(child, h.doc)
    const remote = await childDoc(child)
    assert.ok(sameState(remote, h.doc), 'both replicas hold the same structs')
    // what Yjs itself makes of the two sides' updates, independent of meshdoc
    const expected = docFromUpdates(Y.encodeStateAsUpdate(remote), Y.encodeStateAsUpdate(h.doc))
    assert.deepEqual(contentOf(h.doc), contentOf(expected))
    assert.deepEqual(contentOf(remote), contentOf(expected))
    assert.ok(['CHILDparent', 'parentCHILD'].includes(h.doc.getText('body').toString()), h.doc.getText('body').toString())
    assert.equal(h.doc.getArray('list').length, 3)
  })

  it('a third node that joins late catches up with everything written before it joined', async () => {
    const { child, childAddr, local } = await pair()
    const h = await local.open(DOC)
    const body = h.doc.getText('body')
    // history on both sides, with deletions and overwritten map keys
    for (let i = 0; i < 20; i++) {
      body.insert(body.length, `p${i} `)
      await child.request('edit', {
        doc: DOC,
        edits: [
          { type: 'text-insert', name: 'body', index: 0, text: `c${i} ` },
          { type: 'map-set', name: 'meta', key: 'round', value: i },
          { type: 'array-push', name: 'list', values: [i] }
        ]
      })
      if (i % 5 === 4) body.delete(0, 3)
    }
    await waitFor(() => h.doc.getArray('list').length === 20, { what: "the child's edits to arrive" })
    await childReaches(child, h.doc)
    const first = await childDoc(child)
    assert.ok(sameState(first, h.doc), 'the first two replicas converged')
    const written = contentOf(h.doc)
    assert.deepEqual(contentOf(first), written)
    assert.equal((written['array:list'] as number[]).length, 20)

    // the late joiner: a third process that knows only the child's address
    const late = spawnChild('late child C')
    await late.request('start', { listen: LOOPBACK, bootstrap: [childAddr] })
    await late.request('open', { doc: DOC })
    await childReaches(late, h.doc)
    const caughtUp = await childDoc(late)
    assert.deepEqual(contentOf(caughtUp), written, 'the late joiner sees exactly what was written before it joined')
    assert.ok(sameState(caughtUp, h.doc), 'and holds the same structs')
    assert.ok(!(await late.request('peers', {})).includes(local.peerId), 'it got them through the child, not from this process')
  })
})
