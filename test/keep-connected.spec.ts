/**
 * The bootstrap redial backoff (adapters/libp2p/keep-connected.ts): full
 * jitter from 0.5 s doubling to 30 s, but for five minutes after a connection
 * that lasted dropped, at most 4 s (a restarting gateway is back in
 * seconds). libp2p is a stand-in here: dials fail at once, and the test
 * drives the clock and Math.random.
 */
import assert from 'node:assert/strict'
import type { Libp2p } from '@libp2p/interface'
import { KeepConnected } from '../adapters/libp2p/keep-connected.js'

const GATEWAY = '12D3KooWLRPJAA5o6WYy7EbrtbvUnZtuW3nkhRB3aAa4qULvRdPW'

function fakeLibp2p (): { libp2p: Libp2p, disconnect: () => void, connect: boolean } {
  const listeners = new Map<string, (evt: CustomEvent<unknown>) => void>()
  const state = {
    connect: false,
    libp2p: {
      addEventListener: (name: string, fn: (evt: CustomEvent<unknown>) => void) => { listeners.set(name, fn) },
      removeEventListener: (name: string) => { listeners.delete(name) },
      getConnections: () => [],
      dial: async () => {
        if (state.connect) return { remotePeer: { toString: () => GATEWAY }, status: 'open' }
        throw new Error('connection refused')
      }
    } as unknown as Libp2p,
    disconnect: () => { listeners.get('peer:disconnect')?.({ detail: { toString: () => GATEWAY } } as unknown as CustomEvent<unknown>) }
  }
  return state
}

describe('bootstrap redial backoff', () => {
  const realRandom = Math.random
  const realNow = Date.now
  afterEach(() => { Math.random = realRandom; Date.now = realNow })

  async function retries (keep: KeepConnected, seen: number[], n: number): Promise<void> {
    while (seen.length < n) await new Promise(resolve => setTimeout(resolve, 1))
    keep.stop()
  }

  it('grows to 30 s for a gateway never reached, with full jitter', async () => {
    Math.random = () => 0.999
    const fake = fakeLibp2p()
    const seen: number[] = []
    const keep = new KeepConnected(fake.libp2p, [`/ip4/127.0.0.1/tcp/1/p2p/${GATEWAY}`], { minDelayMs: 1, maxDelayMs: 30_000, onDialFailed: ({ retryInMs }) => { seen.push(retryInMs) } })
    // only the first dial happens: the next ones are 1 ms doubling, so the test waits for a few
    keep.start()
    await retries(keep, seen, 13)
    assert.ok(seen[12] > 4000, `the delay kept growing past 4 s (${seen.join(', ')})`)
    Math.random = () => 0
    const low = fakeLibp2p()
    const lows: number[] = []
    const k2 = new KeepConnected(low.libp2p, [`/ip4/127.0.0.1/tcp/1/p2p/${GATEWAY}`], { minDelayMs: 1, onDialFailed: ({ retryInMs }) => { lows.push(retryInMs) } })
    k2.start()
    await retries(k2, lows, 3)
    assert.ok(lows.every(d => d <= 1), `full jitter: a delay may be near 0 (${lows.join(', ')})`)
  })

  /**
   * Delays after a connection that lasted dropped, the clock moved `sinceDropMs` on from the drop;
   * with `refusedAtOnce`, the redial first connects again and that connection is closed after 1 s.
   * Timers fire at once: the test counts delays, it does not wait them out.
   */
  async function afterDrop (sinceDropMs: number, { refusedAtOnce = false } = {}): Promise<number[]> {
    const realSetTimeout = globalThis.setTimeout
    globalThis.setTimeout = ((fn: () => void) => realSetTimeout(fn, 0)) as unknown as typeof setTimeout
    const tick = async (ms: number): Promise<void> => { await new Promise(resolve => realSetTimeout(resolve, ms)) }
    try {
      Math.random = () => 0.999
      let clock = 1_000_000
      Date.now = () => clock
      const fake = fakeLibp2p()
      fake.connect = true
      const seen: number[] = []
      const keep = new KeepConnected(fake.libp2p, [`/ip4/127.0.0.1/tcp/1/p2p/${GATEWAY}`], { minDelayMs: 1, maxDelayMs: 30_000, onDialFailed: ({ retryInMs }) => { seen.push(retryInMs) } })
      keep.start()
      await tick(10)
      clock += 60_000 // it lasted
      if (refusedAtOnce) {
        fake.disconnect() // redialed, and connects again (fake.connect is still true)
        await tick(10)
        clock += 1_000 // this one is refused right after the handshake
      }
      fake.connect = false
      fake.disconnect()
      clock += sinceDropMs
      await retries(keep, seen, 14)
      return seen
    } finally {
      globalThis.setTimeout = realSetTimeout
    }
  }

  it('after a connection that lasted drops, at most 4 s for five minutes', async () => {
    const seen = await afterDrop(5 * 60_000 - 10_000)
    // 1, 2, 4 … 2,048 ms, then 4,000 (where the never-reached gateway of the test above gets 4,096)
    assert.ok(Math.max(...seen) <= 4000 && seen[12] > 3900, `capped at 4 s within the five minutes (${seen.join(', ')})`)
  })

  it('a connection that lasted, dropped, then one refused at once: the backoff grows past 4 s again (a refusing gateway is not redialed every 4 s)', async () => {
    const seen = await afterDrop(0, { refusedAtOnce: true })
    assert.ok(Math.max(...seen) > 4000, `not capped at 4 s once a connection was refused at once (${seen.join(', ')})`)
  })

  it('past the five minutes, the backoff grows to 30 s again', async () => {
    const seen = await afterDrop(5 * 60_000 + 1000)
    assert.ok(seen[12] > 4000, `no longer capped at 4 s (${seen.join(', ')})`)
  })
})
