/**
 * LAN discovery: two nodes with mDNS and no bootstrap find each other and sync.
 * mDNS multicasts on every interface, so the nodes run inside a network
 * namespace this test creates (only its loopback, multicast enabled): no
 * packet leaves the machine. Needs root and iproute2 (`ip netns`).
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { useLoopbackNetns } from './helpers/netns.js'

const fixture = fileURLToPath(new URL('./fixtures/mdns-node.ts', import.meta.url))
const rediscover = fileURLToPath(new URL('./fixtures/mdns-rediscover.ts', import.meta.url))
const DONE = /^(SYNCED|NOT SYNCED|TIMEOUT)/m

describe('LAN discovery with mDNS', function () {
  this.timeout(60_000)
  const ns = useLoopbackNetns('meshdoc-mdns')

  it('two nodes that know no peer find each other on the LAN and sync', async () => {
    const tag = `meshdoc-test-${process.pid}`
    // Each node reports, then stays up until its stdin closes: the first one
    // to finish must not leave while the other still waits to sync with it.
    const children: ChildProcess[] = []
    const outs: string[] = []
    const releaseWhenAllReported = (): void => {
      if (outs.length === 2 && outs.every(o => DONE.test(o))) for (const c of children) c.stdin!.end()
    }
    const run = (name: string, i: number): Promise<{ code: number | null, out: string }> => new Promise((resolve) => {
      const child = ns.spawn(process.execPath, ['--import', 'tsx', fixture, name, '2', tag], { stdio: ['pipe', 'pipe', 'inherit'] })
      children.push(child)
      outs[i] = ''
      child.stdout!.on('data', (d: Buffer) => { outs[i] += d.toString(); releaseWhenAllReported() })
      const kill = setTimeout(() => { child.kill('SIGKILL') }, 45_000)
      child.on('exit', (code) => { clearTimeout(kill); resolve({ code, out: outs[i] }) })
    })
    const [a, b] = await Promise.all([run('alpha', 0), run('beta', 1)])
    assert.equal(a.code, 0, `alpha: ${a.out}`)
    assert.equal(b.code, 0, `beta: ${b.out}`)
    for (const r of [a, b]) {
      const roster = JSON.parse(/SYNCED (.*)/.exec(r.out)![1]) as Record<string, string>
      assert.deepEqual(Object.keys(roster).sort(), ['alpha', 'beta'])
    }
  })

  it('a peer found again after its connection closed is dialed again (not only the first time it is seen)', async () => {
    const { code, out } = await ns.runScript(rediscover, [`meshdoc-test-re-${process.pid}`], 55_000)
    assert.equal(code, 0, out)
    assert.match(out, /^OK$/m)
  })
})
