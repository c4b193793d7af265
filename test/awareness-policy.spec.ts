import assert from 'node:assert/strict'
import type { MeshNode, MeshNodeOptions } from '../adapters/presets/node.js'
import { until } from './helpers/wait.js'
import { NodePool } from './helpers/mesh-nodes.js'

describe('presence and access control over real libp2p', function () {
  const pool = new NodePool()
  afterEach(async () => { await pool.stopAll() })
  const node = async (opts: MeshNodeOptions = {}): Promise<MeshNode> => await pool.create(opts)

  it('awareness states reach the other peer and are cleared when it disconnects', async () => {
    const a = await node()
    const b = await node()
    const ha = await a.open('room')
    const hb = await b.open('room')
    ha.awareness.setLocalStateField('user', { name: 'alice' })
    await b.dial(a.multiaddrs[0])
    await until(() => hb.awareness.getStates().get(ha.awareness.clientID)?.user?.name === 'alice', 'alice on b')
    hb.awareness.setLocalStateField('user', { name: 'bob' })
    await until(() => ha.awareness.getStates().get(hb.awareness.clientID)?.user?.name === 'bob', 'bob on a')
    await b.libp2p.hangUp(a.libp2p.peerId)
    await until(() => !hb.awareness.getStates().has(ha.awareness.clientID), 'alice removed on b')
    await until(() => !ha.awareness.getStates().has(hb.awareness.clientID), 'bob removed on a')
  })

  it("a peer without access gets DENIED, learns nothing, and the doc's data never leaves", async () => {
    const a = await node({ policy: (_peer, docId) => docId.startsWith('public/') ? 'write' : 'none' })
    const b = await node()
    const secret = await a.open('private/plans')
    secret.doc.getText('t').insert(0, 'top secret')
    const open = await a.open('public/board')
    open.doc.getText('t').insert(0, 'hello')
    const hbSecret = await b.open('private/plans')
    const hbOpen = await b.open('public/board')
    const denied = new Promise<string>(resolve => { hbSecret.on('denied', (peer) => { resolve(peer) }) })
    await b.dial(a.multiaddrs[0])
    assert.equal(await denied, a.peerId)
    await hbOpen.whenSynced({ peer: a.peerId, timeout: 5000 })
    assert.equal(hbOpen.doc.getText('t').toString(), 'hello')
    assert.equal(hbSecret.doc.getText('t').toString(), '')
    await assert.rejects(hbSecret.whenSynced({ peer: a.peerId, timeout: 500 }), (err: Error) => ['DeniedError', 'TimeoutError'].includes(err.name))
  })

  it('a reader receives data but its writes are refused, not applied and not forwarded', async () => {
    const gw = await node({ policy: (peer) => peer === readerId ? 'read' : 'write' })
    const reader = await node()
    const writer = await node()
    const readerId = reader.peerId
    const hg = await gw.open('doc')
    const hr = await reader.open('doc')
    const hw = await writer.open('doc')
    hg.doc.getText('t').insert(0, 'from gateway')
    await reader.dial(gw.multiaddrs[0])
    await writer.dial(gw.multiaddrs[0])
    await until(() => hr.doc.getText('t').toString() === 'from gateway', 'reader receives')
    // edit only after the writer has the gateway's text, so its insert is causally after it
    await hw.whenSynced({ peer: gw.peerId, timeout: 5000 })
    hr.doc.getText('t').insert(0, 'FORGED ')
    hw.doc.getText('t').insert(0, 'ok ')
    await until(() => hg.doc.getText('t').toString() === 'ok from gateway', 'writer edit arrives')
    await until(() => (gw.stats.rejected.forbidden ?? 0) > 0, 'refusal counted')
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(hg.doc.getText('t').toString(), 'ok from gateway')
    assert.equal(hw.doc.getText('t').toString(), 'ok from gateway')
  })

  it('revoking access at runtime stops the flow at once', async () => {
    let allowed = true
    const a = await node({ policy: () => allowed ? 'write' : 'none' })
    const b = await node()
    const ha = await a.open('doc')
    const hb = await b.open('doc')
    await b.dial(a.multiaddrs[0])
    ha.doc.getText('t').insert(0, 'before')
    await until(() => hb.doc.getText('t').toString() === 'before', 'first edit')
    allowed = false
    a.setPolicy(() => allowed ? 'write' : 'none')
    ha.doc.getText('t').insert(6, ' after')
    hb.doc.getText('t').insert(0, 'b: ')
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(hb.doc.getText('t').toString(), 'b: before')
    assert.equal(ha.doc.getText('t').toString(), 'before after')
  })
})
