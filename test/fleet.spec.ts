/**
 * A fleet in separate processes on 127.0.0.1 (real libp2p, fs storage, durable
 * identity): gateways crash and recover, the network splits and heals, and no
 * write a device acknowledged is lost.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ask, freePort, startMember, type Member } from './helpers/fleet.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function allKeys (m: Member, doc: string, upTo: number, timeoutMs = 60_000): Promise<number> {
  const end = Date.now() + timeoutMs
  let count = -1
  while (Date.now() < end) {
    count = (await ask(m, { cmd: 'count', doc, upTo }, 'count')).count as number
    if (count === upTo + 1) return count
    await sleep(250)
  }
  return count
}

describe('a fleet of gateways and sensors in separate processes', function () {
  this.timeout(240_000)
  let dir: string
  const members: Member[] = []
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'meshdoc-fleet-')) })
  afterEach(async () => {
    for (const m of members.splice(0)) m.proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const start = async (name: string, args: string[]): Promise<Member> => {
    const m = await startMember(name, ['--data', join(dir, name), ...args])
    members.push(m)
    return m
  }

  it('kill -9 a gateway mid-sync, keep writing, restart it: everything converges and no acknowledged write is lost', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    const addr = (i: number): string => `/ip4/127.0.0.1/tcp/${ports[i]}`
    const gwArgs = (i: number): string[] => ['--serve', '--port', String(ports[i]), ...[0, 1, 2].filter(j => j !== i).flatMap(j => ['--bootstrap', addr(j)])]
    const gws = [await start('g0', gwArgs(0)), await start('g1', gwArgs(1)), await start('g2', gwArgs(2))]
    const sensors = await Promise.all([0, 1, 2].map(async i => await start(`s${i}`, [0, 1, 2].flatMap(j => ['--bootstrap', addr(j)]))))
    sensors.forEach((s, i) => { s.send({ cmd: 'write', doc: `sensors/s${i}`, every: 20 }) })
    await sleep(1500)
    gws[1].proc.kill('SIGKILL')
    await gws[1].exited
    members.splice(members.indexOf(gws[1]), 1)
    await sleep(1500) // sensors keep writing while g1 is down
    gws[1] = await start('g1', gwArgs(1))
    await sleep(1500)
    const last: number[] = []
    for (const s of sensors) {
      await ask(s, { cmd: 'stop-writing' }, 'stoppedWriting')
      last.push(Math.max(...s.acks))
    }
    assert.ok(last.every(n => n > 100), `sensors wrote ${last.join(', ')}`)
    for (const [gi, g] of gws.entries()) {
      for (const [si] of sensors.entries()) {
        const count = await allKeys(g, `sensors/s${si}`, last[si])
        assert.equal(count, last[si] + 1, `g${gi} has ${count} of s${si}'s ${last[si] + 1} acknowledged writes`)
      }
    }
    console.log(`      acknowledged writes per sensor: ${last.map(n => n + 1).join(', ')}; all present on all 3 gateways after g1's crash and restart`)
  })

  it('a partition: both sides keep writing, and after healing everything converges', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    const addr = (i: number): string => `/ip4/127.0.0.1/tcp/${ports[i]}`
    const gwArgs = (i: number): string[] => ['--serve', '--port', String(ports[i]), ...[0, 1, 2].filter(j => j !== i).flatMap(j => ['--bootstrap', addr(j)])]
    const gws = [await start('g0', gwArgs(0)), await start('g1', gwArgs(1)), await start('g2', gwArgs(2))]
    const left = await start('left', ['--bootstrap', addr(0)])
    const right = await start('right', ['--bootstrap', addr(1), '--bootstrap', addr(2)])
    await sleep(1000)
    // split: {g0, left} | {g1, g2, right}
    await ask(gws[0], { cmd: 'block', peers: [gws[1].peerId, gws[2].peerId] }, 'blocked')
    await ask(gws[1], { cmd: 'block', peers: [gws[0].peerId] }, 'blocked')
    await ask(gws[2], { cmd: 'block', peers: [gws[0].peerId] }, 'blocked')
    left.send({ cmd: 'write', doc: 'sensors/left', every: 20 })
    right.send({ cmd: 'write', doc: 'sensors/right', every: 20 })
    await sleep(1500)
    await ask(left, { cmd: 'stop-writing' }, 'stoppedWriting')
    await ask(right, { cmd: 'stop-writing' }, 'stoppedWriting')
    const lastLeft = Math.max(...left.acks)
    const lastRight = Math.max(...right.acks)
    // while split, the other side has none of it
    assert.equal((await ask(gws[1], { cmd: 'count', doc: 'sensors/left', upTo: lastLeft }, 'count')).count, 0)
    assert.equal((await ask(gws[0], { cmd: 'count', doc: 'sensors/right', upTo: lastRight }, 'count')).count, 0)
    // heal
    for (const g of gws) await ask(g, { cmd: 'unblock' }, 'blocked')
    await ask(gws[0], { cmd: 'dial', addr: addr(1) }, 'dialed')
    await ask(gws[0], { cmd: 'dial', addr: addr(2) }, 'dialed')
    for (const m of [...gws, left, right]) {
      assert.equal(await allKeys(m, 'sensors/left', lastLeft), lastLeft + 1, `${m.name} misses left's writes`)
      assert.equal(await allKeys(m, 'sensors/right', lastRight), lastRight + 1, `${m.name} misses right's writes`)
    }
  })

  it('an idle `meshdoc gateway` holding 1,000 small docs stays under 150 MB RSS', async () => {
    const port = await freePort()
    const admin = await freePort()
    const launcher = fileURLToPath(new URL('../bin/meshdoc.js', import.meta.url))
    const gw = spawn(process.execPath, [launcher, 'gateway', '--data', join(dir, 'gw'), '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--ws-port', 'none', '--admin', `127.0.0.1:${admin}`], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    gw.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    try {
      const metric = async (name: string): Promise<number> => {
        const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()
        const line = text.split('\n').find(l => l.startsWith(name + ' ') || l.startsWith(name + '{'))
        return line === undefined ? NaN : Number(line.split(' ').pop())
      }
      const end = Date.now() + 60_000
      while (Date.now() < end) {
        try { if ((await fetch(`http://127.0.0.1:${admin}/healthz`)).ok) break } catch {}
        await sleep(200)
      }
      const baseline = await metric('process_resident_memory_bytes')
      const client = await start('client', ['--bootstrap', `/ip4/127.0.0.1/tcp/${port}`])
      const docs = Array.from({ length: 1000 }, (_, i) => `small/${i}`)
      await ask(client, { cmd: 'open', docs }, 'opened', 120_000)
      const status = async (): Promise<{ servedDocs?: number }> => await (await fetch(`http://127.0.0.1:${admin}/status`)).json() as { servedDocs?: number }
      const until = Date.now() + 120_000
      let loaded = 0
      while (Date.now() < until && loaded < 1000) {
        loaded = (await status()).servedDocs ?? 0
        await sleep(250)
      }
      assert.ok(loaded >= 1000, `gateway loaded ${loaded} docs: ${JSON.stringify(await status())}`)
      await ask(client, { cmd: 'stop' }, 'stopped')
      await sleep(2000)
      const rss = await metric('process_resident_memory_bytes')
      console.log(`      meshdoc gateway: RSS ${(baseline / 1048576).toFixed(1)} MB at start, ${(rss / 1048576).toFixed(1)} MB idle holding 1,000 docs (goal < 150 MB)`)
      assert.ok(rss < 150 * 1024 * 1024, `RSS ${(rss / 1048576).toFixed(1)} MB`)
    } finally {
      gw.kill('SIGTERM')
      await new Promise(resolve => gw.once('exit', resolve))
      if (gw.exitCode !== 0) console.log(stderr)
    }
  })
})
