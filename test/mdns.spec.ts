/**
 * LAN discovery: two nodes with mDNS and no bootstrap find each other and sync.
 * mDNS multicasts on every interface, so the nodes run inside a network
 * namespace this test creates (only its loopback, multicast enabled): no
 * packet leaves the machine. Needs root and iproute2 (`ip netns`).
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const fixture = fileURLToPath(new URL('./fixtures/mdns-node.ts', import.meta.url))

function canUseNetns (): boolean {
  if (process.getuid?.() !== 0) return false
  try { execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' }); return true } catch { return false }
}

describe('LAN discovery with mDNS', function () {
  this.timeout(60_000)
  const ns = `meshdoc-mdns-${process.pid}`

  before(function () {
    if (!canUseNetns()) {
      console.log('      skipped: needs root and `ip netns` to keep multicast inside a private namespace')
      this.skip()
    }
    execFileSync('ip', ['netns', 'add', ns])
    for (const args of [['link', 'set', 'lo', 'up'], ['link', 'set', 'lo', 'multicast', 'on'], ['route', 'add', '224.0.0.0/4', 'dev', 'lo']]) {
      execFileSync('ip', ['netns', 'exec', ns, 'ip', ...args])
    }
  })
  after(() => { try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }) } catch {} })

  it('two nodes that know no peer find each other on the LAN and sync', async () => {
    const tag = `meshdoc-test-${process.pid}`
    const run = (name: string): Promise<{ code: number | null, out: string }> => new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', fixture, name, '2', tag], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (d: Buffer) => { out += d.toString() })
      const kill = setTimeout(() => { child.kill('SIGKILL') }, 40_000)
      child.on('exit', (code) => { clearTimeout(kill); resolve({ code, out }) })
    })
    const [a, b] = await Promise.all([run('alpha'), run('beta')])
    assert.equal(a.code, 0, `alpha: ${a.out}`)
    assert.equal(b.code, 0, `beta: ${b.out}`)
    for (const r of [a, b]) {
      const roster = JSON.parse(/SYNCED (.*)/.exec(r.out)![1]) as Record<string, string>
      assert.deepEqual(Object.keys(roster).sort(), ['alpha', 'beta'])
    }
  })
})
