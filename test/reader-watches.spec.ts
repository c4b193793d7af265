/**
 * A reader that asks a gateway serving by key for docs it holds nothing of
 * (lib/sync/doc-resolver.ts, "watches"): the gateway loads each, finds it
 * empty, answers with an empty SYNC2 and releases it again, so that naming
 * random keys costs a watch, not a loaded doc. The reader still hears of the
 * doc as soon as someone writes it; watches count against its docs cap; a
 * writer, or a doc that holds something, takes the usual path.
 *
 * The gateway is a real ServingRepo (`serveByKey`, as the Node preset and
 * `meshdoc gateway` build it) over a MemoryStorageAdapter; peers are engines
 * wired to it by hand, so every frame can be seen.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { MemoryStorageAdapter } from '../adapters/memory-storage/index.js'
import { encodeFrame } from '../lib/protocol/codec.js'
import { EPOCH_BYTES, MessageType } from '../lib/protocol/constants.js'
import { docKeyFor } from '../lib/protocol/doc-key.js'
import { serveByKey, type ServingRepo } from '../lib/serving-repo.js'
import type { EngineDoc } from '../lib/sync/engine-doc.js'
import { SyncEngine } from '../lib/sync/engine.js'
import { openEngineDoc } from './helpers/engine-doc.js'
import { HeldLink, Wire } from './helpers/hand-wire.js'

const engines: SyncEngine[] = []
const docs: EngineDoc[] = []
const repos: ServingRepo[] = []

function gateway (opts: { maxDocsPerPeer?: number } = {}): { engine: SyncEngine, repo: ServingRepo, storage: MemoryStorageAdapter } {
  const serving = serveByKey()
  const engine = new SyncEngine({
    antiEntropyIntervalMs: 0,
    ...serving.engine,
    limits: opts.maxDocsPerPeer !== undefined ? { maxDocsPerPeer: opts.maxDocsPerPeer } : {},
    policy: (peer) => peer.startsWith('writer') ? 'write' : 'read'
  })
  const storage = new MemoryStorageAdapter()
  const repo = serving.repo({ engine, storage, idleUnloadMs: 60_000 }) as ServingRepo
  engines.push(engine)
  repos.push(repo)
  return { engine, repo, storage }
}

function device (): SyncEngine {
  const e = new SyncEngine({ antiEntropyIntervalMs: 0 })
  engines.push(e)
  return e
}

function open (e: SyncEngine, id: string): EngineDoc {
  const d = openEngineDoc(e, id)
  docs.push(d)
  return d
}

describe('a reader asking a gateway for docs it holds nothing of (watches)', () => {
  afterEach(async () => {
    for (const e of engines.splice(0)) e.stop()
    for (const r of repos.splice(0)) await r.stop()
    for (const d of docs.splice(0)) d.awareness.destroy()
  })

  it('500 random keys named by a reader: answered with empty SYNC2s, no doc built or loaded', async () => {
    const gw = gateway()
    // nothing stored under these keys: no doc is even built for them
    let built = 0
    const addDoc = gw.engine.addDoc.bind(gw.engine)
    gw.engine.addDoc = (doc) => { built++; addDoc(doc) }
    const reader = device()
    const mine = Array.from({ length: 500 }, (_, i) => open(reader, `nowhere/${i}`))
    const wire = new Wire(reader, 'reader', gw.engine, 'gateway')
    await wire.settle(5)
    const answers = wire.toA.frames().filter(f => f.type === MessageType.SYNC2)
    assert.equal(answers.length, 500, 'every question is answered')
    assert.ok(answers.every(f => f.type === MessageType.SYNC2 && f.seq === 0 && f.update.length === 2), 'with an empty SYNC2 of seq 0')
    assert.equal(gw.engine.openDocs.length, 0, 'no doc stays open on the gateway')
    assert.equal(built, 0, 'none was built')
    assert.equal(gw.repo.servedCount, 0)
    assert.equal(wire.toA.frames().filter(f => f.type === MessageType.DENIED).length, 0, 'nothing refused')
    assert.equal(gw.engine.counters.ignored.sync1_watched, 500)
    // nothing written to storage for a doc nobody wrote
    assert.equal((await gw.storage.loadRange([])).length, 0)
    // asked again (anti-entropy): answered from the watch, nothing loaded
    reader.runAntiEntropy({ full: true })
    await wire.settle(5)
    assert.ok(gw.engine.counters.ignored.sync1_watched >= 1000, `${gw.engine.counters.ignored.sync1_watched}`)
    assert.equal(gw.engine.openDocs.length, 0)
    assert.equal(mine.length, 500)
  })

  it('a watched doc that a writer then creates reaches the reader, and stays a normal session after', async () => {
    const gw = gateway()
    const reader = device()
    const writer = device()
    const seen = open(reader, 'plant/line-1')
    const readerWire = new Wire(reader, 'reader', gw.engine, 'gateway')
    await readerWire.settle(5)
    assert.equal(gw.engine.openDocs.length, 0, 'empty and asked for by a reader only: released')

    const written = open(writer, 'plant/line-1')
    written.doc.getText('t').insert(0, 'first reading')
    const writerWire = new Wire(writer, 'writer', gw.engine, 'gateway')
    await writerWire.settle(5)
    await readerWire.settle(5)
    await writerWire.settle(5)
    await readerWire.settle(5)
    assert.equal(seen.doc.getText('t').toString(), 'first reading', 'the reader heard of it without asking again')

    // from now on it is an ordinary session: later writes are forwarded
    written.doc.getText('t').insert(0, 'second, ')
    await writerWire.settle(5)
    await readerWire.settle(5)
    assert.equal(seen.doc.getText('t').toString(), 'second, first reading')
  })

  it('a reader of a doc nobody wrote is in sync with the gateway; one that wrote meanwhile is refused read_only, as in a session', async () => {
    const gw = gateway()
    const reader = device()
    const quiet = open(reader, 'empty/quiet')
    const typing = open(reader, 'empty/typing')
    const wire = new Wire(reader, 'reader', gw.engine, 'gateway')
    // its SYNC1 left naming no client; it writes before the answer comes
    typing.doc.getText('t').insert(0, 'not allowed')
    await wire.settle(5)
    await wire.settle(5)
    assert.equal(quiet.isSyncedWith('gateway'), true, 'the reader of an empty doc knows it is up to date')
    assert.equal(gw.engine.openDocs.length, 1, 'the doc the reader wrote is open: its write is answered in a session')
    const denied = wire.toA.frames().filter(f => f.type === MessageType.DENIED)
    assert.equal(denied.length, 1)
    assert.equal(gw.engine.counters.rejected.forbidden, 1)
    assert.equal(gw.engine.openDocs[0]!.doc.getText('t').toString(), '', 'nothing of the refused write is applied')
  })

  it('watches count against the per-peer docs cap: 20 keys, cap 8, 8 watched, 12 refused', async () => {
    const gw = gateway({ maxDocsPerPeer: 8 })
    const reader = device()
    for (let i = 0; i < 20; i++) open(reader, `scan/${i}`)
    const wire = new Wire(reader, 'reader', gw.engine, 'gateway')
    await wire.settle(5)
    const denied = wire.toA.frames().filter(f => f.type === MessageType.DENIED)
    const answered = wire.toA.frames().filter(f => f.type === MessageType.SYNC2)
    assert.equal(answered.length, 8)
    assert.equal(denied.length, 12)
    assert.equal(gw.engine.counters.rejected.too_many_docs, 12)
    assert.equal(gw.engine.openDocs.length, 0)
  })

  it('a writer asking for an empty doc, and a reader asking for a stored one, take the usual path', async () => {
    const gw = gateway()
    // stored before: a doc with content, opened by key when asked
    const author = device()
    const stored = open(author, 'stored/doc')
    stored.doc.getText('t').insert(0, 'kept')
    const authorWire = new Wire(author, 'writer-0', gw.engine, 'gateway')
    await authorWire.settle(5)

    const writer = device()
    open(writer, 'empty/for-a-writer')
    const writerWire = new Wire(writer, 'writer-1', gw.engine, 'gateway')
    await writerWire.settle(5)
    const keyHexOf = (id: string): string => Buffer.from(docKeyFor(id)).toString('hex')
    const openKeys = new Set(gw.engine.openDocs.map(d => d.keyHex))
    assert.ok(openKeys.has(keyHexOf('empty/for-a-writer')), 'a writer holds a session on the empty doc: it may write it next')

    const reader = device()
    const got = open(reader, 'stored/doc')
    const readerWire = new Wire(reader, 'reader', gw.engine, 'gateway')
    await readerWire.settle(5)
    assert.equal(got.doc.getText('t').toString(), 'kept')
    assert.ok(readerWire.toA.frames().some(f => f.type === MessageType.SYNC2 && f.seq > 0), 'answered in a session')
  })

  it('a watch ends with its peer: a doc created after the reader left is not offered to anyone', async () => {
    const gw = gateway()
    // a reader driven by hand, so that it can leave without a trace
    const link = new HeldLink(true)
    const conn = gw.engine.addPeer('reader', link)
    conn.receive(encodeFrame({ type: MessageType.HELLO, maxFrameBytes: 1 << 20, features: 0, epoch: new Uint8Array(EPOCH_BYTES) }))
    const key = docKeyFor('later/doc')
    conn.receive(encodeFrame({ type: MessageType.SYNC1, docKey: key, flags: 0, stateVector: Y.encodeStateVector(new Y.Doc()), dsDigest: new Uint8Array(8) }))
    for (let i = 0; i < 20 && !link.frames().some(f => f.type === MessageType.SYNC2); i++) await new Promise(resolve => setTimeout(resolve, 5))
    assert.ok(link.frames().some(f => f.type === MessageType.SYNC2 && f.seq === 0))
    const asked = link.frames().filter(f => f.type === MessageType.SYNC1).length
    conn.closed()
    const writer = device()
    open(writer, 'later/doc').doc.getText('t').insert(0, 'x')
    const wire = new Wire(writer, 'writer', gw.engine, 'gateway')
    await wire.settle(5)
    assert.equal(link.frames().filter(f => f.type === MessageType.SYNC1).length, asked, 'the gone reader is not asked')
  })
})
