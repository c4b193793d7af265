/**
 * How a sync session starts (docs/PROTOCOL.md §3.1): the dialer speaks first
 * to a peer it has no memory of, a listener answers the SYNC1s that came with
 * a HELLO before it computes its own, and nothing that came with a HELLO is
 * dropped because the sessions it belongs to were not set up yet.
 *
 * Two engines are wired by hand so the test decides what arrives in one
 * delivery (one read, as a socket would hand it over).
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { decodeFrame } from '../lib/protocol/codec.js'
import { deleteRangesOf } from '../lib/yjs/update-batch.js'
import { MessageType } from '../lib/protocol/constants.js'
import type { EngineDoc } from '../lib/sync/engine-doc.js'
import { SyncEngine } from '../lib/sync/engine.js'
import { digestOfDeleteRanges, EMPTY_DS_DIGEST } from '../lib/sync/fingerprint.js'
import type { PeerConnection, PeerLink } from '../lib/sync/types.js'
import { sha256 } from '@noble/hashes/sha2.js'
import * as prng from 'lib0/prng'
import { nodeSha256 } from '../adapters/presets/node-sha256.js'
import { openEngineDoc, reopenEngineDoc } from './helpers/engine-doc.js'

const DOC_ID = 'notes/session-start'

/** frames one side wrote and the other has not been handed yet */
class HeldLink implements PeerLink {
  readonly queue: Uint8Array[] = []
  writable = true
  closed = false
  constructor (readonly initiator: boolean) {}
  send (body: Uint8Array): void { if (!this.closed) this.queue.push(body) }
  close (): void { this.closed = true }
}

interface Side { engine: SyncEngine, sync: EngineDoc, id: string }

/** every side a test made: stopped after it (engine timers, HELLO deadlines, the awareness timer) */
const sides: Side[] = []

function side (id: string, text = ''): Side {
  const doc = new Y.Doc()
  if (text !== '') doc.getText('t').insert(0, text)
  const engine = new SyncEngine({ antiEntropyIntervalMs: 0 })
  const sync = openEngineDoc(engine, DOC_ID, { doc })
  const made = { engine, sync, id }
  sides.push(made)
  return made
}

/** One connection; `dialer` opened it. */
class Wire {
  readonly toListener: HeldLink
  readonly toDialer: HeldLink
  readonly atDialer: PeerConnection
  readonly atListener: PeerConnection

  constructor (readonly dialer: Side, readonly listener: Side) {
    this.toListener = new HeldLink(true)
    this.toDialer = new HeldLink(false)
    this.atDialer = dialer.engine.addPeer(listener.id, this.toListener)
    this.atListener = listener.engine.addPeer(dialer.id, this.toDialer)
  }

  /** Hand everything queued for one side over in one delivery; returns the frame types. */
  deliver (to: 'dialer' | 'listener'): number[] {
    const link = to === 'dialer' ? this.toDialer : this.toListener
    const conn = to === 'dialer' ? this.atDialer : this.atListener
    const bodies = link.queue.splice(0)
    for (const b of bodies) conn.receive(b)
    conn.delivered?.()
    return bodies.map(b => decodeFrame(b).type)
  }

  /** Deliver both ways, letting microtasks (ACK loops, offers) run, until nothing moves. */
  async settle (): Promise<void> {
    for (let i = 0; i < 100; i++) {
      await new Promise(resolve => setImmediate(resolve))
      if (this.toDialer.queue.length === 0 && this.toListener.queue.length === 0) return
      this.deliver('dialer')
      this.deliver('listener')
    }
    throw new Error('the two engines never went quiet')
  }

  close (): void {
    this.atDialer.closed()
    this.atListener.closed()
  }
}

const types = (link: HeldLink): number[] => link.queue.map(b => decodeFrame(b).type)
const text = (s: Side): string => s.sync.doc.getText('t').toString()

