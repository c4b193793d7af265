/**
 * Connections per host, over real TCP on 127.0.0.1, against the figures
 * docs/SECURITY.md states (item 8, "Sessions"): one host opening connections
 * faster than the per-host rate has the excess refused before any handshake,
 * and one host opening connections that never finish their handshake holds
 * only its share of the handshake slots; meanwhile a peer on another host
 * (127.0.0.1; the attackers dial from 127.0.0.2 and 127.0.0.3) connects and
 * syncs.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { tcp, type TCPSocketOptions } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { hostOf } from '../adapters/libp2p/create-libp2p.js'
import { meshNoise, meshYamux } from '../adapters/libp2p/tuning.js'
import type { MeshNode } from '../adapters/presets/node.js'
import { REPO_ROOT } from './helpers/cli-process.js'
import { connect, NodePool, waitFor } from './helpers/mesh-nodes.js'

/** The figure docs/SECURITY.md states, found by `re` (its first group). */
async function documented (re: RegExp): Promise<number> {
  const text = (await readFile(join(REPO_ROOT, 'docs', 'SECURITY.md'), 'utf8')).replace(/\s+/g, ' ')
  const m = re.exec(text)
  assert.ok(m !== null, `docs/SECURITY.md does not say ${re}`)
  return Number(m[1].replace(/,/g, ''))
}

/** A stock libp2p (TCP, Noise, yamux) whose connections leave from `host`. */
async function libp2pFrom (host: string): Promise<Libp2p> {
  // net.connect takes localAddress; @libp2p/tcp passes dialOpts through to it
  const dialOpts = { localAddress: host } as TCPSocketOptions
  const node = await createLibp2p({ transports: [tcp({ dialOpts })], connectionEncrypters: [meshNoise()], streamMuxers: [meshYamux()] })
  await node.start()
  return node
}

async function syncs (a: MeshNode, b: MeshNode, docId: string): Promise<void> {
  const ha = await a.open(docId)
  const hb = await b.open(docId)
  ha.doc.getText('t').insert(0, 'honest edit')
  await waitFor(() => hb.doc.getText('t').toString() === 'honest edit', { what: `${docId} to sync`, timeout: 5000 })
}

describe('connections per host over real TCP (127.0.0.1)', function () {
  this.timeout(60_000)
  const pool = new NodePool()
  const stops: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    await Promise.allSettled(stops.splice(0).map(async s => { await s() }))
    await pool.stopAll()
  })

  it('one host connecting faster than the documented rate: the excess is refused before any handshake, another host connects meanwhile, the same host again a second later', async () => {
    const perSecond = await documented(/at most ([\d,]+) inbound connections per second per host/)
    const victim = await pool.create()
    const target = multiaddr(victim.multiaddrs[0])
    const attacker = await libp2pFrom('127.0.0.2')
    stops.push(async () => { await attacker.stop() })

    // one after another (never two in a handshake at once), all within one second
    let accepted = 0
    let tried = 0
    const t0 = performance.now()
    while (tried < perSecond + 10 && performance.now() - t0 < 900) {
      tried++
      try {
        await attacker.dial(target, { force: true })
        accepted++
      } catch { /* refused */ }
    }
    const elapsed = performance.now() - t0
    assert.ok(tried > perSecond, `only ${tried} dials in ${elapsed.toFixed(0)} ms: too slow to exceed ${perSecond} a second`)
    assert.equal(accepted, perSecond, `${accepted} of ${tried} connections from one host accepted in ${elapsed.toFixed(0)} ms`)
    assert.equal(victim.libp2p.getConnections(attacker.peerId).length, perSecond, 'the refused ones never became connections')

    // meanwhile, within the same second: a peer on another host connects and syncs
    const honest = await pool.create()
    await connect(honest, victim, 5000)
    await syncs(honest, victim, 'rate/doc')

    // a rate, not a ban: a second later the host connects again
    await new Promise(resolve => setTimeout(resolve, Math.max(0, 1100 - (performance.now() - t0))))
    await attacker.dial(target, { force: true })
    console.log(`      one host: ${accepted} of ${tried} connections accepted in ${elapsed.toFixed(0)} ms (documented: ${perSecond} a second); a peer on another host synced meanwhile`)
  })

  it('one host holds at most the documented number of connections open: past it, more are refused on accept; one closed makes room; another host connects meanwhile', async () => {
    const openPerHost = await documented(/at most ([\d,]+) inbound connections open per host/)
    const victim = await pool.create()
    const target = multiaddr(victim.multiaddrs[0])
    const attacker = await libp2pFrom('127.0.0.4')
    stops.push(async () => { await attacker.stop() })
    // under the per-second rate: only the open-connections cap can refuse them
    let accepted = 0
    let refused = 0
    for (let i = 0; i < openPerHost + 5; i++) {
      try {
        await attacker.dial(target, { force: true })
        accepted++
      } catch {
        refused++
      }
      await new Promise(resolve => setTimeout(resolve, 60))
    }
    assert.equal(accepted, openPerHost, `${accepted} accepted, ${refused} refused`)
    assert.equal(refused, 5)
    assert.equal(victim.libp2p.getConnections(attacker.peerId).length, openPerHost)
    const honest = await pool.create()
    await connect(honest, victim, 5000)
    await syncs(honest, victim, 'open/doc')
    // one of them closes: room for one more
    await attacker.getConnections(victim.libp2p.peerId)[0]!.close()
    await waitFor(() => victim.libp2p.getConnections(attacker.peerId).length === openPerHost - 1, { what: 'the close to reach the victim', timeout: 5000 })
    await attacker.dial(target, { force: true })
    await assert.rejects(attacker.dial(target, { force: true }), 'and no more')
    console.log(`      one host: ${accepted} connections held open (documented: ${openPerHost}), ${refused} refused; a peer on another host synced meanwhile`)
  })

  it('one host opening connections that never finish a handshake holds only its documented share of the slots; a peer on another host still connects', async () => {
    const perHost = await documented(/at most ([\d,]+) of one host's connections in their handshake/)
    const allHosts = await documented(/of ([\d,]+) for all hosts/)
    const victim = await pool.create()
    const port = Number(victim.multiaddrs[0].split('/tcp/')[1].split('/')[0])
    const sockets: net.Socket[] = []
    stops.push(() => { for (const s of sockets) s.destroy() })
    const open = (): number => sockets.filter(s => !s.closed && s.readyState === 'open').length
    const silent = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' })
        s.on('error', () => {})
        sockets.push(s)
        await new Promise(resolve => { s.once('connect', resolve); s.once('close', resolve) })
      }
      await new Promise(resolve => setTimeout(resolve, 300))
    }

    // as many as there are slots for all hosts, sending nothing
    const t0 = performance.now()
    await silent(allHosts)
    // the slots are not all taken: a peer on another host connects and syncs
    const honest = await pool.create()
    await connect(honest, victim, 5000)
    await syncs(honest, victim, 'slots/doc')
    // only the host's share stayed open, waiting for a handshake; the rest were closed on accept
    assert.equal(open(), perHost, `${open()} of ${sockets.length} silent connections from one host held open`)

    // the host's slots are free again once its connections close (after its rate window, so that only the slots count)
    for (const s of sockets.splice(0)) s.destroy()
    await new Promise(resolve => setTimeout(resolve, Math.max(200, 1100 - (performance.now() - t0))))
    await silent(perHost)
    assert.equal(open(), perHost, 'closed connections gave their slots back')
  })
})

