/**
 * Lifecycle: `stop()` undoes everything (a process whose nodes stopped exits
 * by itself), is idempotent, and what is used after it fails with named errors.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { connect, NodePool, waitFor } from './helpers/mesh-nodes.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/lifecycle-child.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url))
/** how long the process may take to exit once both stops resolved */
const EXIT_WITHIN_MS = 4000

interface ChildReport { stopped: boolean, mode: string, textLength: number, orphan: string, openFailures: number, peers: number[] }

describe('lifecycle', function () {
  this.timeout(30_000)
  const pool = new NodePool()
  let child: ChildProcess | undefined

  afterEach(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    child = undefined
    await pool.stopAll()
  })

  /**
   * Run the fixture; resolve with its report and how long it took to exit after
   * printing it. Rejects (after killing it) if it does not exit in time.
   */
  async function runFixture (mode: string): Promise<{ report: ChildReport, exitAfterMs: number, code: number | null, signal: string | null, stderr: string }> {
    const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    let stderr = ''
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const exited = new Promise<{ code: number | null, signal: string | null }>(resolve => {
      proc.once('exit', (code, signal) => { resolve({ code, signal }) })
    })
    const reported = new Promise<{ report: ChildReport, at: number }>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once('line', (line) => {
        try {
          resolve({ report: JSON.parse(line), at: Date.now() })
        } catch (err) {
          reject(new Error(`unexpected output from the fixture: ${line}`))
        }
      })
      void exited.then(({ code }) => { reject(new Error(`fixture exited (code ${code}) before reporting:\n${stderr}`)) })
    })
    const { report, at } = await reported
    const timer = new Promise<'timeout'>(resolve => setTimeout(() => { resolve('timeout') }, EXIT_WITHIN_MS).unref())
    const outcome = await Promise.race([exited, timer])
    if (outcome === 'timeout') {
      // give the fixture's own diagnostics (active resources, printed at 3 s) a moment, then kill it
      await new Promise(resolve => setTimeout(resolve, 300))
      proc.kill('SIGKILL')
      throw new Error(`the process was still alive ${EXIT_WITHIN_MS} ms after both nodes stopped (mode ${mode}):\n${stderr}`)
    }
    return { report, exitAfterMs: Date.now() - at, ...outcome, stderr }
  }

  const MODES: Record<string, string> = {
    synced: 'a process whose two nodes synced and then stopped exits by itself',
    busy: 'a process exits by itself when its nodes stop in the middle of a burst of edits and doc opens',
    dialing: 'a process exits by itself when stop() interrupts bootstrap redials and a dial that hangs'
  }
  for (const [mode, title] of Object.entries(MODES)) {
    it(title, async () => {
      const { report, exitAfterMs, code, signal, stderr } = await runFixture(mode)
      assert.equal(report.stopped, true)
      assert.equal(report.orphan, 'ClosedError', 'a whenSynced pending at stop rejects with ClosedError')
      assert.deepEqual(report.peers, [0, 0], 'no peers left after stop')
      assert.equal(report.openFailures, 0, 'opens issued before stop completed')
      assert.equal(signal, null, 'not killed')
      assert.equal(code, 0, `exit code 0; stderr:\n${stderr}`)
      assert.ok(exitAfterMs < EXIT_WITHIN_MS, `exited ${exitAfterMs} ms after stopping`)
    })
  }

  it('stop() is idempotent, also when called concurrently', async () => {
    const a = await pool.create()
    const b = await pool.create()
    await connect(b, a)
    await a.open('life/doc')
    await Promise.all([a.stop(), a.stop()])
    await a.stop()
    assert.equal(a.libp2p.status, 'stopped')
    assert.deepEqual(a.peers, [])
    assert.deepEqual(a.openDocs, [])
    await waitFor(() => b.peers.length === 0, { what: 'the peer to notice the stop' })
  })

  it('open() and dial() after stop reject with ClosedError', async () => {
    const a = await pool.create()
    const b = await pool.create()
    const h = await a.open('life/doc')
    await a.stop()
    await assert.rejects(a.open('life/doc'), { name: 'ClosedError' })
    await assert.rejects(a.open('life/other'), { name: 'ClosedError' })
    await assert.rejects(a.dial(b.multiaddrs[0]), { name: 'ClosedError' })
    assert.equal(h.closed, true, 'handles of a stopped node are closed')
    await assert.rejects(h.whenSynced({ timeout: 1000 }), { name: 'ClosedError' })
  })

  it('whenSynced with a timeout rejects with TimeoutError when no peer holds the doc', async () => {
    const a = await pool.create()
    const b = await pool.create()
    const h = await a.open('life/lonely')
    let t0 = Date.now()
    await assert.rejects(h.whenSynced({ timeout: 150 }), { name: 'TimeoutError' })
    assert.ok(Date.now() - t0 >= 140, `waited the timeout (${Date.now() - t0} ms)`)

    // connected, but the peer does not hold this doc: wait for its refusal
    // (a's SYNC1 answered by DENIED unavailable), which may land after connect()
    // resolves and would fail a whenSynced already waiting with DeniedError
    const denied = new Promise<void>(resolve => { h.once('denied', () => { resolve() }) })
    await connect(b, a)
    await denied
    t0 = Date.now()
    await assert.rejects(h.whenSynced({ timeout: 150 }), { name: 'TimeoutError' })
    await assert.rejects(h.whenSynced({ peer: b.peerId, timeout: 150 }), { name: 'TimeoutError' })
    assert.ok(Date.now() - t0 >= 280)

    // once it does, the same wait resolves
    await b.open('life/lonely')
    await h.whenSynced({ peer: b.peerId, timeout: 10_000 })
  })

  it('whenSynced rejects with AbortError when its signal aborts', async () => {
    const a = await pool.create()
    const h = await a.open('life/abort')
    const ctl = new AbortController()
    const p = h.whenSynced({ signal: ctl.signal })
    setTimeout(() => { ctl.abort() }, 20)
    await assert.rejects(p, { name: 'AbortError' })
    await assert.rejects(h.whenSynced({ signal: AbortSignal.abort() }), { name: 'AbortError' })
  })
})
