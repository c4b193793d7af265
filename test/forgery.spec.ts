/**
 * Forged authors on a node that enforces authorship (issue 13, "Writers on a
 * gateway"): a clientID learned from presence, or seen only through a relay,
 * cannot be written under by another peer, and a refused forgery never costs
 * the honest device its link. Engines over the seeded in-memory network, so
 * every run delivers frames in the same order.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { authorRegistries, type AuthorshipOptions } from '../lib/security/authorship.js'
import type { SyncEngineOptions } from '../lib/sync/engine.js'
import type { MemoryNetwork } from '../lib/testing/memory-network.js'
import { EngineNet, type NetNode as Node } from './helpers/engine-net.js'

const SEED = Number(process.env.MESHDOC_SEED ?? 13)

describe('forged authors are refused; the honest device keeps its link', function () {
  this.timeout(30_000)
  let fleet: EngineNet
  let net: MemoryNetwork

  beforeEach(() => {
    fleet = new EngineNet(SEED)
    net = fleet.net
  })
  afterEach(() => { fleet.stop() })

  /** An engine reachable as `id` that enforces authorship; its docs open on first use, and every DENIED it gets is recorded. */
  const node = (id: string, { authorship, ...opts }: SyncEngineOptions & { authorship?: AuthorshipOptions } = {}): Node =>
    fleet.node(id, { ...opts, ...(authorship !== undefined ? { authors: authorRegistries(authorship) } : {}) })

  const text = (n: Node, docId = 'doc'): string => n.doc(docId).doc.getText('t').toString()
  const quiet = async (): Promise<void> => { await net.runUntilQuiet() }
  const connected = (a: Node, b: string): boolean => a.engine.peerIds.includes(b)

  it('a clientID learned from presence cannot be written under by another peer before its owner types', async () => {
    const gw = node('gw', { authorship: { relays: [] } })
    const device = node('device')
    const mallory = node('mallory')
    gw.doc('doc')
    device.doc('doc').awareness.setLocalStateField('user', 'device')
    const forged = mallory.doc('doc')
    net.connect('device', 'gw')
    net.connect('mallory', 'gw')
    await quiet()
    // mallory sees the device's presence (its clientID) before the device has typed anything
    const owner = device.doc('doc').doc.clientID
    assert.ok(forged.awareness.getStates().has(owner), 'the device is present at mallory')
    assert.equal(Y.getState(gw.doc('doc').doc.store, owner), 0, 'the device has written nothing yet')

    forged.doc.clientID = owner
    forged.doc.getText('t').insert(0, 'FORGED ')
    await quiet()
    // the forged update, and its structs once more in the SYNC round a DENIED starts; no more
    assert.equal(gw.engine.counters.rejected.forged_author, 2)
    assert.equal(text(gw), '', 'nothing of the forgery is applied')
    assert.ok(connected(gw, 'mallory'), 'a refused forgery does not close the link')
    assert.deepEqual(mallory.denied, [['gw', 'doc', 'authorship']])

    // the owner's own edits are its own
    device.doc('doc').doc.getText('t').insert(0, 'typed by its owner')
    await quiet()
    assert.equal(text(gw), 'typed by its owner')
    assert.equal(gw.engine.counters.rejected.forged_author, 2)
    assert.deepEqual(device.denied, [])
  })

  it('a clientID seen only through a relay cannot be written under directly', async () => {
    // two gateways trust each other as relays; the device writes at the first only
    const gw = node('gw', { authorship: { relays: ['relay'] } })
    const relay = node('relay', { authorship: { relays: ['gw'] } })
    const device = node('device')
    const mallory = node('mallory')
    for (const n of [gw, relay, device, mallory]) n.doc('doc')
    net.connect('relay', 'gw')
    net.connect('device', 'relay')
    net.connect('mallory', 'relay')
    device.doc('doc').doc.getText('t').insert(0, 'from the device. ')
    await quiet()
    assert.equal(text(gw), 'from the device. ')
    assert.equal(text(mallory), 'from the device. ')
    // mallory learned the device's clientID through the relay; now it reaches the gateway itself
    net.connect('mallory', 'gw')
    await quiet()

    const owner = device.doc('doc').doc.clientID
    const forged = mallory.doc('doc').doc
    forged.clientID = owner
    forged.getText('t').insert(forged.getText('t').length, 'FORGED')
    await quiet()
    assert.equal(text(gw), 'from the device. ', 'the gateway refused the forgery sent to it directly')
    assert.equal(text(relay), 'from the device. ', 'and so did the relay, which forwards nothing of it')
    assert.equal(gw.engine.counters.rejected.forged_author, 2)
    assert.equal(relay.engine.counters.rejected.forged_author, 2)
    assert.ok(connected(gw, 'mallory') && connected(relay, 'mallory'), 'mallory keeps its links')

    device.doc('doc').doc.getText('t').insert(0, 'more. ')
    await quiet()
    assert.equal(text(gw), 'more. from the device. ', "the device's later edits still reach the gateway through the relay")
  })

  it('when a forger got there first, the honest device is refused there without losing its link, its other docs keep syncing, and it writes again once the forger leaves', async () => {
    const gw = node('gw', { authorship: { relays: [] } })
    const device = node('device')
    const mallory = node('mallory')
    for (const n of [gw, device, mallory]) { n.doc('doc'); n.doc('other') }
    // mallory writes under the device's clientID before the device ever reached the gateway
    const owner = device.doc('doc').doc.clientID
    const forged = mallory.doc('doc').doc
    forged.clientID = owner
    forged.getText('t').insert(0, 'FORGED')
    net.connect('mallory', 'gw')
    await quiet()
    assert.equal(text(gw), 'FORGED', 'without signatures the first writer of a never-seen clientID wins')

    device.doc('doc').doc.getText('t').insert(0, 'typed by its owner')
    net.connect('device', 'gw')
    await quiet()
    assert.equal(gw.engine.counters.rejected.forged_author, 2, "the device's edits under its own clientID are refused there (its answer, then the SYNC round)")
    assert.ok(connected(gw, 'device'), 'the honest device keeps its link')
    assert.equal(gw.engine.counters.rejected.forbidden, undefined, 'nobody was closed')
    assert.deepEqual(device.denied, [['gw', 'doc', 'authorship']])

    // its other documents keep syncing; what it writes under that clientID stays refused
    // there while the forger holds it (without signatures the first writer wins),
    // silently: one DENIED, no storm
    device.doc('other').doc.getText('t').insert(0, 'another doc')
    device.doc('doc').doc.getMap('m').set('k', 'a later edit')
    await quiet()
    assert.equal(text(gw, 'other'), 'another doc')
    assert.equal(gw.doc('doc').doc.getMap('m').get('k'), undefined)
    assert.equal(gw.engine.counters.rejected.forged_author, 3)
    assert.equal(device.denied.length, 1)
    assert.ok(connected(gw, 'device'))

    // the forger leaves: its hold on the clientID ends, and the device's edits are accepted again
    net.isolate('mallory')
    device.doc('doc').doc.getMap('m').set('k', 'after the forger left')
    await quiet()
    assert.equal(gw.doc('doc').doc.getMap('m').get('k'), 'after the forger left')
    assert.ok(device.doc('doc').isSyncedWith('gw'), 'and a SYNC round brought what was refused before')
  })

  it('devices that also forward each other’s edits are not taken for forgers: every link stays and the gateway converges', async () => {
    const gw = node('gw', { authorship: { relays: [] } })
    const a = node('a')
    const b = node('b')
    for (const n of [gw, a, b]) n.doc('doc')
    net.connect('a', 'gw')
    net.connect('b', 'gw')
    net.connect('a', 'b')
    await quiet()
    for (let round = 0; round < 20; round++) {
      const writer = round % 3 === 2 ? b : a
      const t = writer.doc('doc').doc.getText('t')
      t.insert(t.length, `${round} `)
      await quiet()
    }
    // what a race refused comes again with the next SYNC round (anti-entropy)
    for (let i = 0; i < 3 && (text(gw) !== text(a) || ![a, b].every(n => n.doc('doc').isSyncedWith('gw'))); i++) {
      for (const n of [gw, a, b]) n.engine.runAntiEntropy()
      await quiet()
    }
    console.log(`      forwards that lost a race and were refused: ${gw.engine.counters.rejected.forged_author ?? 0}; DENIEDs they got: ${[a, b].map(n => n.denied.length).join(' + ')}`)
    assert.equal(text(a), text(b))
    assert.equal(text(gw), text(a))
    for (const n of [a, b]) assert.ok(connected(gw, n === a ? 'a' : 'b'), 'no link was dropped')
    assert.ok([a, b].every(n => n.doc('doc').isSyncedWith('gw')), 'each device knows the gateway stored all it sent')
    assert.equal(gw.engine.counters.rejected.forbidden, undefined)
  })

  it('a device whose edits another device forwarded first keeps syncing with the gateway after that device leaves', async () => {
    const gw = node('gw', { authorship: { relays: [] } })
    const a = node('a')
    const b = node('b')
    for (const n of [gw, a, b]) n.doc('doc')
    net.connect('b', 'gw')
    net.connect('a', 'b')
    await quiet()
    // b announces a's presence at the gateway before a gets there, and forwards its first edits
    net.connect('a', 'gw')
    const t = a.doc('doc').doc.getText('t')
    for (let round = 0; round < 5; round++) {
      t.insert(t.length, `${round} `)
      await quiet()
    }
    net.isolate('b')
    for (let round = 5; round < 10; round++) {
      t.insert(t.length, `${round} `)
      await quiet()
    }
    assert.equal(text(gw), '0 1 2 3 4 5 6 7 8 9 ')
    assert.ok(a.doc('doc').isSyncedWith('gw'))
    assert.ok(connected(gw, 'a'))
  })
})
