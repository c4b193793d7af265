/**
 * Opening a doc by key for a peer (lib/sync/doc-resolver.ts): a gateway that
 * serves stored docs opens them when a peer asks, and again when a returning
 * peer holds a doc that changed while it was closed. Both reasons share one
 * queue of waiting frames and one set of rules: when the open fails, every
 * peer that asked gets DENIED; frames past the queue's cap are counted and
 * repaired with a SYNC round, never dropped silently.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { encodeFrame } from '../lib/protocol/codec.js'
import { DeniedReason, EPOCH_BYTES, MessageType, Sync1Flags } from '../lib/protocol/constants.js'
import { docResolver, MAX_WAITING_FRAMES } from '../lib/sync/doc-resolver.js'
import { EngineDoc } from '../lib/sync/engine-doc.js'
import type { Limits } from '../lib/security/limits.js'
import { Awareness } from 'y-protocols/awareness'
import { SyncEngine } from '../lib/sync/engine.js'
import type { PeerConnection } from '../lib/sync/types.js'
import { engineDocKey, openEngineDoc } from './helpers/engine-doc.js'
import { HeldLink, Wire } from './helpers/hand-wire.js'

const DOC_ID = 'sensors/7/log'
const { key: KEY, keyHex: KEY_HEX } = engineDocKey(DOC_ID)

/** A resolveDoc whose result the test decides, and when. */
class ControlledOpen {
  calls = 0
  private settle: { resolve: (d: EngineDoc | undefined) => void, reject: (e: Error) => void } | undefined
  readonly fn = async (): Promise<EngineDoc | undefined> => {
    this.calls++
    return await new Promise((resolve, reject) => { this.settle = { resolve, reject } })
  }

  resolve (doc: EngineDoc | undefined): void { this.settle?.resolve(doc) }
  reject (err: Error): void { this.settle?.reject(err) }
}

/** A peer (driven by hand) that says HELLO and asks the gateway for the doc with an empty state vector. */
function asker (gateway: SyncEngine, id: string): { link: HeldLink, conn: PeerConnection } {
  const link = new HeldLink(true)
  const conn = gateway.addPeer(id, link)
  conn.receive(encodeFrame({ type: MessageType.HELLO, maxFrameBytes: 1 << 20, features: 0, epoch: new Uint8Array(EPOCH_BYTES) }))
  conn.receive(encodeFrame({ type: MessageType.SYNC1, docKey: KEY, flags: 0, stateVector: Y.encodeStateVector(new Y.Doc()), dsDigest: new Uint8Array(8) }))
  return { link, conn }
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }
const engines: SyncEngine[] = []
const opened: EngineDoc[] = []
function openDoc (e: SyncEngine): EngineDoc {
  const d = openEngineDoc(e, DOC_ID)
  opened.push(d)
  return d
}
function engine (opts: ConstructorParameters<typeof SyncEngine>[0] = {}): SyncEngine {
  const e = new SyncEngine({ antiEntropyIntervalMs: 0, ...opts })
  engines.push(e)
  return e
}

