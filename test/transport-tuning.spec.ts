/**
 * The Noise and yamux changes of adapters/libp2p/tuning.ts, on real libp2p
 * over TCP on 127.0.0.1: a receiver of many small frames sends no window
 * update per frame (yet bulk transfers still get their updates and finish),
 * and no RangeError is built per read. If a yamux or Noise upgrade changes the
 * internals these rely on, the tuning falls back to stock behaviour and these
 * tests fail, which is the point.
 */
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import { setImmediate as tick } from 'node:timers/promises'
import type { Libp2p, Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { createDefaultLibp2p } from '../adapters/libp2p/index.js'
import { uint16BEDecodeQuiet } from '../adapters/libp2p/noise-reads.js'
import { until } from './helpers/wait.js'

const PROTOCOL = '/meshdoc-test/sink/1.0.0'

describe('transport tuning (Noise + yamux over TCP)', function () {
  this.timeout(60_000)
  let listener: Libp2p
  let dialer: Libp2p
  /** sockets the listener accepted */
  const accepted = new Set<Socket>()
  const onAccept = (msg: unknown): void => { const s = (msg as { socket?: Socket }).socket; if (s !== undefined) accepted.add(s) }
  let received = 0
  let inbound: Stream | undefined

  before(async () => {
    subscribe('net.server.socket', onAccept)
    listener = await createDefaultLibp2p({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    dialer = await createDefaultLibp2p()
    await listener.start()
    await dialer.start()
    await listener.handle(PROTOCOL, (stream) => {
      inbound = stream
      stream.addEventListener('message', (evt) => { received += evt.data.byteLength })
    })
  })

  after(async () => {
    unsubscribe('net.server.socket', onAccept)
    await dialer?.stop()
    await listener?.stop()
  })

  const listenerWrote = (): number => [...accepted].reduce((n, s) => n + (s.bytesWritten ?? 0), 0)

  it('200 small frames, one per tick: the receiver answers with no window update per frame', async () => {
    const stream = await dialer.dialProtocol(listener.getMultiaddrs()[0], PROTOCOL)
    await until(() => inbound !== undefined, 'the listener never saw the stream')
    // let the stream set-up traffic settle, then measure only the small frames
    await new Promise(resolve => setTimeout(resolve, 200))
    const before = listenerWrote()
    const realRangeError = globalThis.RangeError
    let rangeErrors = 0
    globalThis.RangeError = new Proxy(realRangeError, {
      apply (target, self, args) { rangeErrors++; return Reflect.apply(target, self, args) },
      construct (target, args) { rangeErrors++; return Reflect.construct(target, args) }
    })
    try {
      const frame = new Uint8Array(40).fill(7)
      for (let i = 0; i < 200; i++) {
        stream.send(frame)
        await tick()
      }
      await until(() => received >= 200 * 40, () => `received ${received} of ${200 * 40} bytes`, 10_000)
      await new Promise(resolve => setTimeout(resolve, 100))
    } finally {
      globalThis.RangeError = realRangeError
    }
    const wrote = listenerWrote() - before
    // stock yamux 8: a 12 B window update per frame, Noise-framed: 30 B each, 6,000 B in all
    assert.ok(wrote < 300, `the receiver wrote ${wrote} B while taking 200 frames`)
    // stock Noise 17: one RangeError built (and caught) per read, so about 200 here
    assert.ok(rangeErrors < 10, `${rangeErrors} RangeErrors built during 200 reads`)
    await stream.close()
  })

  it('a bulk transfer of 8 MiB still gets its window updates and completes', async () => {
    received = 0
    inbound = undefined
    const stream = await dialer.dialProtocol(listener.getMultiaddrs()[0], PROTOCOL)
    await until(() => inbound !== undefined, 'the listener never saw the stream')
    const before = listenerWrote()
    const chunk = new Uint8Array(64 * 1024).fill(1)
    const total = 8 * 1024 * 1024
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!stream.send(chunk)) await new Promise(resolve => stream.addEventListener('drain', resolve, { once: true }))
    }
    await until(() => received >= total, () => `received ${received} of ${total} bytes`, 20_000)
    // 8 MiB cannot pass a 256 KiB initial window without updates (yamux grows the window as it goes)
    assert.ok(listenerWrote() - before >= 30, `the receiver wrote only ${listenerWrote() - before} B of window updates`)
    await stream.close()
  })

  it('the quiet length decoder reads exactly what the stock one reads', () => {
    assert.equal(uint16BEDecodeQuiet(Uint8Array.of(0x12, 0x34, 0xff)), 0x1234)
    assert.equal(uint16BEDecodeQuiet(new Uint8ArrayList(Uint8Array.of(0xab), Uint8Array.of(0xcd))), 0xabcd)
    assert.equal(uint16BEDecodeQuiet(Uint8Array.of(0xff, 0xff)), 65535)
    for (const short of [new Uint8Array(0), Uint8Array.of(1), new Uint8ArrayList(Uint8Array.of(1))]) {
      assert.throws(() => uint16BEDecodeQuiet(short), RangeError)
    }
  })
})
