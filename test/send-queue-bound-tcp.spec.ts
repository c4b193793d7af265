/**
 * Issue 13, "Outgoing", over real libp2p (TCP + Noise + yamux), with the
 * victim in its own process so that its memory is measured alone. An attacker
 * opens the sync stream, says HELLO, stops reading, and sends SYNC1s for
 * random doc keys within its frame rate limit: each is answered by a DENIED,
 * which waits in the victim's queues once the victim's yamux send window is
 * spent. The victim closes it once those pass `maxQueuedBytesPerPeer` (set
 * small here); before the bound, they piled up for as long as it kept asking.
 */
import assert from 'node:assert/strict'
import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import * as Y from 'yjs'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'
import { createMeshNode, PROTOCOL_ID, type MeshNode } from '../adapters/presets/node.js'
import { encodeFrame, type Frame } from '../lib/protocol/codec.js'
import { DeniedReason, MessageType, OUR_FEATURES } from '../lib/protocol/constants.js'
import { lengthPrefix } from '../lib/protocol/framing.js'
import { ChildNode } from './helpers/child-node-client.js'
import * as prng from 'lib0/prng'
import { randomDocKey } from './helpers/hostile-payloads.js'

const DOC = 'plant/line-7'
const KiB = 1024
const MiB = 1024 * KiB
const BOUND = 256 * KiB
/** yamux's initial stream window: what the victim sends before the attacker's silence holds it back */
const YAMUX_WINDOW = 256 * KiB
/** SYNC1s per 100 ms: 9,000/s, under the default 10,000 frames/s */
const PER_BATCH = 900

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function waitFor (what: string, check: () => boolean, ms: number): Promise<void> {
  const until = performance.now() + ms
  while (!check()) {
    if (performance.now() > until) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(20)
  }
}

/** a seeded source of doc keys nobody holds */
function randomKeys (seed: number): () => Uint8Array {
  const gen = prng.create(seed)
  return () => randomDocKey(gen)
}