describe('session start', () => {
  afterEach(() => {
    for (const s of sides.splice(0)) {
      s.engine.stop()
      s.sync.awareness.destroy()
    }
  })

  it('a dialer that remembers nothing of the peer sends its SYNC1 right behind its HELLO', () => {
    const joiner = side('joiner')
    const gateway = side('gateway', 'held by the gateway')
    const wire = new Wire(joiner, gateway)
    assert.deepEqual(types(wire.toListener), [MessageType.HELLO, MessageType.SYNC1])
    // the listener waits for the dialer's HELLO before offering anything
    assert.deepEqual(types(wire.toDialer), [MessageType.HELLO])
  })

  it('a listener answers the SYNC1 that came with a HELLO before it sends its own SYNC1', async () => {
    const joiner = side('joiner')
    const gateway = side('gateway', 'held by the gateway')
    const wire = new Wire(joiner, gateway)
    assert.deepEqual(types(wire.toDialer), [MessageType.HELLO])
    wire.deliver('listener') // HELLO + SYNC1 in one read
    await Promise.resolve()
    const sent = types(wire.toDialer).slice(1)
    assert.equal(sent[0], MessageType.SYNC2, `first frame after the HELLO: ${sent.join(',')}`)
    assert.equal(sent.filter(t => t === MessageType.SYNC1).length, 1, 'exactly one SYNC1 of its own, after the answer')
    assert.ok(sent.indexOf(MessageType.SYNC1) > 0)
    // and the session completes as before
    await wire.settle()
    assert.equal(text(joiner), 'held by the gateway')
    assert.ok(gateway.sync.isSyncedWith('joiner') && joiner.sync.isSyncedWith('gateway'))
    assert.deepEqual(gateway.engine.counters.ignored, {})
    assert.deepEqual(gateway.engine.counters.rejected, {})
  })

  it('an UPDATE that arrives with the HELLO on a resumed session is applied, not dropped', async () => {
    const a = side('a', 'shared')
    const b = side('b')
    const first = new Wire(b, a)
    await first.settle()
    assert.equal(text(b), 'shared')
    first.close() // both remember the other as in sync (same process epochs)

    const again = new Wire(b, a)
    // b remembers a: no early SYNC1 this time, sessions resume without a round
    assert.deepEqual(types(again.toListener), [MessageType.HELLO])
    again.deliver('listener') // a gets b's HELLO and resumes b's session
    await Promise.resolve()
    a.sync.doc.getText('t').insert(6, ' and edited')
    await Promise.resolve()
    await Promise.resolve()
    // a's HELLO and its UPDATE now reach b in one read
    assert.deepEqual(types(again.toDialer), [MessageType.HELLO, MessageType.UPDATE])
    again.deliver('dialer')
    assert.equal(text(b), 'shared and edited')
    assert.deepEqual(b.engine.counters.ignored, {}, 'nothing dropped as out of session')
    assert.ok(b.engine.counters.sessionsResumed >= 1 && a.engine.counters.sessionsResumed >= 1)
    await again.settle()
    assert.ok(a.sync.isSyncedWith('b'))
  })

  it('a doc we refused on this connection is offered with a SYNC1 when it opens, never resumed silently (fuzz seed 331)', async () => {
    const a = side('a', 'shared')
    const d = side('d')
    const first = new Wire(a, d)
    await first.settle()
    first.close() // both remember the other as in sync
    a.engine.removeDoc(a.sync) // a's app closes the doc while apart
    d.sync.doc.getText('t').insert(0, 'from d, ') // d changes: it will not resume, it asks
    const again = new Wire(a, d)
    await again.settle() // d's SYNC1 meets a closed doc: DENIED, and d ends its session
    assert.equal(d.sync.sessions.has('a'), false)
    a.sync = reopenEngineDoc(a.engine, a.sync) // a's app opens the doc again, unchanged since a left
    a.sync.doc.getText('t').insert(a.sync.doc.getText('t').length, ' and from a')
    await again.settle()
    assert.equal(text(a), text(d), 'both edits reach both sides')
    assert.equal(text(a), 'from d, shared and from a')
    assert.ok(a.sync.isSyncedWith('d') && d.sync.isSyncedWith('a'))
  })

  it('a peer that leaves while our last change is on its way hears of it on return, on a doc we serve only by key (CI flake of gateway-scale)', async () => {
    // The device leaves at an unlucky moment: the gateway has acknowledged
    // everything the device wrote (so the device will resume silently), but a
    // change that reached the gateway from elsewhere has not reached the device.
    const device = side('device', 'reading 1')
    const gateway = side('gateway')
    gateway.sync.servedOnly = true // opened for peers, offered only to peers known to hold it
    const first = new Wire(device, gateway)
    await first.settle()
    assert.equal(text(gateway), 'reading 1')
    gateway.sync.doc.getText('t').insert(0, 'from another device: ')
    await Promise.resolve()
    await Promise.resolve()
    first.close() // the UPDATE carrying that change is lost with the link
    const again = new Wire(device, gateway)
    await again.settle()
    assert.equal(text(device), 'from another device: reading 1', 'the change reaches the device after it returns')
    assert.ok(gateway.sync.isSyncedWith('device') && device.sync.isSyncedWith('gateway'))
  })

  it('a peer whose ACK overtook its own data is remembered as in sync, and resumes without a SYNC round (CI failure of gateway-scale)', async () => {
    // A device joins a gateway that serves the doc by key and holds nothing of it.
    // The device's link is busy, so its answer (its data) waits, while its ACK of
    // the gateway's empty answer goes out at once: the gateway reads the ACK,
    // naming the device's own client, before it holds that client at all.
    const device = side('device', 'reading 1')
    const gateway = side('gateway')
    gateway.sync.servedOnly = true
    const first = new Wire(device, gateway)
    first.toListener.writable = false // the device's answers wait for the link
    first.deliver('listener') // the device's HELLO and SYNC1
    await Promise.resolve()
    first.deliver('dialer') // the gateway's HELLO, empty SYNC2 and SYNC1
    await new Promise(resolve => setImmediate(resolve)) // the device's ACK goes out; its answer waits
    first.deliver('listener') // the ACK reaches the gateway first
    first.toListener.writable = true
    first.atDialer.drained() // now the answer
    await first.settle()
    assert.equal(text(gateway), 'reading 1')
    assert.ok(gateway.sync.isSyncedWith('device') && device.sync.isSyncedWith('gateway'))
    first.close()
    const again = new Wire(device, gateway)
    await again.settle()
    assert.equal(device.engine.counters.sessionsResumed, 1)
    assert.equal(gateway.engine.counters.sessionsResumed, 1, 'the gateway resumed too: it knew the device had stored exactly its state')
  })

  it('the empty delete-set digest constant is sha256([0x00]), and an empty doc hashes to it', () => {
    assert.deepEqual(EMPTY_DS_DIGEST, sha256(Uint8Array.of(0)).subarray(0, EMPTY_DS_DIGEST.length))
    const deleteSetDigest = (doc: Y.Doc): Uint8Array => digestOfDeleteRanges(deleteRangesOf(doc))
    assert.deepEqual(deleteSetDigest(new Y.Doc()), EMPTY_DS_DIGEST)
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'abc')
    assert.deepEqual(deleteSetDigest(doc), EMPTY_DS_DIGEST, 'inserts alone delete nothing')
    doc.getText('t').delete(0, 1)
    assert.notDeepEqual(deleteSetDigest(doc), EMPTY_DS_DIGEST)
  })

  it('the Node preset hashes digests with node:crypto, and gets the portable bytes', () => {
    const gen = prng.create(11)
    for (const len of [0, 1, 55, 64, 10_586, 200_000]) {
      const data = prng.uint8Array(gen, len)
      assert.deepEqual(Uint8Array.from(nodeSha256(data)), sha256(data), `${len} bytes`)
    }
    const doc = new Y.Doc()
    doc.getText('t').insert(0, 'abcdef')
    doc.getText('t').delete(1, 3)
    assert.deepEqual(digestOfDeleteRanges(deleteRangesOf(doc), nodeSha256), digestOfDeleteRanges(deleteRangesOf(doc)))
  })
})
