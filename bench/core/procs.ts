/**
 * The runner's side of child processes: spawn a role (`bench/child.ts`) as a
 * separate Node process with `--import tsx`, call its commands, and make sure
 * every child is gone at the end, even when a scenario fails.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CallMessage, FailedMessage, ReadyMessage, ReplyMessage } from './rpc.js'

const CHILD = fileURLToPath(new URL('../child.ts', import.meta.url))

/** roles whose UsageMeter profiles just the measured window; the others get --cpu-prof for their whole life */
const WINDOWED = new Set(['mesh', 'floor', 'yws-server', 'yws-client', 'yws-batched', 'yws-raw-server', 'yws-gateway'])

export interface ChildSettings {
  /** labels (or label prefixes) of children to run with --cpu-prof */
  cpuProf: string[]
  /** where CPU profiles go */
  profileDir: string
  /** forward children's stdout/stderr */
  verbose: boolean
}

const settings: ChildSettings = { cpuProf: [], profileDir: 'bench/results/profiles', verbose: false }
const live = new Set<Child>()
let profileSeq = 0

export function configureChildren (s: Partial<ChildSettings>): void {
  Object.assign(settings, s)
}

export class Child {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  private readonly tail: string[] = []
  readonly exited: Promise<number | null>
  info: any = undefined

  constructor (readonly label: string, readonly proc: ChildProcess) {
    const keep = (chunk: Buffer): void => {
      const s = chunk.toString()
      if (settings.verbose) process.stderr.write(s.replace(/^/gm, `  [${label}] `))
      this.tail.push(s)
      if (this.tail.length > 40) this.tail.shift()
    }
    proc.stdout?.on('data', keep)
    proc.stderr?.on('data', keep)
    proc.on('message', (raw) => {
      const msg = raw as ReplyMessage
      const p = this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id)
      if (msg.ok) p.resolve(msg.result)
      else p.reject(new Error(`${label}: ${msg.error}`))
    })
    this.exited = new Promise(resolve => {
      proc.on('exit', (code) => {
        live.delete(this)
        for (const p of this.pending.values()) p.reject(new Error(`${label} exited (code ${code})\n${this.output()}`))
        this.pending.clear()
        resolve(code)
      })
    })
  }

  /** The last lines the child printed (for error messages). */
  output (): string {
    return this.tail.join('').split('\n').slice(-30).join('\n')
  }

  /** Call a command; rejects on error, child exit, or after `timeoutMs`. */
  async call<T = any> (cmd: string, args: unknown = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++
    const msg: CallMessage = { id, cmd, args }
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      return await new Promise<T>((resolve, reject) => {
        this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
        timer = setTimeout(() => {
          this.pending.delete(id)
          reject(new Error(`${this.label}: ${cmd} timed out after ${timeoutMs} ms\n${this.output()}`))
        }, timeoutMs)
        this.proc.send(msg, (err) => {
          if (err != null) { this.pending.delete(id); reject(err) }
        })
      })
    } finally {
      clearTimeout(timer)
    }
  }

  /** Ask the child to exit cleanly (profiles get written); kill it if it does not within `graceMs`. */
  async exit (graceMs = 8000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    this.call('exit', {}, graceMs).catch(() => {})
    const t = setTimeout(() => { this.kill() }, graceMs)
    await this.exited
    clearTimeout(t)
  }

  kill (): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL')
  }
}

function wantsProfile (label: string): boolean {
  return settings.cpuProf.some(sel => sel === '*' || label === sel || label.startsWith(sel.endsWith('/') ? sel : `${sel}/`))
}

/** Start `role` in a new process and wait until it is ready. */
export async function spawnRole (label: string, role: string, opts: unknown = {}, readyTimeoutMs = 60_000): Promise<Child> {
  // --expose-gc: every role collects garbage at its mark (UsageMeter.mark), so the
  // harness's own garbage (the parsed trace) is not collected inside a measured window.
  // MESHDOC_BENCH_NODE_FLAGS: extra flags for every child (e.g. --trace-gc), split on spaces
  const execArgv = ['--import', 'tsx', '--expose-gc', ...(process.env.MESHDOC_BENCH_NODE_FLAGS ?? '').split(' ').filter(f => f !== '')]
  const env = { ...process.env }
  if (wantsProfile(label)) {
    mkdirSync(settings.profileDir, { recursive: true })
    const name = `${label.replace(/[^\w.-]+/g, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}-${profileSeq++}.cpuprofile`
    if (WINDOWED.has(role)) {
      // the role profiles exactly its measured window (mark .. report)
      env.MESHDOC_BENCH_PROFILE = join(settings.profileDir, name)
    } else {
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${settings.profileDir}`, `--cpu-prof-name=${name}`)
    }
  }
  const proc = fork(CHILD, [role, JSON.stringify(opts)], {
    execPath: process.execPath,
    execArgv,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced'
  })
  const child = new Child(label, proc)
  live.add(child)
  try {
    child.info = await new Promise((resolve, reject) => {
      const t = setTimeout(() => { reject(new Error(`${label}: not ready after ${readyTimeoutMs} ms\n${child.output()}`)) }, readyTimeoutMs)
      proc.on('message', (raw) => {
        const m = raw as ReadyMessage | FailedMessage
        if (m.type === 'ready') { clearTimeout(t); resolve(m.info) }
        if (m.type === 'failed') { clearTimeout(t); reject(new Error(`${label} failed to start: ${m.error}`)) }
      })
      void child.exited.then(code => { clearTimeout(t); reject(new Error(`${label} exited during start (code ${code})\n${child.output()}`)) })
    })
  } catch (err) {
    child.kill()
    throw err
  }
  return child
}

/** Exit (then kill) every child still running. */
export async function exitAll (): Promise<void> {
  await Promise.all([...live].map(async c => { await c.exit(3000) }))
}

/** Kill every child now (signal handlers, fatal errors). */
export function killAll (): void {
  for (const c of live) c.kill()
}
