/**
 * The figures of a hostile-peer soak (test/hostile-soak.spec.ts): what the
 * victim, the honest devices and each attacker measured, the goals of issue
 * 13 with whether each held, printed as a table and written as JSON.
 */
import { writeFile } from 'node:fs/promises'
import type { LoopDelay } from './child-node.js'
import type { Attack, AttackOutcome } from './hostile-attacks.js'

const MiB = 1024 * 1024

export interface LatencySummary { n: number, p50: number, p99: number, max: number, timeouts: number }

export interface AttackFigures {
  knowsBound: boolean
  id: string
  role: string
  what: string
  framesSent: number
  bytesSent: number
  bytesReceived: number
  /** BYE reason, `reset`, `refused`; undefined: still open when the soak ended */
  closedWith: string | undefined
  /** seconds into the soak */
  crossedAt: number | undefined
  endedAt: number | undefined
  /** ms from crossing a bound to being closed */
  timeToClose: number | undefined
  /** DENIED reasons the victim answered with (the peer stays connected) */
  refusedWith: string | undefined
  /** ms from crossing a bound to the first DENIED */
  timeToRefusal: number | undefined
  notes: Record<string, number | string>
}

/** `measuredOnly`: a speed or memory goal printed, not asserted (npm test's short run) */
export interface Goal { goal: string, holds: boolean, figure: string, measuredOnly?: boolean }

export interface SoakFigures {
  seed: number
  seconds: number
  victim: {
    /** after a full GC, before the soak */
    rssStart: number
    /** what growth is counted from: the higher of `rssStart` and the peak while only honest devices edited */
    rssBase: number
    rssPeak: number
    /** after the attackers were closed and the victim settled (full GC) */
    rssEnd: number
    heapStart: number
    heapAfterSoak: number
    heapEnd: number
    /** bytes of ArrayBuffers (frames, updates, stream buffers) at the start and end */
    arrayBuffersStart: number
    arrayBuffersEnd: number
    /** the V8 heap's committed size (it may stay grown after a GC) */
    heapTotalStart: number
    heapTotalEnd: number
    /** peaks during the soak: the V8 heap committed, the array buffers */
    heapTotalPeak: number
    arrayBuffersPeak: number
    eventLoop: LoopDelay
    rejected: Record<string, number>
    ignored: Record<string, number>
  }
  /** the two devices editing the shared doc throughout */
  editToAck: LatencySummary
  /** their slowest edits: when (s into the soak) and how long until acknowledged (ms) */
  slowestEdits: Array<{ at: number, ms: number }>
  /** the device that joins with presence during the soak */
  presenceDevice: LatencySummary | undefined
  honestDisconnects: string[]
  attacks: AttackFigures[]
  goals: Goal[]
}

/** One attack's outcome as figures: times in seconds into the soak (`t0`), durations in ms. */
export function attackFigures (attack: Attack, o: AttackOutcome, t0: number): AttackFigures {
  const rel = (t: number | undefined): number | undefined => t === undefined ? undefined : (t - t0) / 1000
  const since = (t: number | undefined): number | undefined => o.crossedAt !== undefined && t !== undefined ? t - o.crossedAt : undefined
  return {
    id: attack.id,
    knowsBound: attack.knowsBound,
    role: attack.role,
    what: attack.what,
    framesSent: o.framesSent,
    bytesSent: o.bytesSent,
    bytesReceived: o.bytesReceived,
    closedWith: o.closedWith,
    crossedAt: rel(o.crossedAt),
    endedAt: rel(o.endedAt),
    timeToClose: since(o.endedAt),
    refusedWith: o.refusedWith,
    timeToRefusal: since(o.refusedAt),
    notes: o.notes
  }
}

export function summarize (samples: number[], timeouts: number): LatencySummary {
  const xs = [...samples].sort((a, b) => a - b)
  const at = (p: number): number => xs.length === 0 ? NaN : xs[Math.min(xs.length - 1, Math.ceil(p / 100 * xs.length) - 1)]
  return { n: xs.length, p50: at(50), p99: at(99), max: xs[xs.length - 1] ?? NaN, timeouts }
}