describe('the TCP listen backlog', () => {
  const pool = new NodePool()
  after(async () => { await pool.stopAll() })

  it('is the documented size (capped by net.core.somaxconn), not Node\'s 511', async function () {
    let ssOk = true
    try { execFileSync('ss', ['-V'], { stdio: 'ignore' }) } catch { ssOk = false }
    if (!ssOk) { console.log('      skipped: needs `ss` (iproute2)'); this.skip() }
    const documentedBacklog = await documented(/kernel holds up to ([\d,]+) completed TCP connections/)
    const somaxconn = Number((await readFile('/proc/sys/net/core/somaxconn', 'utf8')).trim())
    const node = await pool.create()
    const port = Number(/\/tcp\/(\d+)\//.exec(node.multiaddrs.find(a => !a.includes('/ws'))!)![1])
    // for a listening socket, ss shows the backlog as Send-Q
    const line = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim()
    const backlog = Number(line.split(/\s+/)[2])
    assert.equal(backlog, Math.min(documentedBacklog, somaxconn), line)
  })
})

describe('what counts as one host for the handshake share', () => {
  const host = (a: string): string | undefined => hostOf(multiaddr(a))

  it('an IPv4 address; an IPv6 /64, however its addresses are written; an IPv4-mapped address as its IPv4 address', () => {
    assert.equal(host('/ip4/192.0.2.7/tcp/4001'), '192.0.2.7')
    const inOne64 = ['/ip6/2001:db8:1:2::1/tcp/1', '/ip6/2001:db8:1:2:ffff:ffff:ffff:fffe/tcp/1', '/ip6/2001:0db8:0001:0002:0:0:0:9/tcp/1', '/ip6/2001:DB8:1:2:a::b/tcp/1']
    assert.deepEqual(new Set(inOne64.map(host)), new Set(['2001:db8:1:2::/64']))
    assert.notEqual(host('/ip6/2001:db8:1:3::1/tcp/1'), host('/ip6/2001:db8:1:2::1/tcp/1'))
    assert.equal(host('/ip6/::1/tcp/1'), '0:0:0:0::/64')
    assert.equal(host('/ip6/fe80::1/tcp/1'), 'fe80:0:0:0::/64')
    assert.equal(host('/ip6/::ffff:192.0.2.7/tcp/1'), '192.0.2.7')
    assert.equal(host('/dns4/example.com/tcp/1'), undefined)
  })
})
