/**
 * A one-line progress bar for long operations (an import, an initial sync),
 * in bytes and documents. It draws only when the stream is a TTY, redraws at
 * most every `intervalMs`, and erases itself when done, so logs and pipes
 * never see it.
 */

export interface ProgressStream {
  isTTY?: boolean
  columns?: number
  write: (s: string) => unknown
}

export interface ProgressState {
  bytes: number
  /** bytes expected in all, if known: draws a bar and a percentage */
  totalBytes?: number
  docs?: number
  totalDocs?: number
  /** what is happening now, e.g. "reading", "applying" */
  phase?: string
}

export interface ProgressOptions {
  label: string
  /** default 100 ms */
  intervalMs?: number
  /** a clock, for tests */
  now?: () => number
}

export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

export class Progress {
  /** false when the stream is not a TTY: every call is a no-op */
  readonly enabled: boolean
  private state: ProgressState = { bytes: 0 }
  private last = -Infinity
  private drawn = false
  private readonly started: number
  private readonly now: () => number
  private readonly intervalMs: number

  constructor (private readonly stream: ProgressStream, private readonly opts: ProgressOptions) {
    this.enabled = stream.isTTY === true
    this.now = opts.now ?? Date.now
    this.intervalMs = opts.intervalMs ?? 100
    this.started = this.now()
  }

  update (state: Partial<ProgressState>, force = false): void {
    this.state = { ...this.state, ...state }
    if (!this.enabled) return
    const t = this.now()
    if (!force && t - this.last < this.intervalMs) return
    this.last = t
    this.stream.write(`\r${this.line()}\x1b[K`)
    this.drawn = true
  }

  /** Erase the bar (if drawn); optionally leave a final line. */
  done (message?: string): void {
    if (!this.enabled) return
    if (this.drawn) this.stream.write('\r\x1b[K')
    this.drawn = false
    if (message !== undefined) this.stream.write(message + '\n')
  }

  /** The text of the bar as it would be drawn now. */
  line (): string {
    const s = this.state
    const parts = [this.opts.label]
    if (s.phase !== undefined) parts.push(s.phase)
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - 60))
    if (s.totalBytes !== undefined && s.totalBytes > 0) {
      const f = Math.min(1, s.bytes / s.totalBytes)
      const full = Math.round(f * width)
      parts.push(`[${'#'.repeat(full)}${'-'.repeat(width - full)}] ${Math.floor(f * 100)}%`)
      parts.push(`${formatBytes(s.bytes)} / ${formatBytes(s.totalBytes)}`)
    } else {
      parts.push(formatBytes(s.bytes))
    }
    if (s.docs !== undefined) parts.push(`${s.docs}${s.totalDocs !== undefined ? ` / ${s.totalDocs}` : ''} doc${s.totalDocs === 1 || (s.totalDocs === undefined && s.docs === 1) ? '' : 's'}`)
    const secs = (this.now() - this.started) / 1000
    if (secs >= 1) parts.push(`${formatBytes(Math.round(s.bytes / secs))}/s`)
    return parts.join('  ')
  }
}
