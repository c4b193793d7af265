/**
 * `npm run example:sensor` (examples/sensor-device/demo.ts) runs the whole
 * story end to end and exits 0: a device records offline, a gateway comes up,
 * the device syncs, the gateway stops on SIGTERM and `meshdoc export` shows
 * the readings it stored.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { CliProcesses, REPO_ROOT } from './helpers/cli-process.js'

describe('examples/sensor-device demo (one command)', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  afterEach(async () => { await cli.killAll() })

  it('runs to the end: offline readings reach the gateway and are exported from its data directory', async () => {
    const demo = cli.script(join(REPO_ROOT, 'examples', 'sensor-device', 'demo.ts'), [], { env: { DEMO_OFFLINE_SECONDS: '1' }, group: true })
    const exit = await demo.exited
    assert.deepEqual(exit, { code: 0, signal: null }, `${demo.stdout}\n${demo.stderr}`)
    const synced = /synced: \S+ stored everything, including (\d+) offline ticks/.exec(demo.stdout)
    assert.ok(synced !== null && Number(synced[1]) >= 5, demo.stdout)
    const held = /the gateway holds (\d+) readings of dev-1/.exec(demo.stdout)
    assert.ok(held !== null && Number(held[1]) >= 3 * Number(synced[1]), `the export holds the offline readings:\n${demo.stdout}`)
    assert.match(demo.stdout, /gateway\| meshdoc: stopped/)
  })
})
