/**
 * Running the `meshdoc` CLI as a user does: separate processes, real exit
 * codes, stdout and stderr kept apart. `CliProcesses` remembers every process
 * it started and `killAll()` (call it in afterEach) SIGKILLs whatever is left,
 * even when a test failed half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const CLI_TS = join(REPO_ROOT, 'bin', 'meshdoc.ts')
export const CLI_LAUNCHER = join(REPO_ROOT, 'bin', 'meshdoc.js')
/** tsx by absolute URL, so the CLI can run from any working directory */
const TSX = import.meta.resolve('tsx')
const CLI_BUILT = join(REPO_ROOT, 'dist', 'cli', 'meshdoc.js')

/**
 * How a test starts the CLI: the built one (dist/cli/meshdoc.js, the code a
 * user's package runs) when it is newer than every source file, as after
 * `npm test`'s build step; else the sources through tsx. Both run the same
 * sources; the built one starts in about half the time, which over the
 * suite's ~150 CLI processes is about two minutes. MESHDOC_TEST_CLI=tsx
 * forces the sources.
 */
const CLI_ARGV: string[] = process.env.MESHDOC_TEST_CLI !== 'tsx' && builtIsFresh() ? [CLI_BUILT] : ['--import', TSX, CLI_TS]

function builtIsFresh (): boolean {
  if (!existsSync(CLI_BUILT)) return false
  const limit = statSync(CLI_BUILT).mtimeMs
  const newer = (path: string): boolean => {
    const st = statSync(path)
    return st.isDirectory() ? readdirSync(path).some(name => newer(join(path, name))) : st.mtimeMs > limit
  }
  return ![CLI_TS, join(REPO_ROOT, 'lib'), join(REPO_ROOT, 'adapters')].some(newer)
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** stdout as raw bytes (for `export --update`) */
  stdoutBytes: Buffer
}

export interface RunOptions {
  env?: Record<string, string | undefined>
  cwd?: string
  /** bytes written to stdin, which is then closed */
  input?: Uint8Array | string
  timeout?: number
  /** run through bin/meshdoc.js instead of `node --import tsx bin/meshdoc.ts` */
  launcher?: string
  /** the Node binary to start (default: the one running the tests) */
  node?: string
  /** start it in its own process group, and kill the whole group (for programs that start others) */
  group?: boolean
}

/** A clean environment: no MESHDOC_* or DEBUG from the developer's shell leaks into a test. */
function cleanEnv (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MESHDOC_') && k !== 'DEBUG') env[k] = v
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  return env
}

export class GatewayProcess {
  private readonly out: Buffer[] = []
  private err = ''
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  exit: { code: number | null, signal: NodeJS.Signals | null } | undefined

  constructor (readonly proc: ChildProcess, private readonly group = false) {
    proc.stderr!.setEncoding('utf8')
    proc.stdout!.on('data', (c: Buffer) => { this.out.push(c) })
    proc.stderr!.on('data', (c: string) => { this.err += c })
    this.exited = new Promise(resolve => {
      proc.once('close', (code, signal) => { this.exit = { code, signal }; resolve(this.exit) })
    })
  }

  get stdout (): string { return this.stdoutBytes.toString('utf8') }
  get stdoutBytes (): Buffer { return Buffer.concat(this.out) }
  get stderr (): string { return this.err }

  /** Resolve with the first stderr match of `re`, or reject on exit or timeout (with the output so far). */
  async waitForStderr (re: RegExp, timeout = 30_000): Promise<RegExpExecArray> {
    return await this.waitForOutput('stderr', re, timeout)
  }