describe('opening docs by key for peers', () => {
  afterEach(() => {
    for (const e of engines.splice(0)) e.stop()
    // an Awareness runs an interval timer until destroyed
    for (const d of opened.splice(0)) d.awareness.destroy()
  })

  it('a failed reopen for a returning peer answers the SYNC1s queued behind it with DENIED', async () => {
    const open = new ControlledOpen()
    const gateway = engine({ docResolver: docResolver(open.fn) })
    const gwDoc = openDoc(gateway)
    gwDoc.doc.getText('t').insert(0, 'stored on the gateway')
    const sensor = engine()
    openDoc(sensor)

    // the sensor syncs, leaves; the doc changes and is closed on the gateway
    const first = new Wire(sensor, 'sensor', gateway, 'gateway')
    await first.settle()
    first.close()
    gwDoc.doc.getText('t').insert(0, 'changed, ')
    gateway.removeDoc(gwDoc)

    // the sensor comes back: the gateway reopens the doc for it (and the test holds the open)
    const again = new Wire(sensor, 'sensor', gateway, 'gateway')
    await again.settle()
    assert.equal(open.calls, 1, 'the returning peer made the gateway reopen the changed doc')

    // another peer asks for the same doc while it opens
    const { link: asking } = asker(gateway, 'asker')
    await tick()
    assert.equal(open.calls, 1, 'the SYNC1 waits behind the open already running')

    open.reject(new Error('disk unplugged'))
    await tick()
    const denied = asking.frames().filter(f => f.type === MessageType.DENIED)
    assert.equal(denied.length, 1, `the asker got an answer: ${JSON.stringify(asking.frames().map(f => f.type))}`)
    assert.equal(denied[0]!.type === MessageType.DENIED && denied[0]!.reason, DeniedReason.UNAVAILABLE)
  })

  it('frames past the waiting cap are counted, and the peer gets a repair round once the doc is open', async () => {
    const open = new ControlledOpen()
    const gateway = engine({ docResolver: docResolver(open.fn) })
    const { link, conn } = asker(gateway, 'chatty')
    // one edit per UPDATE, each depending on the one before
    const source = new Y.Doc()
    const updates: Uint8Array[] = []
    source.on('update', (u: Uint8Array) => { updates.push(u) })
    const total = MAX_WAITING_FRAMES + 10
    for (let i = 0; i < total; i++) source.getText('t').insert(i, 'x')
    updates.forEach((update, i) => { conn.receive(encodeFrame({ type: MessageType.UPDATE, docKey: KEY, seq: i + 1, update })) })
    await tick()
    assert.equal(open.calls, 1)
    const overflow = total + 1 - MAX_WAITING_FRAMES
    assert.equal(gateway.counters.ignored.open_queue_overflow, overflow, 'every frame that did not fit is counted')

    const served = openDoc(gateway)
    open.resolve(served)
    await tick()
    assert.equal(served.doc.getText('t').length, MAX_WAITING_FRAMES - 1, 'the frames that waited were applied in order')
    const sync1s = link.frames().filter(f => f.type === MessageType.SYNC1)
    assert.ok(sync1s.some(f => f.type === MessageType.SYNC1 && (f.flags & Sync1Flags.WANT_REPLY) !== 0),
      'the peer is asked for a two-way round, which brings back what overflowed')
    assert.ok(link.frames().some(f => f.type === MessageType.SYNC2), 'its SYNC1 was answered')
  })

  it('a doc closed again before its open finished is not served: the asker gets DENIED', async () => {
    const open = new ControlledOpen()
    const gateway = engine({ docResolver: docResolver(open.fn) })
    const { link } = asker(gateway, 'asker')
    await tick()
    const served = openDoc(gateway)
    gateway.removeDoc(served)
    open.resolve(served)
    await tick()
    const frames = link.frames()
    assert.ok(!frames.some(f => f.type === MessageType.SYNC2), 'nothing of the closed doc was served')
    assert.equal(frames.at(-1)?.type, MessageType.DENIED, 'the SYNC1 that waited is answered')
    assert.equal(KEY_HEX, engineDocKey(DOC_ID).keyHex)
  })
})

describe('no oracle: a peer that may see nothing learns nothing of what a gateway holds', () => {
  afterEach(() => {
    for (const e of engines.splice(0)) e.stop()
    for (const d of opened.splice(0)) d.awareness.destroy()
  })

  it('SYNC1s for a held doc and unknown ones (stored or not: the engine cannot tell before opening) are all refused at once, in the order asked, without opening anything', () => {
    const open = new ControlledOpen()
    // the attacker may see nothing; everyone else may read
    const gateway = engine({ docResolver: docResolver(open.fn), policy: (peer) => peer === 'prober' ? 'none' : 'read' })
    openDoc(gateway) // held and loaded: DOC_ID
    const unknown = engineDocKey('never/heard/of').key
    const link = new HeldLink(true)
    const conn = gateway.addPeer('prober', link)
    conn.receive(encodeFrame({ type: MessageType.HELLO, maxFrameBytes: 1 << 20, features: 0, epoch: new Uint8Array(EPOCH_BYTES) }))
    const ask = (docKey: Uint8Array): void => {
      conn.receive(encodeFrame({ type: MessageType.SYNC1, docKey, flags: 0, stateVector: Y.encodeStateVector(new Y.Doc()), dsDigest: new Uint8Array(8) }))
    }
    // unknown first, then the held doc: before, the held doc's DENIED overtook the
    // unknown one's (which waited for an open by key), 20 times of 20
    ask(unknown)
    ask(KEY)
    ask(unknown)
    const denied = link.frames().filter(f => f.type === MessageType.DENIED)
    assert.deepEqual(denied.map(f => f.type === MessageType.DENIED ? docKeyHexOf(f.docKey) : ''), [docKeyHexOf(unknown), KEY_HEX, docKeyHexOf(unknown)],
      'every DENIED is sent synchronously, in the order of the questions')
    assert.ok(denied.every(f => f.type === MessageType.DENIED && f.reason === DeniedReason.UNAVAILABLE))
    assert.equal(open.calls, 0, 'nothing is opened (or read from storage) for a peer that may see nothing')
  })
})

