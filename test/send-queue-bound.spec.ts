/**
 * Issue 13, "Outgoing": what is queued for a peer is bounded in bytes
 * (`maxQueuedBytesPerPeer`). A peer that stops reading while it makes the
 * node send DENIEDs, awareness relays or ACKs is closed with `slow_consumer`
 * once its queue would pass the bound; everyone else keeps syncing. Answers
 * and UPDATEs, which wait for a writable link, do not count, so a joiner
 * receiving a document bigger than the bound is not closed for the small
 * frames queued behind it.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { decodeFrame, encodeFrame, type Frame } from '../lib/protocol/codec.js'
import { ByeReason, MessageType } from '../lib/protocol/constants.js'
import type { EngineDoc } from '../lib/sync/engine-doc.js'
import { SyncEngine } from '../lib/sync/engine.js'
import type { PeerConnection, PeerLink } from '../lib/sync/types.js'
import { openEngineDoc } from './helpers/engine-doc.js'
import { hello } from './helpers/hostile-peer.js'
import * as prng from 'lib0/prng'
import { randomDocKey } from './helpers/hostile-payloads.js'

const KiB = 1024
const BOUND = 64 * KiB

/**
 * A link that tells what it has queued. A reader's queue drains at once; a
 * peer that does not read keeps everything, and stops being writable once a
 * window's worth is queued, as a yamux stream does.
 */
class QueueLink implements PeerLink {
  readonly frames: Frame[] = []
  queuedBytes = 0
  /** the most ever queued */
  peak = 0
  closed = false
  constructor (private readonly reads: boolean) {}
  get writable (): boolean { return !this.closed && this.queuedBytes < 16 * KiB }
  send (body: Uint8Array): void {
    this.frames.push(decodeFrame(body))
    if (!this.reads) this.queuedBytes += body.length
    this.peak = Math.max(this.peak, this.queuedBytes)
  }

  close (): void { this.closed = true }
  count (type: number): number { return this.frames.filter(f => f.type === type).length }
  get bye (): Frame | undefined { return this.frames.find(f => f.type === MessageType.BYE) }
}

interface Peer { conn: PeerConnection, link: QueueLink, send: (f: Frame) => void }

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }
const emptySv = Y.encodeStateVector(new Y.Doc())
const sync1 = (docKey: Uint8Array, sv = emptySv): Frame => ({ type: MessageType.SYNC1, docKey, flags: 0, stateVector: sv, dsDigest: new Uint8Array(8) })

/** a seeded source of doc keys nobody holds */
function randomKeys (seed: number): () => Uint8Array {
  const gen = prng.create(seed)
  return () => randomDocKey(gen)
}

