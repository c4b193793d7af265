/**
 * The test-process side of `child-node.ts`: spawns a meshdoc node in a separate
 * OS process (`process.execPath --import tsx`) and sends it typed requests.
 * `kill()` is safe to call at any time and is what tests call in cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildRequests } from './child-node.js'

const CHILD_SCRIPT = fileURLToPath(new URL('./child-node.ts', import.meta.url))
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

interface Pending { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout> }

export interface ExitInfo { code: number | null, signal: NodeJS.Signals | null }

export class ChildNode {
  private readonly proc: ChildProcess
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private stderr = ''
  /** resolves when the process has exited */
  readonly exited: Promise<ExitInfo>
  exit: ExitInfo | undefined

  constructor (readonly name: string) {
    this.proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD_SCRIPT], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    this.proc.stderr!.setEncoding('utf8')
    this.proc.stderr!.on('data', (chunk: string) => { this.stderr = (this.stderr + chunk).slice(-8000) })
    createInterface({ input: this.proc.stdout! }).on('line', (line) => { this.onLine(line) })
    this.exited = new Promise(resolve => {
      this.proc.once('exit', (code, signal) => {
        this.exit = { code, signal }
        for (const [id, p] of this.pending) {
          clearTimeout(p.timer)
          p.reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) before answering request ${id}${this.stderrTail()}`))
        }
        this.pending.clear()
        resolve(this.exit)
      })
    })
    // a broken pipe after the child died is reported through the pending requests
    this.proc.stdin!.on('error', () => {})
    // could not start at all: no 'exit' follows, so end it here
    this.proc.once('error', (err) => {
      this.stderr += `\n[spawn error] ${err.message}`
      if (this.proc.pid === undefined) this.proc.emit('exit', null, null)
    })
  }

  /** Send one request and wait for its reply (rejects with the child's error name and message). */
  async request<K extends keyof ChildRequests>(cmd: K, args: ChildRequests[K]['args'], timeout = 15_000): Promise<ChildRequests[K]['result']> {
    if (this.exit !== undefined) throw new Error(`${this.name} has exited`)
    const id = this.nextId++
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.name} did not answer ${cmd} within ${timeout} ms${this.stderrTail()}`))
      }, timeout)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.proc.stdin!.write(JSON.stringify({ id, cmd, ...args }) + '\n')
    })
  }

  private onLine (line: string): void {
    let msg: { id: number, ok: boolean, result?: unknown, error?: { name: string, message: string } }
    try {
      msg = JSON.parse(line)
    } catch {
      this.stderr += `\n[unparseable stdout line] ${line}`
      return
    }
    const p = this.pending.get(msg.id)
    if (p === undefined) return
    this.pending.delete(msg.id)
    clearTimeout(p.timer)
    if (msg.ok) {
      p.resolve(msg.result)
    } else {
      const err = new Error(`${this.name}: ${msg.error?.message ?? 'unknown error'}`)
      err.name = msg.error?.name ?? 'Error'
      p.reject(err)
    }
  }

  private stderrTail (): string {
    return this.stderr.length > 0 ? `\n--- ${this.name} stderr ---\n${this.stderr}` : ''
  }

  /** Kill the process (SIGKILL) unless it already exited; resolves once it is gone. */
  async kill (): Promise<void> {
    if (this.exit === undefined) this.proc.kill('SIGKILL')
    await this.exited
  }
}