const docKeyHexOf = (key: Uint8Array): string => Buffer.from(key).toString('hex')

describe('what peers can make a gateway open is bounded before anything loads', () => {
  afterEach(() => {
    for (const e of engines.splice(0)) e.stop()
    for (const d of opened.splice(0)) d.awareness.destroy()
  })

  /** A gateway whose resolveDoc opens an empty doc for any key at once, counting the opens. */
  function servingGateway (limits: Partial<Limits>): { gateway: SyncEngine, opens: () => number } {
    let opens = 0
    const gateway: SyncEngine = engine({
      limits,
      docResolver: docResolver(async (_peer, keyHex) => {
        opens++
        await tick() // as a load from storage would
        const doc = new Y.Doc()
        const sync = new EngineDoc(`key:${keyHex}`, Uint8Array.from(Buffer.from(keyHex, 'hex')), keyHex, doc, new Awareness(doc), undefined)
        opened.push(sync)
        gateway.addDoc(sync)
        return sync
      })
    })
    return { gateway, opens: () => opens }
  }

  /** a fresh key each time, across probers */
  let nextKey = 0
  function prober (gateway: SyncEngine, id: string): { link: HeldLink, ask: (n: number) => void } {
    const link = new HeldLink(true)
    const conn = gateway.addPeer(id, link)
    conn.receive(encodeFrame({ type: MessageType.HELLO, maxFrameBytes: 1 << 20, features: 0, epoch: new Uint8Array(EPOCH_BYTES) }))
    const ask = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const docKey = engineDocKey(`${id}/random/${nextKey++}`).key
        conn.receive(encodeFrame({ type: MessageType.SYNC1, docKey, flags: 0, stateVector: Y.encodeStateVector(new Y.Doc()), dsDigest: new Uint8Array(8) }))
      }
    }
    return { link, ask }
  }

  const deniedCount = (link: HeldLink): number => link.frames().filter(f => f.type === MessageType.DENIED).length

  it('the node-wide cap on loaded docs: past it, SYNC1s for docs not open are refused and counted, whoever asks', async () => {
    const { gateway, opens } = servingGateway({ maxLoadedDocs: 5 })
    openDoc(gateway) // the app's own doc counts too
    const a = prober(gateway, 'a')
    a.ask(3)
    await tick()
    await tick()
    const b = prober(gateway, 'b')
    b.ask(3)
    await tick()
    await tick()
    assert.equal(opens(), 4, `four docs opened for peers beside the app doc: ${JSON.stringify(gateway.counters.rejected)} ${deniedCount(a.link)} ${deniedCount(b.link)}`)
    assert.equal(gateway.openDocs.length, 5)
    assert.equal(deniedCount(a.link) + deniedCount(b.link), 2)
    assert.equal(gateway.counters.rejected.loaded_docs_cap, 2)
  })

  it('the open rate per peer: a peer naming keys faster than its budget is refused past the burst, reconnected or not; another peer is not', async () => {
    const { gateway, opens } = servingGateway({ docOpensPerSecond: 1, docOpenBurst: 4 })
    const flood = prober(gateway, 'flood')
    flood.ask(50)
    await tick()
    await tick()
    assert.equal(opens(), 4)
    assert.equal(deniedCount(flood.link), 46)
    assert.equal(gateway.counters.rejected.open_rate, 46)
    // the same PeerId on a new connection: its open budget is still spent
    const again = prober(gateway, 'flood')
    again.ask(3)
    await tick()
    await tick()
    assert.equal(opens(), 4, 'reconnecting does not refill the open budget')
    assert.equal(deniedCount(again.link), 3)
    const honest = prober(gateway, 'honest')
    honest.ask(2)
    await tick()
    await tick()
    assert.equal(opens(), 6, 'another peer has a budget of its own')
    assert.equal(deniedCount(honest.link), 0)
  })
})
