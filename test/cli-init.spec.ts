/**
 * `meshdoc init`: a data directory for a gateway (identity, a config file the
 * gateway starts from, a policy skeleton) or a device (identity), the next
 * steps printed; running it again keeps everything.
 */
import assert from 'node:assert/strict'
import { chmod, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CliProcesses } from './helpers/cli-process.js'
import { runInProcess } from './helpers/cli-inprocess.js'

describe('meshdoc init', function () {
  this.timeout(30_000)
  const cli = new CliProcesses()
  afterEach(async () => { await cli.killAll() })

  it('gateway: identity and private files; the gateway starts from the config with no warning, as the id it printed', async () => {
    const data = join(await cli.tempDir(), 'gw')
    const r = await runInProcess(['init', '--data', data])
    assert.equal(r.code, 0, r.stderr)
    const peerId = /^gateway (12D3KooW\S+)$/m.exec(r.stdout)?.[1]
    assert.ok(peerId !== undefined, r.stdout)
    assert.match(r.stdout, new RegExp(`meshdoc gateway --config ${join(data, 'gateway.json')}`))
    assert.match(r.stdout, new RegExp(`/tcp/4001/p2p/${peerId}`))
    assert.match(r.stdout, /meshdoc-gateway\.service/)
    assert.equal((await stat(data)).mode & 0o777, 0o700)
    for (const f of ['gateway.json', 'policy.json']) assert.equal((await stat(join(data, f))).mode & 0o777, 0o600, f)
    assert.equal((await runInProcess(['id', '--data', data])).stdout.trim(), peerId, 'meshdoc id reads the same identity')

    // the gateway runs from it (ports overridden by flags, which win over the file)
    const gw = cli.gateway(data, ['--config', join(data, 'gateway.json')])
    const ready = await gw.ready()
    assert.equal(ready.peerId, peerId)
    assert.doesNotMatch(gw.stderr, /warning/, gw.stderr)
    assert.deepEqual(await gw.stop('SIGTERM'), { code: 0, signal: null }, gw.stderr)
  })

  it('again: the identity and edited files are kept; --force rewrites the files, never the identity', async () => {
    const data = join(await cli.tempDir(), 'gw')
    const first = await runInProcess(['init', '--data', data])
    const policy = join(data, 'policy.json')
    await writeFile(policy, '{ "default": "read", "rules": [] }\n')
    await chmod(policy, 0o644) // an operator's edit may leave it readable: --force makes it private again
    const again = await runInProcess(['init', 'gateway', '--data', data])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(again.stdout, first.stdout, 'the same steps, the same id')
    assert.match(again.stderr, /already has an identity .*; kept/)
    assert.match(again.stderr, /kept .*policy\.json \(--force overwrites it\)/)
    assert.equal(await readFile(policy, 'utf8'), '{ "default": "read", "rules": [] }\n')
    const forced = await runInProcess(['init', '--data', data, '--force'])
    assert.equal(forced.stdout, first.stdout)
    assert.match(await readFile(policy, 'utf8'), /"default": "none"/)
    assert.equal((await stat(policy)).mode & 0o777, 0o600)
  })

  it('never writes through a symlink planted where a file goes (kept, its target untouched)', async () => {
    const root = await cli.tempDir()
    const data = join(root, 'gw')
    await mkdir(data, { mode: 0o700 })
    const target = join(root, 'elsewhere.json')
    await writeFile(target, 'not yours\n')
    await symlink(target, join(data, 'policy.json'))
    const r = await runInProcess(['init', '--data', data])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /kept .*policy\.json/)
    assert.equal(await readFile(target, 'utf8'), 'not yours\n')
  })

  it('device: an identity and the code to use it; no gateway files. A wrong KIND is a usage error', async () => {
    const data = join(await cli.tempDir(), 'dev')
    const r = await runInProcess(['init', 'device', '--data', data])
    assert.equal(r.code, 0, r.stderr)
    const peerId = /^device (12D3KooW\S+)$/m.exec(r.stdout)?.[1]
    assert.ok(peerId !== undefined, r.stdout)
    assert.match(r.stdout, new RegExp(`new FsStorageAdapter\\(${JSON.stringify(data).replace(/[/\\]/g, '\\$&')}\\)`))
    assert.equal((await runInProcess(['id', '--data', data])).stdout.trim(), peerId)
    await assert.rejects(stat(join(data, 'gateway.json')))
    const bad = await runInProcess(['init', 'fridge', '--data', data])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /KIND must be "gateway" or "device", not "fridge"/)
  })
})
