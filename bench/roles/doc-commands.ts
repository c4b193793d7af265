/**
 * Commands every document-holding role answers the same way, whatever carries
 * the document (meshdoc, y-websocket provider or server):
 *   mark / report   CPU, peak RSS and socket bytes since the mark
 *   replay          type the trace, each edit its own transaction
 *   watch           resolve when the text equals the expected end content
 *   type / arrivals keystrokes at a fixed rate, and when each one shows up
 *   load-state      apply a V2 state (setup for cold join and resync)
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import * as Y from 'yjs'
import { socketBytes, type SocketBytes } from '../core/net-bytes.js'
import { now, type Handlers } from '../core/rpc.js'
import { applyEdit, loadEdits, replay, TEXT_NAME } from '../core/trace.js'

export interface Usage {
  cpuUserMs: number
  cpuSystemMs: number
  /** resident set at the mark, and its peak between mark and report (sampled every 20 ms) */
  rssAtMarkMB: number
  peakRssMB: number
  /** peak resident set over the whole life of the process (trace loading included) */
  maxRssMB: number
  socketWritten: number
  socketRead: number
  /** role-specific counters (e.g. meshdoc engine stats), as deltas since the mark */
  extra: Record<string, number>
}

export type ExtraCounters = () => Record<string, number>

/**
 * With MESHDOC_BENCH_PROFILE=<path> (set by `run.ts --cpu-prof LABEL`), a V8
 * CPU profile of exactly the measured window (mark to report) goes to <path>.
 */
class WindowProfiler {
  private session: Session | undefined

  constructor (private readonly path: string) {}

  async start (): Promise<void> {
    await this.stop(false)
    this.session = new Session()
    this.session.connect()
    await this.session.post('Profiler.enable')
    // microseconds; MESHDOC_BENCH_PROFILE_INTERVAL_US=50 resolves sub-millisecond paths (P2) better
    await this.session.post('Profiler.setSamplingInterval', { interval: Number(process.env.MESHDOC_BENCH_PROFILE_INTERVAL_US ?? 200) })
    await this.session.post('Profiler.start')
  }

  async stop (write = true): Promise<void> {
    const s = this.session
    if (s === undefined) return
    this.session = undefined
    const { profile } = await s.post('Profiler.stop')
    s.disconnect()
    if (write) writeFileSync(this.path, JSON.stringify(profile))
  }
}

/** CPU, RSS and socket bytes since `mark()`. */
export class UsageMeter {
  private readonly profiler = process.env.MESHDOC_BENCH_PROFILE !== undefined ? new WindowProfiler(process.env.MESHDOC_BENCH_PROFILE) : undefined
  private cpu = process.cpuUsage()
  private bytes: SocketBytes = socketBytes()
  private extra: Record<string, number>
  private rssAtMark = process.memoryUsage.rss()
  private peakRss = this.rssAtMark
  private sampler: ReturnType<typeof setInterval> | undefined

  constructor (private readonly counters: ExtraCounters = () => ({})) {
    this.extra = counters()
  }

  async mark (): Promise<void> {
    // children run with --expose-gc (bench/core/procs.ts): start the window with a clean heap,
    // so a collection of the harness's garbage (the parsed trace) does not land inside it
    const gc = (globalThis as { gc?: () => void }).gc
    if (gc !== undefined) gc()
    await this.profiler?.start()
    this.rssAtMark = this.peakRss = process.memoryUsage.rss()
    clearInterval(this.sampler)
    this.sampler = setInterval(() => { this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss()) }, 20)
    this.sampler.unref()
    this.cpu = process.cpuUsage()
    this.bytes = socketBytes()
    this.extra = this.counters()
  }

  async report (): Promise<Usage> {
    const cpu = process.cpuUsage(this.cpu)
    await this.profiler?.stop()
    clearInterval(this.sampler)
    this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss())
    const bytes = socketBytes()
    const extra = this.counters()
    const delta: Record<string, number> = {}
    for (const [k, v] of Object.entries(extra)) delta[k] = v - (this.extra[k] ?? 0)
    return {
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      rssAtMarkMB: this.rssAtMark / 2 ** 20,
      peakRssMB: this.peakRss / 2 ** 20,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      socketWritten: bytes.written - this.bytes.written,
      socketRead: bytes.read - this.bytes.read,
      extra: delta
    }
  }
}

