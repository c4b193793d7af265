import assert from 'node:assert/strict'
import * as encoding from 'lib0/encoding'
import { createMeshNode, PROTOCOL_ID, type MeshNode } from '../adapters/presets/node.js'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'
import { encodeFrame } from '../lib/protocol/codec.js'
import { lengthPrefix } from '../lib/protocol/framing.js'
import { MessageType } from '../lib/protocol/constants.js'
import { docKeyFor } from '../lib/protocol/doc-key.js'
import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'

/** A raw libp2p peer that speaks our protocol id but sends whatever the test wants. */
async function rawStream (target: MeshNode): Promise<{ raw: Libp2p, stream: Stream, closed: Promise<void> }> {
  const raw = await createDefaultLibp2p()
  await raw.start()
  const stream = await raw.dialProtocol(multiaddr(target.multiaddrs[0]), PROTOCOL_ID)
  const closed = new Promise<void>(resolve => { stream.addEventListener('close', () => { resolve() }) })
  return { raw, stream, closed }
}

const hello = lengthPrefix(encodeFrame({ type: MessageType.HELLO, maxFrameBytes: 1 << 20, features: 0, epoch: new Uint8Array(8).fill(2) }))

describe('hostile frames on a real stream', function () {
  let target: MeshNode
  beforeEach(async () => {
    target = await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const h = await target.open('doc')
    h.doc.getText('t').insert(0, 'precious')
  })
  afterEach(async () => { await target.stop() })

  const cases: Array<[string, () => Uint8Array, string]> = [
    ['a 100 MB length prefix', () => { const e = encoding.createEncoder(); encoding.writeVarUint(e, 100 * 1024 * 1024); return encoding.toUint8Array(e) }, 'frame_too_large'],
    ['garbage before HELLO', () => lengthPrefix(new Uint8Array([1, 3, 9, 9, 9])), 'protocol_error'],
    ['an unknown protocol version', () => lengthPrefix(new Uint8Array([9, 0, 0, 0])), 'unsupported_version'],
    ['a malformed update after HELLO', () => new Uint8Array([...hello, ...lengthPrefix(encodeFrame({ type: MessageType.SYNC1, docKey: docKeyFor('doc'), flags: 0, stateVector: new Uint8Array([0]), dsDigest: new Uint8Array(8) })), ...lengthPrefix(encodeFrame({ type: MessageType.UPDATE, docKey: docKeyFor('doc'), seq: 1, update: new Uint8Array([1, 1, 200, 1, 0, 255, 255, 255, 7]) }))]), 'malformed_update']
  ]

  for (const [what, bytes, reason] of cases) {
    it(`${what}: the peer is closed with reason ${reason}, counted, and the replica is unchanged`, async () => {
      const h = await target.open('doc')
      const before = h.doc.getText('t').toString()
      const rss0 = process.memoryUsage().rss
      const { raw, stream, closed } = await rawStream(target)
      try {
        stream.send(bytes())
        await Promise.race([closed, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('stream not closed')) }, 5000))])
        assert.equal(target.stats.rejected[reason], 1, JSON.stringify(target.stats.rejected))
        assert.equal(h.doc.getText('t').toString(), before)
        assert.ok(process.memoryUsage().rss - rss0 < 10 * 1024 * 1024, 'RSS grew by 10 MB or more')
        // the node still serves others
        const other = await createMeshNode({})
        try {
          const ho = await other.open('doc')
          await other.dial(target.multiaddrs[0])
          await ho.whenSynced({ timeout: 5000 })
          assert.equal(ho.doc.getText('t').toString(), 'precious')
        } finally { await other.stop() }
      } finally {
        await raw.stop()
      }
    })
  }
})
