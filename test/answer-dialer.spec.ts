/**
 * The Node preset's discovery dialer (adapters/libp2p/answer-dialer.ts): it
 * dials a peer on an mDNS answer even when libp2p's peer store knew the peer
 * already, with a backoff per peer (5 s doubling) that starts over only after
 * a connection that lasted 10 s; a connected peer is never dialed; only the
 * `mdns` service is listened to; stop() stops it. libp2p and the clock are
 * stand-ins here (test/mdns.spec.ts runs it on real mDNS in a netns).
 */
import assert from 'node:assert/strict'
import { peerDiscoverySymbol, type Libp2p, type PeerId } from '@libp2p/interface'
import { AnswerDialer } from '../adapters/libp2p/answer-dialer.js'

const peer = (id: string): PeerId => ({ toString: () => id, equals: (o: PeerId) => o.toString() === id }) as unknown as PeerId

function fakeLibp2p (): { libp2p: Libp2p, dials: string[], connected: Set<string>, answer: (id: string, from?: 'mdns' | 'dht') => void, emit: (name: string, id: string) => void } {
  const listeners = new Map<string, Set<(evt: CustomEvent<unknown>) => void>>()
  const on = (m: Map<string, Set<(evt: CustomEvent<unknown>) => void>>, name: string, fn: (evt: CustomEvent<unknown>) => void): void => { if (!m.has(name)) m.set(name, new Set()); m.get(name)!.add(fn) }
  const mdnsListeners = new Map<string, Set<(evt: CustomEvent<unknown>) => void>>()
  const dhtListeners = new Map<string, Set<(evt: CustomEvent<unknown>) => void>>()
  const service = (m: typeof mdnsListeners): unknown => ({
    [peerDiscoverySymbol]: {
      addEventListener: (name: string, fn: (evt: CustomEvent<unknown>) => void) => { on(m, name, fn) },
      removeEventListener: (name: string, fn: (evt: CustomEvent<unknown>) => void) => { m.get(name)?.delete(fn) }
    }
  })
  const state = {
    dials: [] as string[],
    connected: new Set<string>(),
    libp2p: {
      peerId: peer('self'),
      services: { mdns: service(mdnsListeners), dht: service(dhtListeners) },
      addEventListener: (name: string, fn: (evt: CustomEvent<unknown>) => void) => { on(listeners, name, fn) },
      removeEventListener: (name: string, fn: (evt: CustomEvent<unknown>) => void) => { listeners.get(name)?.delete(fn) },
      getConnections: (id: PeerId) => state.connected.has(id.toString()) ? [{}] : [],
      dial: async (target: unknown) => { state.dials.push(String((target as PeerId[])[0] ?? target)); return {} }
    } as unknown as Libp2p,
    answer: (id: string, from: 'mdns' | 'dht' = 'mdns') => {
      const evt = { detail: { id: peer(id), multiaddrs: [`/ip4/10.0.0.2/tcp/1/p2p/${id}`] } } as unknown as CustomEvent<unknown>
      for (const fn of (from === 'mdns' ? mdnsListeners : dhtListeners).get('peer') ?? []) fn(evt)
    },
    emit: (name: string, id: string) => { for (const fn of listeners.get(name) ?? []) fn({ detail: peer(id) } as unknown as CustomEvent<unknown>) }
  }
  return state
}

describe('discovery: the answer dialer', () => {
  const realNow = Date.now
  let clock = 1_000_000
  beforeEach(() => { clock = 1_000_000; Date.now = () => clock })
  afterEach(() => { Date.now = realNow })

  it('dials on an answer, holds a peer that does not stay connected back 5 s doubling, and starts over after a connection that lasted', () => {
    const f = fakeLibp2p()
    const d = new AnswerDialer(f.libp2p)
    d.start()
    f.answer('A')
    assert.equal(f.dials.length, 1, 'the first answer dials')
    clock += 4_000; f.answer('A')
    assert.equal(f.dials.length, 1, 'held back 5 s')
    clock += 1_000; f.answer('A')
    assert.equal(f.dials.length, 2, 'dialed again after 5 s')
    clock += 9_000; f.answer('A')
    assert.equal(f.dials.length, 2, 'then held back 10 s')
    clock += 1_000; f.answer('A')
    assert.equal(f.dials.length, 3)
    // a connection that closes at once (a refusal) does not start it over
    f.emit('peer:connect', 'A'); clock += 1_000; f.emit('peer:disconnect', 'A')
    clock += 5_000; f.answer('A')
    assert.equal(f.dials.length, 3, 'a short connection keeps the backoff (20 s now)')
    clock += 15_000; f.answer('A')
    assert.equal(f.dials.length, 4)
    // a connection that lasted does
    f.connected.add('A'); f.emit('peer:connect', 'A')
    clock += 60_000
    f.answer('A')
    assert.equal(f.dials.length, 4, 'a connected peer is never dialed')
    f.connected.delete('A'); f.emit('peer:disconnect', 'A')
    f.answer('A')
    assert.equal(f.dials.length, 5, 'after a connection that lasted, the next answer dials at once')
    // other peers have their own backoff
    f.answer('B')
    assert.equal(f.dials.length, 6)
    d.stop()
  })

  it('listens to the mdns service only, and to nothing once stopped', () => {
    const f = fakeLibp2p()
    const d = new AnswerDialer(f.libp2p)
    d.start()
    f.answer('A', 'dht')
    assert.equal(f.dials.length, 0, 'another discovery service\'s answers are left to peer:discovery')
    d.stop()
    f.answer('A')
    f.emit('peer:discovery', 'B')
    assert.equal(f.dials.length, 0, 'stopped')
  })
})
