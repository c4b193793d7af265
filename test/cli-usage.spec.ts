/**
 * The `meshdoc` CLI as a user meets it, in real processes: help for every
 * command, exit codes, clear messages for bad flags and bad config files,
 * settings from the environment and a config file, and a stable identity.
 */
import assert from 'node:assert/strict'
import { existsSync, realpathSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CLI_LAUNCHER, CliProcesses } from './helpers/cli-process.js'
import { runInProcess } from './helpers/cli-inprocess.js'

const COMMANDS = ['gateway', 'id', 'status', 'export', 'import', 'keys', 'grant', 'revoke', 'init', 'ls', 'tail']

describe('meshdoc CLI: help, flags, config and exit codes', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  afterEach(async () => { await cli.killAll() })

  it('meshdoc --help lists every command and exits 0; no command at all is a usage error (2)', async () => {
    const [help, bare] = await Promise.all([cli.run(['--help']), cli.run([])])
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stdout, /^usage: meshdoc <command> \[options\]/)
    for (const c of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'), `--help lists ${c}`)
    assert.equal(help.stderr, '')
    assert.equal(bare.code, 2)
    assert.equal(bare.stdout, '', 'usage for a mistake goes to stderr, not stdout')
    assert.match(bare.stderr, /usage: meshdoc <command>/)
  })

  it('every command has --help on stdout, exit 0, naming its own options', async () => {
    const expected: Record<string, string[]> = {
      gateway: ['--data DIR', '--listen MULTIADDR', '--ws-port PORT', '--bootstrap MULTIADDR', '--mdns', '--admin HOST:PORT', '--allow PEERID', '--policy FILE', '--config FILE', '--verbose', 'MESHDOC_DATA',
        '--trust-owner PEERID', 'MESHDOC_TRUST_OWNER', '--grant-file FILE', '--revocation-file FILE', 'POST /revocations'],
      id: ['--data DIR', '--json'],
      status: ['--admin HOST:PORT', '--json'],
      export: ['DOC', '--update', '--out FILE', '--data DIR'],
      import: ['DOC FILE', '--data DIR'],
      keys: ['ACTION', '--out FILE', '--json'],
      grant: ['--key FILE', '--to PEERID', '--docs PATTERN', '--access read|write', '--expires DURATION', '--delegate', '--parent TOKEN', '--inspect TOKEN', 'meshdoc revoke', '--bearer', '--audience-key FILE', '--gateway PEERID', 'mdb1.'],
      revoke: ['TARGET', 'grant id (32 hex digits', 'mdg1.', 'mdb1.', 'PeerId', 'mdr1.', '--key FILE', '--admin HOST:PORT', '--timeout MS', '--revocation-file'],
      init: ['--data DIR', '--force'],
      ls: ['--data DIR', '--json'],
      tail: ['DOC', '--admin HOST:PORT', '--patch']
    }
    // in process: the same help a process prints (meshdoc --help above runs real processes), for 11 commands in well under a second
    const results = await Promise.all(COMMANDS.map(async c => await runInProcess([c, '--help'])))
    results.forEach((r, i) => {
      const c = COMMANDS[i]
      assert.equal(r.code, 0, `${c} --help: ${r.stderr}`)
      assert.equal(r.stderr, '', `${c} --help writes nothing to stderr`)
      assert.match(r.stdout, new RegExp(`^usage: meshdoc ${c}\\b`), `${c} --help starts with its usage line`)
      for (const s of expected[c]) assert.ok(r.stdout.includes(s), `${c} --help mentions ${s}:\n${r.stdout}`)
      assert.match(r.stdout, /exit status: 0 ok, 1 failure, 2 usage/)
    })
  })

  it('a mistyped flag exits 2 with a message naming the flag and the likely one; so does an unknown command', async () => {
    const [flag, cmd] = await Promise.all([
      cli.run(['gateway', '--lisen', '/ip4/127.0.0.1/tcp/0']),
      cli.run(['gatway'])
    ])
    assert.equal(flag.code, 2)
    assert.equal(flag.stdout, '')
    assert.match(flag.stderr, /^meshdoc gateway: unknown option --lisen \(did you mean --listen\?\)$/m)
    assert.match(flag.stderr, /Run 'meshdoc gateway --help' for usage/)
    assert.equal(cmd.code, 2)
    assert.match(cmd.stderr, /unknown command "gatway"/)
  })

  it('a bad config file is named in the error, exit 2 (more cases in cli-args.spec.ts)', async () => {
    const dir = await cli.tempDir()
    const badJson = join(dir, 'broken.json')
    await writeFile(badJson, '{ "data": "./x", }')
    const r = await cli.run(['gateway', '--config', badJson])
    assert.equal(r.code, 2, r.stderr)
    assert.equal(r.stdout, '')
    assert.ok(r.stderr.includes(`meshdoc gateway: config file ${badJson}: not valid JSON`), r.stderr)
  })

  it('meshdoc id prints the same PeerId twice for one data dir, another for another dir; --data may come from env or config', async () => {
    const dir = await cli.tempDir()
    const a = join(dir, 'a')
    const b = join(dir, 'b')
    const first = await cli.run(['id', '--create', '--data', a, '--verbose'])
    assert.equal(first.code, 0, first.stderr)
    const peerId = first.stdout.trim()
    assert.match(peerId, /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/, 'an Ed25519 PeerId on stdout, nothing else')
    assert.match(first.stderr, /^meshdoc: created a new identity/m)
    assert.match(first.stderr, /meshdoc:identity created a new identity/, '--verbose turns on meshdoc:* debug logs')

    const config = join(dir, 'meshdoc.json')
    await writeFile(config, JSON.stringify({ data: './a' })) // relative to the config file
    const [again, viaEnv, viaConfig, other] = await Promise.all([
      cli.run(['id', '--data', a]),
      cli.run(['id'], { env: { MESHDOC_DATA: a } }),
      cli.run(['id', '--config', config], { cwd: '/' }),
      cli.run(['id', '--create', '--data', b])
    ])
    assert.equal(again.stdout.trim(), peerId)
    assert.equal(again.stderr, '', 'the second run finds the key, and logs are quiet by default')
    assert.equal(viaEnv.stdout.trim(), peerId, 'MESHDOC_DATA')
    assert.equal(viaConfig.stdout.trim(), peerId, 'config file, relative path resolved against the file')
    assert.notEqual(other.stdout.trim(), peerId)
  })

  it('bin/meshdoc.js runs the CLI, also from another Node on the PATH (it re-runs itself on the project Node)', async () => {
    // a system Node (often older than 22) if there is one, else ours
    const other = ['/usr/bin/node', '/usr/local/bin/node'].find(p => existsSync(p) && realpathSync(p) !== realpathSync(process.execPath))
    const bad = await cli.run(['id', '--bogus'], { launcher: CLI_LAUNCHER, ...(other !== undefined ? { node: other } : {}) })
    assert.equal(bad.code, 2, 'exit codes pass through the launcher')
    assert.match(bad.stderr, /^meshdoc id: unknown option --bogus$/m)
  })
})