const mib = (b: number): string => (b / MiB).toFixed(1)
const signed = (b: number): string => (b < 0 ? '' : '+') + mib(b)
const num = (x: number | undefined, digits = 1): string => x === undefined || Number.isNaN(x) ? '—' : x.toFixed(digits)
const bytes = (b: number): string => b >= MiB ? `${mib(b)} MiB` : b >= 1024 ? `${(b / 1024).toFixed(0)} KiB` : `${b} B`

function table (rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  return rows.map(r => '      ' + r.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n')
}

/** The figures as the test prints them. */
export function formatSoak (f: SoakFigures): string {
  const v = f.victim
  const lat = (l: LatencySummary | undefined): string => l === undefined ? '—' : `p50 ${num(l.p50)} ms, p99 ${num(l.p99)} ms, max ${num(l.max)} ms (${l.n} edits, ${l.timeouts} timed out)`
  const lines = [
    `      hostile-peer soak: seed ${f.seed}, ${f.seconds} s, ${f.attacks.length} attackers`,
    `      victim RSS start ${mib(v.rssStart)} MiB (honest-only peak ${mib(v.rssBase)}), peak ${mib(v.rssPeak)} MiB (${signed(v.rssPeak - v.rssBase)}), end ${mib(v.rssEnd)} MiB (${signed(v.rssEnd - v.rssStart)})`,
    `      victim heap used ${mib(v.heapStart)} -> ${mib(v.heapAfterSoak)} -> ${mib(v.heapEnd)} MiB, committed ${mib(v.heapTotalStart)} -> ${mib(v.heapTotalEnd)} MiB (peak ${mib(v.heapTotalPeak)}); array buffers ${mib(v.arrayBuffersStart)} -> ${mib(v.arrayBuffersEnd)} MiB (peak ${mib(v.arrayBuffersPeak)})`,
    `      victim event loop delay p50 ${num(v.eventLoop.p50)} ms, p99 ${num(v.eventLoop.p99)} ms, max ${num(v.eventLoop.max)} ms`,
    `      honest edit-to-ACK ${lat(f.editToAck)}; slowest ${f.slowestEdits.map(e => `${e.ms.toFixed(0)} ms at ${e.at.toFixed(1)} s`).join(', ')}`,
    `      presence device edit-to-ACK ${lat(f.presenceDevice)}`,
    `      honest disconnects: ${f.honestDisconnects.length === 0 ? 'none' : f.honestDisconnects.join(', ')}`,
    `      victim rejected ${JSON.stringify(v.rejected)}`,
    `      victim ignored ${JSON.stringify(v.ignored)}`,
    table([
      ['attack', 'role', 'frames', 'sent', 'received', 'closed with', 'crossed', 'closed', 'to close', 'refused with (DENIED)', 'to refusal', 'what / notes'],
      ...f.attacks.map(a => [
        a.id, a.role, String(a.framesSent), bytes(a.bytesSent), bytes(a.bytesReceived), a.closedWith ?? 'NOT CLOSED',
        a.crossedAt === undefined ? '—' : `${num(a.crossedAt, 2)} s`,
        a.endedAt === undefined ? '—' : `${num(a.endedAt, 2)} s`,
        a.timeToClose === undefined ? '—' : `${num(a.timeToClose, 0)} ms`,
        a.refusedWith ?? '—',
        a.timeToRefusal === undefined ? '—' : `${num(a.timeToRefusal, 0)} ms`,
        `${a.what}; ${Object.entries(a.notes).map(([k, x]) => `${k} ${x}`).join(', ')}`
      ])
    ]),
    table([['goal', 'holds', 'figure'], ...f.goals.map(g => [g.goal, g.holds ? 'yes' : g.measuredOnly === true ? 'no (measured)' : 'NO', g.figure])])
  ]
  return lines.join('\n')
}

export async function writeSoakJson (path: string, f: SoakFigures): Promise<void> {
  await writeFile(path, JSON.stringify(f, null, 2) + '\n')
}
