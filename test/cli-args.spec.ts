/**
 * The CLI's option handling, run in-process (fast): where each setting comes
 * from (flag > env > config file > default), config and policy files that are
 * wrong, usage errors found before anything starts, and the progress bar.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { COMMON_OPTIONS, parseCommand } from '../lib/cli/args.js'
import type { CommandSpec } from '../lib/cli/option-spec.js'
import { parseHostPort } from '../lib/cli/admin-server.js'
import { listenAddrs } from '../lib/cli/listen.js'
import { policyFrom } from '../lib/cli/node-inputs.js'
import { Progress } from '../lib/cli/progress.js'
import { docKeyFor, docKeyHex } from '../adapters/presets/node.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { REPO_ROOT } from './helpers/cli-process.js'
import { ALL_OPTIONS, COMMANDS } from '../lib/cli/main.js'

const SPEC: CommandSpec = {
  name: 'demo',
  summary: 'a command for the test',
  positionals: [{ name: 'DOC', required: false, description: 'a doc' }],
  options: {
    data: { type: 'string', path: true, description: 'dir' },
    listen: { type: 'string', multiple: true, default: ['/ip4/0.0.0.0/tcp/4001'], description: 'addr' },
    mdns: { type: 'boolean', description: 'mdns' },
    'ws-port': { type: 'string', default: '4002', description: 'ws' }
  }
}
const KNOWN = new Set([...Object.keys(COMMON_OPTIONS), ...Object.keys(SPEC.options), 'admin'])

/** PeerIds for policy rules (a rule's PeerIds are parsed: a typo, or a placeholder, is an error) */
const SENSOR = '12D3KooWBSeaqHF64dgbtrgESoJ5Rw3Rmi89aQZ6XKX6wyfveXMQ'
const DASHBOARD = '12D3KooWKCRo5GhnbiT2mHmTnxpjigjGMqDMhhyAb4zgw3sbn34v'
const OTHER_GATEWAY = '12D3KooW9tBv7aNBpkBqCHsEVaoj7pSNJZzfKMcyju481g4qntan'
describe('meshdoc CLI: options, config files, progress (in-process)', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'meshdoc-args-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof parseCommand> =>
    parseCommand(SPEC, argv, { env, cwd: dir, allKnownOptions: KNOWN })

  it('a flag beats the environment, which beats the config file, which beats the default', async () => {
    const config = join(dir, 'c.json')
    await writeFile(config, JSON.stringify({ data: 'from-config', wsPort: 5000, mdns: true, listen: '/ip4/127.0.0.1/tcp/1', admin: '127.0.0.1:1' }))
    const fromFile = parse(['--config', config])
    assert.equal(fromFile.values.data, join(dir, 'from-config'), 'config paths resolve against the file')
    assert.equal(fromFile.values['ws-port'], '5000', 'camelCase keys and numbers are accepted')
    assert.deepEqual(fromFile.values.listen, ['/ip4/127.0.0.1/tcp/1'])
    assert.equal(fromFile.values.mdns, true)
    assert.equal(fromFile.values.admin, undefined, "another command's setting is ignored, not an error")

    const env = { MESHDOC_DATA: 'from-env', MESHDOC_LISTEN: '/ip4/127.0.0.1/tcp/2, /ip4/127.0.0.1/tcp/3', MESHDOC_MDNS: 'no', MESHDOC_CONFIG: config }
    const fromEnv = parse([], env)
    assert.equal(fromEnv.values.data, join(dir, 'from-env'))
    assert.deepEqual(fromEnv.values.listen, ['/ip4/127.0.0.1/tcp/2', '/ip4/127.0.0.1/tcp/3'], 'lists are comma-separated in env')
    assert.equal(fromEnv.values.mdns, false)
    assert.equal(fromEnv.values['ws-port'], '5000', 'MESHDOC_CONFIG names the config file')

    const fromFlag = parse(['--data', 'from-flag', '--listen', '/ip4/127.0.0.1/tcp/4', '--mdns'], env)
    assert.equal(fromFlag.values.data, join(dir, 'from-flag'))
    assert.deepEqual(fromFlag.values.listen, ['/ip4/127.0.0.1/tcp/4'])
    assert.equal(fromFlag.sources.data, 'flag')
    assert.equal(fromFlag.sources.listen, 'flag')

    const defaults = parse([])
    assert.deepEqual(defaults.values.listen, ['/ip4/0.0.0.0/tcp/4001'])
    assert.equal(defaults.sources.listen, 'default')
  })

  it('config file errors name the file and the setting', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ colour: 'blue' }, /unknown setting "colour"/],
      [{ mdns: 'yes' }, /"mdns" must be true or false/],
      [{ listen: [{}] }, /"listen" must be a string or an array of strings/],
      [{ data: ['a', 'b'] }, /"data" must be a single value/],
      [{ help: true }, /unknown setting "help"/],
      [[1, 2], /must hold one JSON object/]
    ]
    for (const [content, re] of cases) {
      const f = join(dir, 'bad.json')
      await writeFile(f, JSON.stringify(content))
      assert.throws(() => parse(['--config', f]), (err: Error) => {
        assert.equal(err.name, 'ConfigError')
        assert.ok(err.message.startsWith(`config file ${f}: `), err.message)
        assert.match(err.message, re)
        return true
      }, JSON.stringify(content))
    }
    assert.throws(() => parse([], { MESHDOC_MDNS: 'perhaps' }), /MESHDOC_MDNS=perhaps is not a boolean/)
  })

  it('usage errors exit 2 before anything starts: missing or extra arguments, bad values', async () => {
    const missing = await runInProcess(['export'])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /^meshdoc export: missing argument: DOC$/m)
    const extra = await runInProcess(['import', 'a', 'b', 'c'])
    assert.equal(extra.code, 2)
    assert.match(extra.stderr, /unexpected argument: c/)
    const port = await runInProcess(['gateway', '--data', join(dir, 'never'), '--ws-port', 'eighty'])
    assert.equal(port.code, 2)
    assert.match(port.stderr, /--ws-port must be a port number .*"eighty"/)
    const admin = await runInProcess(['gateway', '--data', join(dir, 'never'), '--admin', 'localhost'])
    assert.equal(admin.code, 2)
    assert.match(admin.stderr, /--admin must be HOST:PORT/)
    const addr = await runInProcess(['gateway', '--data', join(dir, 'never'), '--listen', 'tcp://4001'])
    assert.equal(addr.code, 2)
    assert.match(addr.stderr, /--listen: "tcp:\/\/4001" is not a multiaddr/)
    const value = await runInProcess(['id', '--data'])
    assert.equal(value.code, 2)
    assert.match(value.stderr, /option --data.* needs a value|argument missing/)
  })

  it('a policy file that is wrong is named in the error (exit 2); exact doc ids also match their key form', async () => {
    const bad = join(dir, 'policy.json')
    await writeFile(bad, JSON.stringify({ rules: [{ peers: '*', docs: 'a/**', access: 'admin' }] }))
    const r = await runInProcess(['gateway', '--data', join(dir, 'never'), '--policy', bad])
    assert.equal(r.code, 2)
    assert.ok(r.stderr.includes(`policy file ${bad}: rule 0: access must be none, read or write`), r.stderr)

    const good = join(dir, 'good.json')
    await writeFile(good, JSON.stringify({ default: 'none', rules: [{ peers: [SENSOR], docs: ['sensors/dev-1', 'public/**'], access: 'write' }] }))
    const policy = policyFrom(good, 'fleet secret')!
    const key = `key:${docKeyHex(docKeyFor('sensors/dev-1', new TextEncoder().encode('fleet secret')))}`
    assert.equal(policy(SENSOR, 'sensors/dev-1'), 'write')
    assert.equal(policy(SENSOR, key), 'write', 'a doc served by key is matched by its exact id')
    assert.equal(policy(SENSOR, `key:${docKeyHex(docKeyFor('sensors/dev-1'))}`), 'none', 'the key depends on the mesh key')
    assert.equal(policy(DASHBOARD, key), 'none')
    assert.equal(policy(SENSOR, 'public/x/y'), 'write')
  })

  it('a data directory others can read gets a warning (it holds the private key); a new one is created 0700', async () => {
    const open = join(dir, 'open')
    await mkdir(open, { mode: 0o755 })
    await chmod(open, 0o755)
    const r = await runInProcess(['id', '--create', '--data', open])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.stderr.includes(`warning: other users can read ${open}`), r.stderr)
    const fresh = join(dir, 'fresh')
    const f = await runInProcess(['id', '--create', '--data', fresh])
    assert.doesNotMatch(f.stderr, /warning/)
    assert.equal((await stat(fresh)).mode & 0o777, 0o700)
  })

  it('a data directory that cannot be created fails with exit 1 and names it', async () => {
    const file = join(dir, 'a-file')
    await writeFile(file, 'not a directory')
    const r = await runInProcess(['id', '--create', '--data', join(file, 'data')])
    assert.equal(r.code, 1, r.stderr)
    assert.equal(r.stdout, '')
    assert.ok(r.stderr.includes(`meshdoc id: cannot open the data directory ${join(file, 'data')}: ENOTDIR`), r.stderr)
  })

  it('listen addresses: a WebSocket listener on the first TCP host unless disabled; HOST:PORT parsing', () => {
    assert.deepEqual(listenAddrs(['/ip4/127.0.0.1/tcp/4001'], '4002'), ['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4002/ws'])
    assert.deepEqual(listenAddrs(['/ip4/127.0.0.1/tcp/4001'], 'none'), ['/ip4/127.0.0.1/tcp/4001'])
    assert.deepEqual(listenAddrs(['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/9/ws'], '4002'), ['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/9/ws'])
    assert.deepEqual(parseHostPort('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 })
    assert.deepEqual(parseHostPort('[::1]:9464'), { host: '::1', port: 9464 })
    assert.deepEqual(parseHostPort('9464'), { host: '127.0.0.1', port: 9464 })
    assert.throws(() => parseHostPort('127.0.0.1:99999'), { name: 'UsageError' })
  })

  it('the progress bar draws bytes, docs and a bar on a TTY, erases itself, and writes nothing elsewhere', () => {
    let t = 0
    const tty = { isTTY: true, columns: 100, out: '', write (s: string) { this.out += s } }
    const p = new Progress(tty, { label: 'import notes', now: () => t })
    p.update({ bytes: 512 * 1024, totalBytes: 1024 * 1024, docs: 0, totalDocs: 1, phase: 'reading' })
    // eslint-disable-next-line no-control-regex -- the progress bar's ESC [K (erase line) is what is tested
    assert.match(tty.out, /^\rimport notes {2}reading {2}\[#{15}-{15}\] 50% {2}512 KiB \/ 1\.0 MiB {2}0 \/ 1 doc\x1b\[K$/)
    t = 50
    p.update({ bytes: 1024 * 1024 })
    assert.equal(tty.out.split('\r').length, 2, 'redraws are throttled')
    t = 2000
    p.update({ bytes: 1024 * 1024, docs: 1 })
    // eslint-disable-next-line no-control-regex -- the progress bar's ESC [K (erase line) is what is tested
    assert.match(tty.out, /100% .* 1 \/ 1 doc {2}512 KiB\/s\x1b\[K$/)
    p.done('done')
    assert.ok(tty.out.endsWith('\r\x1b[Kdone\n'), 'the bar is erased before the final line')

    const pipe = { isTTY: false, out: '', write (s: string) { this.out += s } }
    const q = new Progress(pipe, { label: 'x' })
    q.update({ bytes: 1 }, true)
    q.done('bye')
    assert.equal(pipe.out, '', 'nothing at all when not a terminal')
  })

  it('the example gateway config and policy are valid', () => {
    const example = join(REPO_ROOT, 'examples', 'iot-gateway')
    const parsed = parseCommand(COMMANDS.gateway.spec, ['--config', join(example, 'gateway.json')], { env: {}, cwd: dir, allKnownOptions: ALL_OPTIONS })
    assert.equal(parsed.values.data, '/var/lib/meshdoc')
    assert.equal(parsed.values.mdns, true)
    assert.equal(parsed.values['ws-port'], '4002')
    assert.equal(parsed.sources.admin, 'config')
    // as shipped, its placeholders are refused, naming the first: a copy not filled in never starts silently
    const shipped = join(example, 'policy.example.json')
    assert.throws(() => policyFrom(shipped), /rule 0: "12D3KooWOtherGatewayPeerIdx+" is not a PeerId/)
    // filled in with the fleet's PeerIds, as its $comment says, it is valid and means what it says
    const filled = join(dir, 'policy.filled.json')
    const text = readFileSync(shipped, 'utf8')
      .replace('12D3KooWOtherGatewayPeerIdxxxxxxxxxxxxxxxxxxxxxxxxxx', OTHER_GATEWAY)
      .replace('12D3KooWSensorDev1PeerIdxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', SENSOR)
      .replace('12D3KooWDashboardPeerIdxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', DASHBOARD)
    writeFileSync(filled, text)
    const policy = policyFrom(filled)!
    assert.equal(policy(SENSOR, 'sensors/dev-1'), 'write')
    assert.equal(policy(SENSOR, 'sensors/dev-2'), 'none')
    assert.equal(policy(DASHBOARD, `key:${docKeyHex(docKeyFor('sensors/dev-1'))}`), 'read')
    assert.equal(policy(OTHER_GATEWAY, 'anything/at/all'), 'write')
  })

  it('a port already in use fails with exit 1 and says which (admin port, listen address)', async () => {
    const busy = createServer()
    await new Promise<void>(resolve => { busy.listen(0, '127.0.0.1', resolve) })
    const port = (busy.address() as { port: number }).port
    try {
      const admin = await runInProcess(['gateway', '--data', join(dir, 'a'), '--listen', '/ip4/127.0.0.1/tcp/0', '--ws-port', 'none', '--admin', `127.0.0.1:${port}`])
      assert.equal(admin.code, 1, admin.stderr)
      assert.ok(admin.stderr.includes(`meshdoc gateway: cannot open the admin port 127.0.0.1:${port}: EADDRINUSE`), admin.stderr)
      const tcp = await runInProcess(['gateway', '--data', join(dir, 'b'), '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--ws-port', 'none', '--admin', 'none'])
      assert.equal(tcp.code, 1, tcp.stderr)
      assert.equal(tcp.stderr.split('\n').filter(l => l.startsWith('meshdoc gateway:')).join('\n'), `meshdoc gateway: cannot start the node on /ip4/127.0.0.1/tcp/${port}: /ip4/127.0.0.1/tcp/${port}: address already in use (EADDRINUSE)`)
    } finally {
      busy.close()
    }
  })
})
