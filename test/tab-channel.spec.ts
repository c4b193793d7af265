/**
 * TabChannel, the link between the tabs of one browser app, exercised in Node
 * (which has BroadcastChannel and Web Locks): honest tabs converge, a hostile
 * "tab" posting garbage is refused with a reason and changes nothing, and a
 * tab that dies without saying bye is dropped once its life lock is released.
 * The real-browser version runs in test/browser.spec.ts.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { nodeLibp2pPreset } from '../adapters/libp2p/create-libp2p.js'
import { libp2pNetwork } from '../adapters/libp2p/network.js'
import { TabChannel } from '../adapters/broadcast-channel/tab-channel.js'
import { startMeshNode, type MeshNode } from '../lib/mesh-node.js'
import { MemoryStorageAdapter } from '../lib/storage/memory-adapter.js'
import { waitFor } from './helpers/mesh-nodes.js'

describe('TabChannel (tabs of one app over BroadcastChannel)', function () {
  this.timeout(20_000)
  const nodes: MeshNode[] = []
  let namespace: string
  beforeEach(() => { namespace = `meshdoc-test-${randomBytes(4).toString('hex')}` })
  const cleanups: Array<() => void> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) c()
    await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() }))
  })

  /** Hold a Web Lock until `release()`, as a tab holds its life lock. */
  function holdLock (name: string): { held: Promise<void>, release: () => void } {
    let release = (): void => {}
    const held = new Promise<void>(resolve => {
      void navigator.locks.request(name, async () => {
        await new Promise<void>(r => { release = r; resolve() })
      })
    })
    return { held, release: () => { release() } }
  }

  async function tab (): Promise<{ node: MeshNode, tabs: () => TabChannel }> {
    let channel: TabChannel | undefined
    const node = await startMeshNode({ antiEntropyIntervalMs: 0, storage: new MemoryStorageAdapter() }, { libp2p: nodeLibp2pPreset, network: libp2pNetwork }, {
      extraLinks: async (n, addPeer) => {
        channel = new TabChannel(namespace, n.peerId, addPeer)
        await channel.start()
        return { stop: () => { channel?.stop() } }
      }
    })
    nodes.push(node)
    return { node, tabs: () => channel! }
  }

  it('two tabs link, sync both ways, and unlink when one stops', async () => {
    const a = await tab()
    const b = await tab()
    await waitFor(() => a.node.peers.includes(b.node.peerId) && b.node.peers.includes(a.node.peerId), { what: 'the tabs to link' })
    const ha = await a.node.open('notes/tabs')
    const hb = await b.node.open('notes/tabs')
    ha.doc.getText('t').insert(0, 'from a. ')
    hb.doc.getText('t').insert(0, 'from b. ')
    await waitFor(() => ha.doc.getText('t').toString() === hb.doc.getText('t').toString() && ha.doc.getText('t').length === 16, { what: 'the tabs to converge' })
    await ha.whenSynced({ peer: b.node.peerId, timeout: 5000 })
    await b.node.stop()
    await waitFor(() => !a.node.peers.includes(b.node.peerId), { what: 'A to drop the tab that left' })
  })

  it('a hostile tab sending garbage is refused with a reason; the doc and the honest tab are unaffected', async () => {
    const a = await tab()
    const b = await tab()
    await waitFor(() => a.node.peers.includes(b.node.peerId), { what: 'the tabs to link' })
    const ha = await a.node.open('notes/hostile')
    ha.doc.getText('t').insert(0, 'kept')
    const before = ha.doc.getText('t').toString()

    const evilId = '12D3KooWEvilTabEvilTabEvilTabEvilTabEvilTabEvilTab1'
    // a same-origin script can do all a tab does, holding a life lock included
    const evilLife = holdLock(`${namespace}:tab:${evilId}`)
    await evilLife.held
    const evil = new BroadcastChannel(`${namespace}:tabs`)
    cleanups.push(() => { evil.close(); evilLife.release() })
    evil.postMessage({ t: 'hello', from: evilId })
    await waitFor(() => a.node.peers.includes(evilId), { what: 'A to link the newcomer' })
    evil.postMessage({ t: 'frame', from: evilId, to: a.node.peerId, body: new Uint8Array([0xff, 0xff, 0xff, 0x01, 0x02]) })
    evil.postMessage({ t: 'frame', from: evilId, to: a.node.peerId, body: 'not bytes' })
    evil.postMessage(null)
    evil.postMessage({ t: 'nonsense', from: evilId })
    await waitFor(() => !a.node.peers.includes(evilId), { what: 'A to close the hostile tab' })
    const rejected = Object.entries(a.node.stats.rejected).filter(([, n]) => n > 0)
    assert.ok(rejected.length > 0, 'the refusal is counted with a reason')

    assert.equal(ha.doc.getText('t').toString(), before)
    const hb = await b.node.open('notes/hostile')
    await waitFor(() => hb.doc.getText('t').toString() === 'kept', { what: 'the honest tab to still sync' })
  })

  it('a tab that dies without a bye is dropped when its life lock is released', async () => {
    const a = await tab()
    const ghost = '12D3KooWGhostTabGhostTabGhostTabGhostTabGhostTab11'
    const life = holdLock(`${namespace}:tab:${ghost}`)
    await life.held
    const channel = new BroadcastChannel(`${namespace}:tabs`)
    cleanups.push(() => { channel.close(); life.release() })
    channel.postMessage({ t: 'hello', from: ghost })
    await waitFor(() => a.node.peers.includes(ghost), { what: 'A to link the ghost tab' })
    life.release() // the tab "crashes": its lock is released, and no bye is ever sent
    await waitFor(() => !a.node.peers.includes(ghost), { what: 'A to drop the dead tab' })
  })
})