/**
 * Resolve with the time at which `doc`'s text became equal to `expected`: the
 * end of the transaction that made it so. The (O(n)) comparison itself runs
 * once per event-loop turn after changes, so it never slows the receiver down.
 */
export function whenTextEquals (doc: Y.Doc, expected: string, timeoutMs: number): Promise<number> {
  const text = doc.getText(TEXT_NAME)
  return new Promise((resolve, reject) => {
    let scheduled = false
    let lastTx = now()
    const check = (): boolean => {
      scheduled = false
      if (text.length !== expected.length || text.toString() !== expected) return false
      doc.off('afterTransaction', onTx)
      clearTimeout(timer)
      resolve(lastTx)
      return true
    }
    const onTx = (): void => {
      lastTx = now()
      if (scheduled) return
      scheduled = true
      setImmediate(check)
    }
    const timer = setTimeout(() => {
      doc.off('afterTransaction', onTx)
      reject(new Error(`text not equal to the expected ${expected.length} chars after ${timeoutMs} ms (have ${text.length})`))
    }, timeoutMs)
    doc.on('afterTransaction', onTx)
    check()
  })
}

/** Give a writer a fixed clientID (before its first edit) so its updates are byte-identical across contenders. */
export function setClientID (doc: Y.Doc, clientID: number): void {
  if (doc.store.clients.has(doc.clientID)) throw new Error('setClientID after the doc has own edits')
  doc.clientID = clientID
}

export function docCommands (doc: Y.Doc, meter: UsageMeter, opts: { beforeReplay?: () => void } = {}): Handlers {
  return {
    /** load the trace (outside the measurement), then start measuring */
    mark: async ({ limit }: { limit?: number } = {}) => {
      loadEdits(limit)
      await meter.mark()
    },
    report: async () => await meter.report(),
    'load-state': ({ path }: { path: string }) => {
      Y.applyUpdateV2(doc, readFileSync(path))
      return { length: doc.getText(TEXT_NAME).length }
    },
    text: () => doc.getText(TEXT_NAME).toString(),
    replay: async ({ limit, chunk, clientID }: { limit?: number, chunk: number, clientID?: number }) => {
      const { edits } = loadEdits(limit)
      if (clientID !== undefined) setClientID(doc, clientID)
      opts.beforeReplay?.()
      const t0 = now()
      await replay(doc, edits, chunk)
      return { t0, t1: now(), edits: edits.length }
    },
    watch: async ({ limit, timeoutMs }: { limit?: number, timeoutMs: number }) => {
      const { endContent } = loadEdits(limit)
      const t = await whenTextEquals(doc, endContent, timeoutMs)
      return { t, verified: doc.getText(TEXT_NAME).toString() === endContent, length: endContent.length }
    },
    type: async ({ count, hz }: { count: number, hz: number }) => {
      const { edits } = loadEdits(count)
      const text = doc.getText(TEXT_NAME)
      const stamps: number[] = []
      const start = performance.now()
      for (let i = 0; i < edits.length; i++) {
        const due = start + i * 1000 / hz
        const wait = due - performance.now()
        if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
        stamps.push(now())
        applyEdit(doc, text, edits[i])
      }
      return { stamps }
    },
    arrivals: async ({ count, timeoutMs }: { count: number, timeoutMs: number }) => {
      const { edits, startContent } = loadEdits(count)
      const expected: string[] = []
      let s = startContent
      for (const [pos, del, ins] of edits) expected.push((s = s.slice(0, pos) + ins + s.slice(pos + del)))
      const text = doc.getText(TEXT_NAME)
      const arrived: number[] = []
      return await new Promise((resolve, reject) => {
        const onTx = (): void => {
          const cur = text.toString()
          const t = now()
          for (let k = arrived.length; k < expected.length; k++) {
            if (expected[k] !== cur) continue
            while (arrived.length <= k) arrived.push(t)
            break
          }
          if (arrived.length === expected.length) finish()
        }
        const finish = (): void => {
          doc.off('afterTransaction', onTx)
          clearTimeout(timer)
          resolve({ arrivals: arrived })
        }
        const timer = setTimeout(() => {
          doc.off('afterTransaction', onTx)
          reject(new Error(`only ${arrived.length} of ${count} keystrokes arrived within ${timeoutMs} ms`))
        }, timeoutMs)
        doc.on('afterTransaction', onTx)
      })
    }
  }
}
