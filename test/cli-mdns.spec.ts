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
    const { code, out } = await ns.runScript(driver, [], 80_000)
    assert.equal(code, 0, out)
    assert.match(out, /^OK$/m)
  })
})
