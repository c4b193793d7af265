/**
 * Parent side of the crash and two-writer tests: bundle the writer once
 * (esbuild, which tsx already brings), start writers ahead of time, read their
 * acknowledgements line by line, SIGKILL them.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

let bundled: Promise<string> | undefined

/** The writer as one self-contained .mjs: starts in a fraction of tsx's time. */
export async function writerBundle (): Promise<string> {
  bundled ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshdoc-writer-'))
    process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
    const out = join(dir, 'writer.mjs')
    await build({
      entryPoints: [fileURLToPath(new URL('./storage-crash-writer.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      outfile: out,
      logLevel: 'error',
      // debug (under @libp2p/logger) is CommonJS: give the bundle a require
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }
    })
    return out
  })()
  return await bundled
}

export class Writer {
  readonly child: ChildProcess
  /** seqs whose flush resolved, in the order printed */
  readonly acked: number[] = []
  /** a compaction started and has not finished */
  compacting = false
  compactions = 0
  /** the adapter's last reported stats */
  stats = { merges: 0, rewrites: 0, damaged: 0 }
  stderr = ''
  readonly ready: Promise<void>
  readonly opened: Promise<number>
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  private buf = ''

  constructor (bundle: string, dir: string, seed: string, prefix: string) {
    this.child = spawn(process.execPath, [bundle, dir, seed, prefix], { stdio: ['pipe', 'pipe', 'pipe'] })
    let onReady!: () => void
    let onOpen!: (seq: number) => void
    this.ready = new Promise(resolve => { onReady = resolve })
    this.opened = new Promise(resolve => { onOpen = resolve })
    // 'close': the process is gone and its pipes are drained
    this.exited = new Promise(resolve => { this.child.once('close', (code, signal) => { resolve({ code, signal }) }) })
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d })
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.buf += d
      let nl: number
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl)
        this.buf = this.buf.slice(nl + 1)
        if (line === 'ready') onReady()
        else if (line.startsWith('open ')) onOpen(Number(line.slice(5)))
        else if (line === 'C+') { this.compacting = true; this.compactions++ } else if (line === 'C-') this.compacting = false
        else if (/^\d+$/.test(line)) this.acked.push(Number(line))
        else if (line.startsWith('S ')) {
          const [merges, rewrites, damaged] = line.slice(2).split(' ').map(Number)
          this.stats = { merges, rewrites, damaged }
        }
      }
    })
    this.child.stdin!.on('error', () => {}) // killed before we wrote
  }

  go (): void {
    this.child.stdin!.write('go\n')
  }

  /** SIGKILL and wait for the exit; true if it was still running (not crashed by itself). */
  async kill (): Promise<boolean> {
    const running = this.child.exitCode === null && this.child.signalCode === null
    this.child.kill('SIGKILL')
    const { signal } = await this.exited
    return running && signal === 'SIGKILL'
  }
}
