/**
 * Noise's X25519 with our own private keys kept as KeyObjects
 * (adapters/libp2p/noise-keys.ts, issue 18): the same shared secrets as
 * libp2p-noise's stock Node crypto, a key it did not make handled the stock
 * way, and a real handshake over TCP both ways with a stock libp2p node.
 */
import assert from 'node:assert/strict'
import { noise } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import { createDefaultLibp2p } from '../adapters/libp2p/create-libp2p.js'
import { x25519Counts, x25519KeyObjects } from '../adapters/libp2p/noise-keys.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('Noise X25519 with KeyObjects', function () {
  this.timeout(30_000)

  it('agrees with the stock crypto on every shared secret, whichever side made which key', () => {
    for (let i = 0; i < 20; i++) {
      const mine = x25519KeyObjects.generateX25519KeyPair()
      const theirs = defaultCrypto.generateX25519KeyPair()
      assert.equal(mine.publicKey.byteLength, 32)
      assert.equal(mine.privateKey.byteLength, 32)
      const expected = hex(defaultCrypto.generateX25519SharedKey(theirs.privateKey, mine.publicKey))
      assert.equal(hex(x25519KeyObjects.generateX25519SharedKey(mine.privateKey, theirs.publicKey)), expected)
      // a public key as a list of chunks, as Noise may hand it
      const list = new Uint8ArrayList(theirs.publicKey.subarray(0, 7), theirs.publicKey.subarray(7)) as unknown as Parameters<typeof x25519KeyObjects.generateX25519SharedKey>[1]
      assert.equal(hex(x25519KeyObjects.generateX25519SharedKey(mine.privateKey, list)), expected)
      // the stock way computes the same from our private key's bytes
      assert.equal(hex(defaultCrypto.generateX25519SharedKey(mine.privateKey, theirs.publicKey)), expected)
      // a private key it did not make (a copy of ours, or the stock one's) goes the stock way, same answer
      assert.equal(hex(x25519KeyObjects.generateX25519SharedKey(Uint8Array.from(mine.privateKey), theirs.publicKey)), expected)
      assert.equal(hex(x25519KeyObjects.generateX25519SharedKey(theirs.privateKey, mine.publicKey)), expected)
    }
  })

  describe('over TCP with a stock libp2p node', () => {
    const nodes: Libp2p[] = []
    afterEach(async () => { await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() })) })

    it('a handshake completes dialing out and answering', async () => {
      const before = { ...x25519Counts }
      const ours = await createDefaultLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'] })
      const stock = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionMonitor: { enabled: false }
      })
      nodes.push(ours, stock)
      const out = await ours.dial(stock.getMultiaddrs()[0])
      assert.equal(out.status, 'open')
      assert.equal(out.remotePeer.toString(), stock.peerId.toString())
      await out.close()
      const inbound = await stock.dial(ours.getMultiaddrs()[0])
      assert.equal(inbound.status, 'open')
      assert.equal(inbound.remotePeer.toString(), ours.peerId.toString())
      // our side took the fast path: three DHs a handshake, each with a kept key (ephemeral or static);
      // as the responder, ours does its last one on the initiator's final message, maybe after the dial resolved
      for (let i = 0; i < 100 && x25519Counts.kept - before.kept < 6; i++) await new Promise(resolve => setTimeout(resolve, 10))
      assert.equal(x25519Counts.kept - before.kept, 6, 'every DH of our two handshakes used a kept KeyObject')
      assert.equal(x25519Counts.stock - before.stock, 0)
    })
  })
})
