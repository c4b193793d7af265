/**
 * A Node.js too old for meshdoc (libp2p 3 needs 22) gets one clear error, from
 * the library and from the `meshdoc` launcher, instead of a node that starts
 * and then fails every connection. Run under the machine's own Node (Debian's
 * 20 here; `MESHDOC_OLD_NODE` names another), and skipped, saying so, when
 * there is no Node older than 22 to run.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { REPO_ROOT } from './helpers/cli-process.js'

function oldNode (): { path: string, version: string } | undefined {
  for (const path of [process.env.MESHDOC_OLD_NODE, '/usr/bin/node', '/usr/local/bin/node'].filter((p): p is string => p !== undefined)) {
    try {
      const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim()
      if (Number(version.slice(1).split('.')[0]) < 22) return { path, version }
    } catch { /* not there */ }
  }
  return undefined
}

describe('a Node.js older than 22', function () {
  this.timeout(60_000)
  const old = oldNode()
  before(function () {
    if (old === undefined) {
      console.log('      skipped: no Node.js older than 22 on this machine (MESHDOC_OLD_NODE names one)')
      this.skip()
    }
  })

  it('createMeshNode rejects with an error that says which Node to install, and starts nothing', () => {
    const loader = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href
    const entry = pathToFileURL(join(REPO_ROOT, 'adapters', 'presets', 'node.ts')).href
    const script = `import { createMeshNode } from '${entry}'
try { const n = await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0'] }); console.log('STARTED ' + n.peerId); await n.stop() } catch (e) { console.log('ERROR ' + e.message); process.exit(3) }`
    const r = spawnSync(old!.path, ['--import', loader, '--input-type=module', '-e', script], { encoding: 'utf8', cwd: tmpdir(), timeout: 50_000 })
    assert.equal(r.status, 3, `exit ${r.status}: ${r.stdout}${r.stderr}`)
    assert.match(r.stdout, /ERROR meshdoc needs Node\.js 22 or newer/)
    assert.ok(r.stdout.includes(old!.version.slice(1)), `the error names the running version: ${r.stdout}`)
  })

  it('the meshdoc launcher, installed as a package with no Node of its own, says to install Node 22 and not to run `npm ci` in node_modules', () => {
    const app = mkdtempSync(join(tmpdir(), 'meshdoc-old-node-'))
    try {
      const pkg = join(app, 'node_modules', 'meshdoc')
      mkdirSync(join(pkg, 'bin'), { recursive: true })
      cpSync(join(REPO_ROOT, 'bin', 'meshdoc.js'), join(pkg, 'bin', 'meshdoc.js'))
      cpSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'))
      const r = spawnSync(old!.path, [join(pkg, 'bin', 'meshdoc.js'), '--help'], { encoding: 'utf8', cwd: app, timeout: 20_000 })
      assert.equal(r.status, 1, `exit ${r.status}: ${r.stdout}${r.stderr}`)
      assert.match(r.stderr, /needs Node\.js 22 or newer/)
      assert.match(r.stderr, /Install Node\.js 22 or newer/)
      assert.doesNotMatch(r.stderr, /npm ci/, 'nothing to `npm ci` inside node_modules')
    } finally {
      rmSync(app, { recursive: true, force: true })
    }
  })
})
