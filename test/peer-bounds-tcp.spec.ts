/**
 * The SYNC1 flood of issue 13 over real libp2p (TCP + Noise + yamux), with
 * the victim in its own process so that its memory is measured alone: a
 * reader stops reading its stream and sends hundreds of tiny SYNC1s for a
 * 2 MiB document. Before answers were bounded, every SYNC1 queued a whole
 * answer (about 1 GB queued, RSS +1.4 GB in 3.5 s).
 */
import assert from 'node:assert/strict'
import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import * as Y from 'yjs'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'
import { createMeshNode, PROTOCOL_ID } from '../adapters/presets/node.js'
import { encodeFrame } from '../lib/protocol/codec.js'
import { MessageType } from '../lib/protocol/constants.js'
import { docKeyFor } from '../lib/protocol/doc-key.js'
import { lengthPrefix } from '../lib/protocol/framing.js'
import { ChildNode } from './helpers/child-node-client.js'

const DOC = 'plant/historian'
const MiB = 1024 * 1024

describe('bounded per peer, over real libp2p with the victim in its own process', function () {
  this.timeout(60_000)
  let victim: ChildNode | undefined
  let attacker: Libp2p | undefined
  afterEach(async () => {
    await attacker?.stop()
    await victim?.kill()
    attacker = undefined
    victim = undefined
  })

  it('a reader that stops reading and floods SYNC1s for a 2 MiB doc costs the victim one answer, and an honest peer still syncs', async () => {
    victim = new ChildNode('victim')
    const { multiaddrs } = await victim.request('start', { listen: ['/ip4/127.0.0.1/tcp/0'] })
    await victim.request('open', { doc: DOC })
    const line = 'y'.repeat(1023) + '\n'
    for (let i = 0; i < 4; i++) {
      await victim.request('edit', { doc: DOC, edits: [{ type: 'text-insert', name: 't', index: 0, text: line.repeat(512) }] })
    }
    const before = await victim.request('health', {})

    attacker = await createDefaultLibp2p()
    await attacker.start()
    const stream: Stream = await attacker.dialProtocol(multiaddr(multiaddrs[0]), PROTOCOL_ID)
    stream.pause() // read nothing: yamux stops granting the victim window
    const key = docKeyFor(DOC)
    stream.send(lengthPrefix(encodeFrame({ type: MessageType.HELLO, maxFrameBytes: 16 * MiB, features: 0, epoch: new Uint8Array(8).fill(3) })))
    const empty = Y.encodeStateVector(new Y.Doc())
    for (let i = 0; i < 300; i++) {
      stream.send(lengthPrefix(encodeFrame({ type: MessageType.SYNC1, docKey: key, flags: 0, stateVector: empty, dsDigest: new Uint8Array(8) })))
      if (i % 10 === 9) await new Promise(resolve => setTimeout(resolve, 10))
    }
    await new Promise(resolve => setTimeout(resolve, 1500))
    const during = await victim.request('health', {})
    const grew = during.rss - before.rss
    console.log(`      victim RSS ${(before.rss / MiB).toFixed(0)} -> ${(during.rss / MiB).toFixed(0)} MiB; ignored ${JSON.stringify(during.stats.ignored)}`)
    assert.ok(grew < 64 * MiB, `victim RSS grew ${(grew / MiB).toFixed(1)} MiB (before ${(before.rss / MiB).toFixed(0)} MiB)`)
    assert.ok((during.stats.ignored.sync1_coalesced ?? 0) > 0, `the waiting SYNC1s were coalesced: ${JSON.stringify(during.stats.ignored)}`)

    // an honest device still syncs with the victim while the attacker hangs on
    const honest = await createMeshNode({ listen: [] })
    try {
      await honest.dial(multiaddrs[0]!)
      const h = await honest.open(DOC)
      await h.whenSynced({ timeout: 15_000 })
      assert.equal(h.doc.getText('t').length, 4 * 512 * 1024)
    } finally {
      await honest.stop()
    }
  })
})