describe('a byte bound on what is queued for each peer', () => {
  let engine: SyncEngine
  let sync: EngineDoc
  beforeEach(() => {
    engine = new SyncEngine({ antiEntropyIntervalMs: 0, limits: { maxQueuedBytesPerPeer: BOUND } })
    sync = openEngineDoc(engine, 'plant/line-1')
  })
  afterEach(() => {
    engine.stop()
    sync.awareness.destroy()
  })

  function connect (id: string, reads: boolean): Peer {
    const link = new QueueLink(reads)
    const conn = engine.addPeer(id, link)
    conn.receive(encodeFrame(hello))
    return { conn, link, send: (f) => { conn.receive(encodeFrame(f)) } }
  }

  /** A peer that reads, holding the doc and in sync with it. */
  async function honestPeer (): Promise<{ peer: Peer, replica: Y.Doc }> {
    const peer = connect('honest', true)
    const replica = new Y.Doc()
    peer.send(sync1(sync.key))
    await tick()
    for (const f of peer.link.frames) if (f.type === MessageType.SYNC2 || f.type === MessageType.UPDATE) Y.applyUpdate(replica, f.update)
    return { peer, replica }
  }

  function applyUpdates (peer: Peer, replica: Y.Doc, from: number): void {
    for (const f of peer.link.frames.slice(from)) if (f.type === MessageType.UPDATE) Y.applyUpdate(replica, f.update)
  }

  it('a peer that does not read and floods SYNC1s for unknown docs is closed once its DENIEDs pass the bound; an honest peer keeps syncing', async () => {
    const { peer: honest, replica } = await honestPeer()
    const flooder = connect('flooder', false)
    await tick()
    const nextKey = randomKeys(13)
    let sent = 0
    for (let read = 0; read < 100 && !flooder.link.closed; read++) {
      for (let i = 0; i < 100; i++, sent++) flooder.send(sync1(nextKey()))
      await tick()
    }
    const denied = flooder.link.count(MessageType.DENIED)
    assert.equal(flooder.link.closed, true, `closed after ${sent} SYNC1s (${denied} DENIEDs, ${flooder.link.queuedBytes} B queued)`)
    const bye = flooder.link.bye
    assert.ok(bye !== undefined && bye.type === MessageType.BYE && bye.reason === ByeReason.SLOW_CONSUMER, `BYE slow_consumer: ${JSON.stringify(bye)}`)
    assert.equal(engine.counters.rejected.slow_consumer, 1)
    // closed at the bound, not long after it: the BYE alone may go past it
    const byeBytes = encodeFrame(bye).length
    assert.ok(flooder.link.peak - byeBytes <= BOUND && flooder.link.peak - byeBytes > BOUND - 64, `queued ${flooder.link.peak} B against a bound of ${BOUND} B`)
    assert.ok(sent < 5000, `closed within a few thousand SYNC1s, not ${sent}`)

    const mark = honest.link.frames.length
    sync.doc.getText('t').insert(0, 'after the flood')
    await tick()
    applyUpdates(honest, replica, mark)
    assert.equal(honest.link.closed, false)
    assert.equal(replica.getText('t').toString(), 'after the flood')
  })

  it('a peer that does not read is closed once the presence changes relayed to it pass the bound', async () => {
    const { peer: honest } = await honestPeer()
    const watcher = connect('watcher', false)
    watcher.send(sync1(sync.key))
    await tick()
    let changes = 0
    while (!watcher.link.closed && changes < 10_000) {
      sync.awareness.setLocalStateField('cursor', { line: ++changes, note: 'x'.repeat(200) })
    }
    assert.equal(watcher.link.closed, true, `closed after ${changes} presence changes`)
    assert.equal(engine.counters.rejected.slow_consumer, 1)
    assert.ok(watcher.link.peak <= BOUND + 1024, `queued ${watcher.link.peak} B`)
    assert.equal(honest.link.closed, false)
    assert.ok(honest.link.count(MessageType.AWARENESS) >= changes, 'the honest peer heard every change')
  })

  it('a peer that does not read is closed once the ACKs for its own updates pass the bound', async () => {
    const writer = connect('writer', false)
    writer.send(sync1(sync.key))
    await tick()
    const source = new Y.Doc()
    let seq = 0
    let last = Y.encodeStateVector(source)
    while (!writer.link.closed && seq < 20_000) {
      source.getArray('a').push([seq])
      const update = Y.encodeStateAsUpdate(source, last)
      last = Y.encodeStateVector(source)
      writer.send({ type: MessageType.UPDATE, docKey: sync.key, seq: ++seq, update })
      await tick()
    }
    assert.equal(writer.link.closed, true, `closed after ${seq} updates (${writer.link.count(MessageType.ACK)} ACKs)`)
    assert.equal(engine.counters.rejected.slow_consumer, 1)
  })

  it('a joiner that receives a document bigger than the bound is not closed for what is queued behind it', async () => {
    const text = sync.doc.getText('t')
    const line = 'y'.repeat(1023) + '\n'
    sync.doc.transact(() => { for (let i = 0; i < 4 * BOUND / KiB; i++) text.insert(text.length, line) })
    const joiner = connect('joiner', false)
    joiner.send(sync1(sync.key))
    await tick()
    assert.ok(joiner.link.queuedBytes > 4 * BOUND, `the whole doc is queued: ${joiner.link.queuedBytes} B`)
    // small frames behind the answer while the joiner reads it slowly: presence, ACKs of its updates
    for (let i = 0; i < 50; i++) sync.awareness.setLocalStateField('cursor', { line: i })
    const source = new Y.Doc()
    source.getArray('a').push(['hello'])
    joiner.send({ type: MessageType.UPDATE, docKey: sync.key, seq: 1, update: Y.encodeStateAsUpdate(source) })
    await tick()
    assert.equal(joiner.link.closed, false, `not closed: ${JSON.stringify(engine.counters.rejected)}`)
    assert.equal(joiner.link.count(MessageType.ACK), 1)
    assert.equal(engine.counters.rejected.slow_consumer, undefined)
  })
})
