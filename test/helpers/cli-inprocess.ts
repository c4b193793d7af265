/**
 * Run `meshdoc` commands inside the test process (fast), with captured
 * stdout/stderr and a fake environment. For what a user sees from a real
 * process (exit codes, signals, the launcher), use cli-process.ts.
 */
import { Readable } from 'node:stream'
import { nodeCliPlatform } from '../../adapters/presets/cli.js'
import { runCli } from '../../lib/cli/main.js'
import type { OutStream } from '../../lib/cli/context.js'

export interface Captured { code: number, stdout: string, stderr: string, stdoutBytes: Buffer }

class Capture implements OutStream {
  readonly chunks: Buffer[] = []
  constructor (readonly isTTY = false, readonly columns = 100) {}
  write (c: string | Uint8Array): boolean {
    this.chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c))
    return true
  }

  get bytes (): Buffer { return Buffer.concat(this.chunks) }
}

export async function runInProcess (argv: string[], opts: { env?: NodeJS.ProcessEnv, cwd?: string, stdin?: Uint8Array, stderrTTY?: boolean, stdoutTTY?: boolean } = {}): Promise<Captured> {
  const stdout = new Capture(opts.stdoutTTY === true)
  const stderr = new Capture(opts.stderrTTY === true)
  const code = await runCli(argv, {
    stdout,
    stderr,
    stdin: Readable.from(opts.stdin !== undefined ? [Buffer.from(opts.stdin)] : []),
    env: opts.env ?? {},
    cwd: opts.cwd ?? process.cwd(),
    onStopSignal: () => () => {}
  }, nodeCliPlatform)
  return { code, stdout: stdout.bytes.toString('utf8'), stderr: stderr.bytes.toString('utf8'), stdoutBytes: stdout.bytes }
}
