/**
 * A private network namespace for tests that multicast (mDNS): only its own
 * loopback, with multicast enabled and routed to it, so no packet leaves the
 * test. Needs root and iproute2 (`ip netns`); `canUseNetns()` tells.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'

export function canUseNetns (): boolean {
  if (process.getuid?.() !== 0) return false
  try { execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' }); return true } catch { return false }
}

export class LoopbackNetns {
  constructor (readonly name: string) {}

  create (): void {
    execFileSync('ip', ['netns', 'add', this.name])
    for (const args of [['link', 'set', 'lo', 'up'], ['link', 'set', 'lo', 'multicast', 'on'], ['route', 'add', '224.0.0.0/4', 'dev', 'lo']]) {
      execFileSync('ip', ['netns', 'exec', this.name, 'ip', ...args])
    }
  }

  /** Start `command args` inside the namespace. */
  spawn (command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.name, command, ...args], options)
  }

  /**
   * Run a TypeScript program (tsx) inside the namespace to its exit, SIGKILLed after
   * `timeoutMs`: its exit code and its stdout and stderr together.
   */
  async runScript (path: string, args: string[], timeoutMs: number): Promise<{ code: number | null, out: string }> {
    const child = this.spawn(process.execPath, ['--import', 'tsx', path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
    const kill = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
    clearTimeout(kill)
    return { code, out }
  }

  delete (): void {
    try { execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' }) } catch {}
  }
}

/**
 * In a mocha `describe`: a namespace created before the suite and deleted
 * after it; the suite is skipped, saying why, where namespaces are unavailable.
 */
export function useLoopbackNetns (prefix: string): LoopbackNetns {
  const ns = new LoopbackNetns(`${prefix}-${process.pid}`)
  before(function () {
    if (!canUseNetns()) {
      console.log('      skipped: needs root and `ip netns` to keep multicast inside a private namespace')
      this.skip()
    }
    ns.create()
  })
  after(() => { ns.delete() })
  return ns
}
