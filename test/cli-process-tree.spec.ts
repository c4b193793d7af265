/**
 * One gateway process, and no orphan: `meshdoc gateway` started through the
 * launcher (bin/meshdoc.js) runs in the process the user started when that
 * Node is new enough; when it has to re-run on the project's own Node (a
 * checkout run with an older system Node), the child stops as soon as the
 * launcher dies, even by SIGKILL (as a supervisor or the OOM killer would do
 * it), so a restart on the same ports succeeds. Linux (/proc).
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CLI_LAUNCHER, CliProcesses, freePort } from './helpers/cli-process.js'

/** PIDs of the processes `pid` started (Linux). */
function childrenOf (pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
  return text === '' ? [] : text.split(/\s+/).map(Number)
}

function olderNode (): string | undefined {
  for (const path of [process.env.MESHDOC_OLD_NODE, '/usr/bin/node', '/usr/local/bin/node'].filter((p): p is string => p !== undefined)) {
    try {
      if (Number(execFileSync(path, ['--version'], { encoding: 'utf8' }).trim().slice(1).split('.')[0]) < 22) return path
    } catch { /* not there */ }
  }
  return undefined
}

async function gone (pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (!existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') === true) return true
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return false
}

describe('meshdoc gateway: one process, no orphan', function () {
  this.timeout(90_000)
  const cli = new CliProcesses()
  afterEach(async () => { await cli.killAll() })

  it('started with its V8 flag (NODE_OPTIONS) and its thread pool (UV_THREADPOOL_SIZE), as the systemd unit does, on Node 22 or newer, the launcher is the gateway: no second process, and kill -9 frees the ports at once', async () => {
    const data = await cli.tempDir()
    const ports = { tcp: await freePort(), ws: await freePort() }
    const gw = cli.gatewayAt(join(data, 'gw'), ports, [], { launcher: CLI_LAUNCHER, node: process.execPath, env: { NODE_OPTIONS: '--max-semi-space-size=2', UV_THREADPOOL_SIZE: '16' } })
    await gw.ready()
    const pid = gw.proc.pid!
    assert.deepEqual(childrenOf(pid), [], 'the process the user started runs the gateway itself')
    gw.proc.kill('SIGKILL')
    await gw.exited
    const again = cli.gatewayAt(join(data, 'gw'), ports, [], { launcher: CLI_LAUNCHER, node: process.execPath })
    await again.ready()
    assert.equal((await again.stop('SIGTERM')).code, 0)
  })

  for (const how of ['on this Node, for its V8 flag', 'on an older Node, re-run on the project\'s own'] as const) {
    it(`a gateway run as a child (${how}) stops when the launcher is killed with SIGKILL; a restart on the same ports succeeds`, async function () {
      const old = how.startsWith('on an older') ? olderNode() : process.execPath
      if (old === undefined) {
        console.log('      skipped: no Node.js older than 22 on this machine (MESHDOC_OLD_NODE names one)')
        this.skip()
      }
      await childDiesWithLauncher(old)
    })
  }

  async function childDiesWithLauncher (old: string): Promise<void> {
    const data = await cli.tempDir()
    const ports = { tcp: await freePort(), ws: await freePort() }
    const gw = cli.gatewayAt(join(data, 'gw'), ports, [], { launcher: CLI_LAUNCHER, node: old })
    await gw.ready()
    const launcher = gw.proc.pid!
    const [child] = childrenOf(launcher)
    assert.ok(child !== undefined, 'the launcher re-ran the CLI on the project\'s Node')
    // libuv's thread pool, sized for a gateway's fsyncs (bin/meshdoc.js), unless the user sized it
    const env = readFileSync(`/proc/${child}/environ`, 'utf8').split('\0')
    assert.ok(env.includes(`UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '16'}`), 'the gateway runs with UV_THREADPOOL_SIZE set')
    gw.proc.kill('SIGKILL')
    await gw.exited
    assert.ok(await gone(child, 15_000), `the gateway (pid ${child}) outlived its launcher`)
    const again = cli.gatewayAt(join(data, 'gw'), ports, [], { launcher: CLI_LAUNCHER, node: old })
    await again.ready()
    assert.equal((await again.stop('SIGTERM')).code, 0)
  }

  it('started through npm (npx meshdoc gateway), it stops cleanly when npm dies without passing the signal on: no orphan holds the ports', async () => {
    const data = await cli.tempDir()
    const ports = { tcp: await freePort(), ws: await freePort() }
    // a stand-in for npm exec: starts the bin with npm's environment, then dies (as npm does on SIGTERM) without signalling its child
    const npm = spawn(process.execPath, ['-e', `
      const { spawn } = require('node:child_process')
      const child = spawn(process.execPath, ${JSON.stringify([CLI_LAUNCHER, 'gateway', '--data', join(data, 'gw'), '--listen', `/ip4/127.0.0.1/tcp/${ports.tcp}`, '--ws-port', String(ports.ws), '--admin', 'none'])},
        { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, npm_command: 'exec' } })
      console.log('launcher ' + child.pid)
      process.stdin.once('data', () => process.exit(0))
    `], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stderr = ''
    npm.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const launcher = await new Promise<number>((resolve, reject) => {
      npm.stdout.on('data', (c: Buffer) => { const m = /launcher (\d+)/.exec(c.toString()); if (m !== null) resolve(Number(m[1])) })
      npm.on('exit', () => { reject(new Error(`npm stand-in exited: ${stderr}`)) })
    })
    const deadline = Date.now() + 30_000
    while (!stderr.includes('listening on')) {
      assert.ok(Date.now() < deadline, `the gateway never started: ${stderr}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const tree = [launcher, ...childrenOf(launcher)]
    npm.stdin.write('die\n')
    for (const pid of tree) assert.ok(await gone(pid, 15_000), `pid ${pid} of the gateway outlived npm:\n${stderr}`)
    assert.match(stderr, /SIGTERM: flushing documents/, 'it stopped as on SIGTERM: flushed, said BYE')
    const again = cli.gatewayAt(join(data, 'gw'), ports, [], { launcher: CLI_LAUNCHER, node: process.execPath })
    await again.ready()
    assert.equal((await again.stop('SIGTERM')).code, 0)
  })
})