  async waitForOutput (stream: 'stdout' | 'stderr', re: RegExp, timeout = 30_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeout
    while (true) {
      const m = re.exec(stream === 'stdout' ? this.stdout : this.err)
      if (m !== null) return m
      const both = `\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.err}`
      if (this.exit !== undefined) throw new Error(`process exited (${JSON.stringify(this.exit)}) before printing ${re}${both}`)
      if (Date.now() > deadline) throw new Error(`process did not print ${re} within ${timeout} ms${both}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /** Wait until it is up: returns its PeerId, TCP and WebSocket multiaddrs (ws: '' without one) and admin URL. */
  async ready (timeout = 30_000): Promise<{ peerId: string, tcp: string, ws: string, admin: string }> {
    const admin = (await this.waitForStderr(/admin (http:\/\/\S+)/, timeout))[1]
    const peerId = (await this.waitForStderr(/gateway (\S+) \(data/, 1000))[1]
    const tcp = (await this.waitForStderr(/listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/, 1000))[1]
    const ws = /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/\S+)/.exec(this.stderr)?.[1] ?? ''
    return { peerId, tcp, ws, admin }
  }

  /** Send `signal` and wait for the exit (SIGKILL after `timeout`). */
  async stop (signal: NodeJS.Signals = 'SIGTERM', timeout = 25_000): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
    if (this.exit !== undefined) return this.exit
    this.proc.kill(signal)
    const timer = setTimeout(() => { this.proc.kill('SIGKILL') }, timeout)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }

  async kill (): Promise<void> {
    if (this.group && this.proc.pid !== undefined) {
      // the group's other members (grandchildren) too, even when the leader is gone
      try { process.kill(-this.proc.pid, 'SIGKILL') } catch {}
    } else if (this.exit === undefined) {
      this.proc.kill('SIGKILL')
    }
    await this.exited
  }
}

export class CliProcesses {
  private readonly procs = new Set<GatewayProcess>()
  /** process groups are killed at the end even if their leader exited (a grandchild may live on) */
  private readonly groups = new Set<GatewayProcess>()
  private readonly dirs: string[] = []

  /** A fresh temporary directory, removed in `killAll()`. */
  async tempDir (prefix = 'meshdoc-cli-'): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.push(d)
    return d
  }

  private spawnCli (args: string[], opts: RunOptions): GatewayProcess {
    const argv = opts.launcher !== undefined ? [opts.launcher, ...args] : [...CLI_ARGV, ...args]
    const proc = spawn(opts.node ?? process.execPath, argv, { cwd: opts.cwd ?? REPO_ROOT, env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'] })
    const p = new GatewayProcess(proc)
    this.procs.add(p)
    void p.exited.then(() => { this.procs.delete(p) })
    return p
  }

  /** Start a TypeScript program (an example) with tsx; it is killed in `killAll()` like the rest. */
  script (path: string, args: string[] = [], opts: RunOptions = {}): GatewayProcess {
    const proc = spawn(opts.node ?? process.execPath, ['--import', TSX, path, ...args], {
      cwd: opts.cwd ?? REPO_ROOT, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'], detached: opts.group === true
    })
    const p = new GatewayProcess(proc, opts.group === true)
    this.procs.add(p)
    if (opts.group === true) this.groups.add(p)
    void p.exited.then(() => { this.procs.delete(p) })
    return p
  }

  /** Run a command to completion. */
  async run (args: string[], opts: RunOptions = {}): Promise<CliResult> {
    const g = this.spawnCli(args, opts)
    const proc = g.proc
    proc.stdin!.on('error', () => {})
    proc.stdin!.end(opts.input ?? '')
    const timeout = opts.timeout ?? 30_000
    const timer = setTimeout(() => { proc.kill('SIGKILL') }, timeout)
    const exit = await g.exited
    clearTimeout(timer)
    return { ...exit, stdout: g.stdout, stderr: g.stderr, stdoutBytes: g.stdoutBytes }
  }

  /** Start `meshdoc gateway` on loopback with free ports; more flags in `args`. */
  gateway (dataDir: string, args: string[] = [], opts: RunOptions = {}): GatewayProcess {
    return this.spawnCli(['gateway', '--data', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--ws-port', '0', '--admin', '127.0.0.1:0', ...args], opts)
  }

  /** Start `meshdoc gateway` on fixed loopback ports (to restart it at the same address). */
  gatewayAt (dataDir: string, ports: { tcp: number, ws: number }, args: string[] = [], opts: RunOptions = {}): GatewayProcess {
    return this.spawnCli(['gateway', '--data', dataDir, '--listen', `/ip4/127.0.0.1/tcp/${ports.tcp}`, '--ws-port', String(ports.ws), '--admin', '127.0.0.1:0', ...args], opts)
  }

  /** SIGKILL every process still running and remove the temporary directories. */
  async killAll (): Promise<void> {
    await Promise.allSettled([...this.procs, ...this.groups].map(async p => { await p.kill() }))
    this.procs.clear()
    this.groups.clear()
    await Promise.allSettled(this.dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, chosen *below* the
 * kernel's ephemeral range (Linux: 32768–60999). A port from that range (what
 * `listen(0)` hands out) can be taken before the test binds it, by a device
 * that keeps redialling it while nothing listens: Linux may pick the very port
 * as the dial's own source port and connect the socket to itself (TCP
 * simultaneous open), and the gateway then fails with EADDRINUSE.
 */
export async function freePort (): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (await canListen(port)) return port
  }
  throw new Error('no free TCP port in 20000-31999 on 127.0.0.1')
}

export async function canListen (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => { resolve(false) })
    s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
  })
}
