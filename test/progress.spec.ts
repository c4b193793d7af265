/**
 * Long syncs report progress: a node joining a large document sees
 * `sync:progress` events while the big frame arrives, ending at 100 %.
 */
import assert from 'node:assert/strict'
import type { SyncProgress } from '../adapters/presets/node.js'
import { NodePool } from './helpers/mesh-nodes.js'

describe('progress of a long sync', function () {
  this.timeout(60_000)
  const pool = new NodePool()
  after(async () => { await pool.stopAll() })

  it('a joining node gets sync:progress events that grow to the frame size', async () => {
    const gw = await pool.create()
    const joiner = await pool.create()
    const big = await gw.open('big/report')
    const text = big.doc.getText('t')
    for (let i = 0; i < 40; i++) text.insert(text.length, `section ${i}: ${'lorem ipsum '.repeat(4000)}\n`)
    const events: SyncProgress[] = []
    joiner.on('sync:progress', (p) => { events.push(p) })
    const h = await joiner.open('big/report')
    await joiner.dial(gw.multiaddrs[0])
    await h.whenSynced({ peer: gw.peerId, timeout: 30_000 })
    assert.equal(h.doc.getText('t').length, text.length)
    const last = events[events.length - 1]
    assert.ok(events.length >= 2, `only ${events.length} progress events`)
    assert.equal(last.peer, gw.peerId)
    assert.ok(last.expected >= 1_000_000, `largest frame ${last.expected} B`)
    assert.equal(last.received, last.expected, 'the last event is the completed frame')
    for (let i = 1; i < events.length; i++) {
      if (events[i].expected === events[i - 1].expected) assert.ok(events[i].received >= events[i - 1].received, 'progress went backwards')
    }
    console.log(`      ${events.length} progress events for a ${(last.expected / 1e6).toFixed(1)} MB frame`)
  })
})
