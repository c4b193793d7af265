/**
 * `npm run example:yjs-bridge` (examples/yjs-app-bridge/demo.ts) runs the
 * whole story end to end and exits 0: `meshdoc gateway --yws`, an unchanged
 * y-websocket app given the gateway's URL, and a meshdoc device on the same
 * doc show the same list and each other's presence, and everything stops
 * cleanly.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { CliProcesses, REPO_ROOT } from './helpers/cli-process.js'

describe('examples/yjs-app-bridge demo (one command)', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  afterEach(async () => { await cli.killAll() })

  it('a y-websocket app and a meshdoc device converge through the gateway and see each other', async () => {
    const demo = cli.script(join(REPO_ROOT, 'examples', 'yjs-app-bridge', 'demo.ts'), [], { group: true })
    const exit = await demo.exited
    assert.deepEqual(exit, { code: 0, signal: null }, `${demo.stdout}\n${demo.stderr}`)
    const converged = /converged: the y-websocket app and the meshdoc device both show (\[.*\]), and each sees the other/.exec(demo.stdout)
    assert.ok(converged !== null, demo.stdout)
    assert.deepEqual((JSON.parse(converged[1]) as string[]).sort(), ['eggs (from the meshdoc device)', 'milk (from the y-websocket app)'])
    // the app's own lines say so too: the device's item reached the provider
    assert.match(demo.stdout, /app {4}\| todo: \[.*eggs \(from the meshdoc device\).*\]/)
    assert.match(demo.stdout, /gateway\| meshdoc: stopped/)
  })
})