describe('a byte bound on what is queued for each peer, over real libp2p with the victim in its own process', function () {
  this.timeout(30_000)
  let victim: ChildNode | undefined
  let attacker: Libp2p | undefined
  let honest: MeshNode | undefined
  afterEach(async () => {
    await attacker?.stop()
    await honest?.stop()
    await victim?.kill()
    attacker = undefined
    honest = undefined
    victim = undefined
  })

  it('a peer that stops reading and floods SYNC1s for unknown docs is closed soon after its DENIEDs pass the bound; an honest peer keeps syncing', async () => {
    victim = new ChildNode('victim')
    const { multiaddrs } = await victim.request('start', { listen: ['/ip4/127.0.0.1/tcp/0'], limits: { maxQueuedBytesPerPeer: BOUND } })
    await victim.request('open', { doc: DOC })
    await victim.request('edit', { doc: DOC, edits: [{ type: 'map-set', name: 'm', key: 'before', value: 1 }] })

    honest = await createMeshNode({ listen: [] })
    await honest.dial(multiaddrs[0]!)
    const h = await honest.open(DOC)
    await h.whenSynced({ timeout: 10_000 })
    assert.equal(h.doc.getMap('m').get('before'), 1)

    attacker = await createDefaultLibp2p()
    await attacker.start()
    const stream: Stream = await attacker.dialProtocol(multiaddr(multiaddrs[0]!), PROTOCOL_ID)
    stream.pause() // read nothing: yamux stops granting the victim window
    stream.send(lengthPrefix(encodeFrame({ type: MessageType.HELLO, maxFrameBytes: 16 * MiB, features: 0, epoch: new Uint8Array(8).fill(7) })))

    const nextKey = randomKeys(7)
    const denied: Frame = { type: MessageType.DENIED, docKey: nextKey(), reason: DeniedReason.UNAVAILABLE }
    // past this many SYNC1s, the DENIEDs have spent the window and passed the bound
    const crossAt = Math.ceil((YAMUX_WINDOW + BOUND) / lengthPrefix(encodeFrame(denied)).length)
    const started = performance.now()
    let sent = 0
    let crossedAt: number | undefined
    const stop = new AbortController()
    const flood = (async () => {
      const emptySv = Y.encodeStateVector(new Y.Doc())
      while (!stop.signal.aborted && stream.writeStatus === 'writable') {
        for (let i = 0; i < PER_BATCH; i++, sent++) {
          stream.send(lengthPrefix(encodeFrame({ type: MessageType.SYNC1, docKey: nextKey(), flags: 0, stateVector: emptySv, dsDigest: new Uint8Array(8) })))
        }
        if (crossedAt === undefined && sent >= crossAt) crossedAt = performance.now()
        await sleep(100)
      }
    })().catch(() => {}) // the stream may be reset under a send

    try {
      // measured once the flood runs (before the DENIEDs have spent the window): the
      // victim's RSS also holds what handling a flood takes, whatever it queues
      await sleep(1000)
      assert.ok(crossedAt === undefined, 'the bound is not crossed yet')
      const before = await victim.request('health', {})
      // the honest peer hears the victim's edits meanwhile
      await victim.request('edit', { doc: DOC, edits: [{ type: 'map-set', name: 'm', key: 'during', value: 2 }] })
      await waitFor('the honest peer receives an edit during the flood', () => h.doc.getMap('m').get('during') === 2, 5000)

      let during = await victim.request('health', {})
      while ((during.stats.rejected.slow_consumer ?? 0) === 0 && performance.now() - started < 12_000) {
        await sleep(100)
        during = await victim.request('health', {})
      }
      const closedAt = performance.now()
      stop.abort()
      const grew = during.rss - before.rss
      console.log(`      ${sent} SYNC1s in ${((closedAt - started) / 1000).toFixed(1)} s (the bound is crossed at about ${crossAt});` +
        ` victim RSS ${(before.rss / MiB).toFixed(0)} -> ${(during.rss / MiB).toFixed(0)} MiB, heap ${(before.heapUsed / MiB).toFixed(0)} -> ${(during.heapUsed / MiB).toFixed(0)} MiB; rejected ${JSON.stringify(during.stats.rejected)}`)
      assert.equal(during.stats.rejected.slow_consumer, 1, `the attacker was closed as a slow consumer: ${JSON.stringify(during.stats.rejected)}`)
      assert.equal(during.stats.rejected.rate_limited, undefined, 'the attacker stayed within its frame rate')
      assert.ok(crossedAt !== undefined && closedAt - crossedAt < 3000, `closed ${crossedAt === undefined ? 'before' : `${(closedAt - crossedAt).toFixed(0)} ms after`} the bound was crossed`)
      assert.ok(during.heapUsed - before.heapUsed < 8 * MiB, `victim heap grew ${((during.heapUsed - before.heapUsed) / MiB).toFixed(1)} MiB`)
      assert.ok(grew < 16 * MiB, `victim RSS grew ${(grew / MiB).toFixed(1)} MiB`)
      await waitFor('the attacker\'s stream is closed', () => stream.status !== 'open', 5000)

      // the honest peer is still connected and syncing, both ways
      h.doc.getMap('m').set('after', 3)
      const expected = Buffer.from(Y.encodeStateAsUpdate(h.doc)).toString('base64')
      await victim.request('waitForState', { doc: DOC, update: expected, timeout: 5000 })
      assert.ok((await victim.request('peers', {})).includes(honest.peerId), 'the honest peer is still connected')
    } finally {
      stop.abort()
      await flood
    }
  })
  describe('a peer that reads nothing of what waits for it is closed after `writeStallMs`, under any byte bound', () => {
    const STALL_MS = 1000
    const BIG = 'plant/historian'

    /** The victim with a doc of `mib` MiB; the attacker's stream asks for it, then reads as `read` says. */
    async function askFor (read: (stream: Stream) => void, mib = 2): Promise<{ stream: Stream, started: number }> {
      victim = new ChildNode('victim')
      const { multiaddrs } = await victim.request('start', { listen: ['/ip4/127.0.0.1/tcp/0'], limits: { writeStallMs: STALL_MS } })
      await victim.request('open', { doc: BIG })
      for (let i = 0; i < 2 * mib; i++) await victim.request('edit', { doc: BIG, edits: [{ type: 'text-insert', name: 't', index: 0, text: ('y'.repeat(1023) + '\n').repeat(512) }] })
      attacker = await createDefaultLibp2p()
      await attacker.start()
      const stream: Stream = await attacker.dialProtocol(multiaddr(multiaddrs[0]!), PROTOCOL_ID)
      read(stream)
      // it takes answers in parts, as meshdoc nodes do
      stream.send(lengthPrefix(encodeFrame({ type: MessageType.HELLO, maxFrameBytes: 16 * MiB, features: OUR_FEATURES, epoch: new Uint8Array(8).fill(7) })))
      const { docKeyFor } = await import('../lib/protocol/doc-key.js')
      stream.send(lengthPrefix(encodeFrame({ type: MessageType.SYNC1, docKey: docKeyFor(BIG), flags: 0, stateVector: Y.encodeStateVector(new Y.Doc()), dsDigest: new Uint8Array(8) })))
      return { stream, started: performance.now() }
    }

    it('a reader that asks for a 2 MiB doc and never reads the answer is closed (slow_consumer) within a few stall periods', async () => {
      const { stream, started } = await askFor(s => { s.pause() })
      let h = await victim!.request('health', {})
      while ((h.stats.rejected.slow_consumer ?? 0) === 0 && performance.now() - started < 10_000) {
        await sleep(100)
        h = await victim!.request('health', {})
      }
      const after = performance.now() - started
      assert.equal(h.stats.rejected.slow_consumer, 1, JSON.stringify(h.stats.rejected))
      assert.ok(after >= STALL_MS && after < 3 * STALL_MS + 1000, `closed ${after.toFixed(0)} ms after it asked`)
      await waitFor('the attacker\'s stream is closed', () => stream.status !== 'open', 5000)
    })

    it('a slow reader, which takes a little of a 24 MiB answer every half period, is not closed', async () => {
      let received = 0
      const { started } = await askFor((s) => {
        s.addEventListener('message', (evt) => { received += evt.data.byteLength })
        s.pause()
        // a trickle: reads for one turn of the event loop every STALL_MS / 2
        const trickle = setInterval(() => {
          if (s.status !== 'open') { clearInterval(trickle); return }
          s.resume()
          setImmediate(() => { if (s.status === 'open') s.pause() })
        }, STALL_MS / 2)
      }, 24)
      // well past several stall periods with the answer still on its way
      await sleep(4 * STALL_MS)
      const h = await victim!.request('health', {})
      assert.equal(h.stats.rejected.slow_consumer, undefined, `closed a reader that reads: ${JSON.stringify(h.stats.rejected)} after ${received} B`)
      assert.ok(received > 0 && received < 24 * MiB, `the answer is still on its way (${received} B in ${((performance.now() - started) / 1000).toFixed(1)} s)`)
    })
  })
})
