/**
 * `meshdoc tail` following a real `meshdoc gateway` (separate processes):
 * one JSON line per stored change, as it is stored (the doc as JSON, or with
 * --patch the JSON Patch from the previous line's doc); a glob follows the
 * docs the gateway knows by id; SIGTERM exits 0; a gateway that stops or
 * cannot be reached exits 1 with a clear message.
 */
import assert from 'node:assert/strict'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { applyPatch, type PatchOp } from '../lib/cli/json-patch.js'
import { readingsOf, record } from '../examples/sensor-device/readings.js'
import { CLI_TS, CliProcesses, freePort, type GatewayProcess } from './helpers/cli-process.js'
import { waitFor } from './helpers/mesh-nodes.js'

interface TailLine { time: string, doc: string, origin: string, json?: { readings?: unknown[] }, patch?: PatchOp[] }

describe('meshdoc tail', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  const nodes: MeshNode[] = []

  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() }))
    await cli.killAll()
  })

  const lines = (p: GatewayProcess): TailLine[] => p.stdout.split('\n').filter(l => l.length > 0).map(l => JSON.parse(l) as TailLine)

  it('prints each stored change as a JSON line (the doc, or --patch), follows globs, exits 0 on SIGTERM and 1 when the gateway stops', async () => {
    const gw = cli.gateway(await cli.tempDir(), ['--open', 'sensors/known'])
    const { tcp, peerId, admin } = await gw.ready()
    const at = admin.replace('http://', '')
    const tail = (args: string[]): GatewayProcess => cli.script(CLI_TS, ['tail', ...args, '--admin', at])
    const whole = tail(['sensors/t1'])
    const patch = tail(['sensors/t1', '--patch'])
    const glob = tail(['sensors/*'])
    for (const p of [whole, patch, glob]) await p.waitForStderr(/following .* at http:\/\/127\.0\.0\.1:\d+ \(Ctrl-C to stop\)/)

    const dev = await createMeshNode({ bootstrap: [tcp], antiEntropyIntervalMs: 0 })
    nodes.push(dev)
    const h = await dev.open('sensors/t1')
    for (let i = 1; i <= 3; i++) {
      record(h.doc, [{ s: 'temperature', t: i, v: i }], 2, 1)
      await h.whenSynced({ peer: peerId, timeout: 10_000 })
    }
    const known = await dev.open('sensors/known')
    known.doc.getMap('device').set('name', 'known')
    await known.whenSynced({ peer: peerId, timeout: 10_000 })

    await waitFor(() => lines(whole).length >= 3 && lines(patch).length >= 3, { what: 'three lines from each tail', detail: () => whole.stdout + patch.stdout })
    const w = lines(whole)
    assert.equal(w.length, 3, whole.stdout)
    assert.ok(w.every(l => l.doc === 'sensors/t1' && l.origin === dev.peerId && !Number.isNaN(Date.parse(l.time))))
    // the doc after each change; the third reading pushed the first out (keep 2)
    assert.deepEqual(w.map(l => (l.json?.readings ?? []).map(r => (r as { v: number }).v)), [[1], [1, 2], [2, 3]])

    // --patch: each line turns the previous line's doc into this one's
    let doc: unknown = null
    for (const l of lines(patch)) {
      assert.ok(Array.isArray(l.patch), JSON.stringify(l))
      doc = applyPatch(doc, l.patch)
    }
    assert.deepEqual(doc, { readings: readingsOf(h.doc).toJSON() })
    assert.deepEqual(lines(patch)[0].patch?.[0], { op: 'replace', path: '', value: { readings: [{ s: 'temperature', t: 1, v: 1 }] } })
    assert.deepEqual(lines(patch)[2].patch, [{ op: 'remove', path: '/readings/0' }, { op: 'add', path: '/readings/1', value: { s: 'temperature', t: 3, v: 3 } }])

    // a glob follows the docs the gateway knows by id (opened with --open), not those it serves by key only
    await waitFor(() => lines(glob).length >= 1, { what: 'the glob tail' })
    assert.deepEqual(lines(glob).map(l => [l.doc, l.json]), [['sensors/known', { device: { name: 'known' } }]])

    assert.deepEqual(await whole.stop('SIGTERM'), { code: 0, signal: null }, whole.stderr)
    assert.deepEqual(await glob.stop('SIGINT'), { code: 0, signal: null }, glob.stderr)
    // the gateway stops: the stream ends, and so does tail, with a failure
    await gw.stop('SIGTERM')
    assert.deepEqual(await patch.exited, { code: 1, signal: null })
    assert.match(patch.stderr, /meshdoc tail: the gateway at http:\/\/127\.0\.0\.1:\d+ ended the stream \(it stopped\?\)/)
  })

  it('a gateway that cannot be reached: exit 1 and what to check; --help', async () => {
    const port = await freePort()
    const [r, help, none] = await Promise.all([
      cli.run(['tail', 'sensors/x', '--admin', `127.0.0.1:${port}`]),
      cli.run(['tail', '--help']),
      cli.run(['tail'])
    ])
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, new RegExp(`^meshdoc tail: cannot reach the gateway's admin port at http://127\\.0\\.0\\.1:${port}/changes\\?doc=sensors%2Fx: ECONNREFUSED \\(is \`meshdoc gateway\` running with --admin 127\\.0\\.0\\.1:${port}\\?\\)\\n$`))
    assert.equal(help.code, 0)
    assert.match(help.stdout, /^usage: meshdoc tail DOC\.\.\. \[options\]/)
    assert.equal(none.code, 2)
  })
})
