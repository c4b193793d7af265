/**
 * Two `meshdoc gateway --mdns` processes with no bootstrap peers find each
 * other on the LAN and sync. mDNS multicasts on every interface, so the whole
 * scenario (test/fixtures/cli-mdns-driver.ts) runs inside a network namespace
 * this test creates: no packet leaves the machine. Needs root and iproute2.
 */
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { useLoopbackNetns } from './helpers/netns.js'

const driver = fileURLToPath(new URL('./fixtures/cli-mdns-driver.ts', import.meta.url))

describe('meshdoc gateway --mdns', function () {
  this.timeout(90_000)
  const ns = useLoopbackNetns('meshdoc-climdns')

  it('two gateways with no bootstrap peers find each other by mDNS and sync', async () => {
    const child = ns.spawn(process.execPath, ['--import', 'tsx', driver], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
    const kill = setTimeout(() => { child.kill('SIGKILL') }, 80_000)
    const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
    clearTimeout(kill)
    assert.equal(code, 0, out)
    assert.match(out, /^OK$/m)
  })
})
