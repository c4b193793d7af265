/**
 * Safe compaction: what a node may drop of its log, on snapshots attested
 * by someone other than their author (attestation.ts), whose cover it
 * holds (snapshot.ts (a)). Each snapshot drops only what it covers: per
 * writer the base moves to the highest seq some usable snapshot covers,
 * and the snapshot that reaches it is kept (as a checkpoint once its own
 * author's base passes it) for as long as it is the highest for some
 * writer. So concurrent snapshots that cover different writers both stay,
 * and a later snapshot that does not dominate an earlier one never drops
 * what only the earlier one covers. What a dropped envelope held is in the
 * snapshot kept for its writer: its attester checked that it holds exactly
 * what it covers.
 */
import { acceptedAttestation } from './attestation.js'
import { equalBytes, toHex } from './codec.js'
import type { EpochChain } from './epoch.js'
import type { EnvelopeLog } from './log.js'
import type { Envelope, WriterMark } from './types.js'

export interface Compaction {
  /** per writer, where its base moves, and the snapshot that justifies it (for EnvelopeLog.compact) */
  plan: Array<{ mark: WriterMark, source: Uint8Array }>
  /** exactly the envelopes the log stops holding once the plan is applied (chains and checkpoints) */
  drop: Envelope[]
}

/** What `log` may drop now: what snapshots attested by someone other than their author cover (see the header). */
export function compactable (log: EnvelopeLog, epochs: EpochChain): Compaction {
  const best = new Map<string, { mark: WriterMark, source: Envelope, weight: number }>()
  for (const s of log.snapshots()) {
    if (!acceptedAttestation(s, log, epochs) || !coverHeld(s, log)) continue
    // on a tie, the snapshot that covers more (a later one) justifies the writer, so fewer are kept
    const weight = s.header.cover.reduce((n, m) => n + m.seq, 0)
    for (const m of s.header.cover) {
      const b = best.get(m.writer)
      if (m.seq > log.base(m.writer).seq && (b === undefined || m.seq > b.mark.seq || (m.seq === b.mark.seq && weight > b.weight))) {
        best.set(m.writer, { mark: m, source: s, weight })
      }
    }
  }
  // the sources once the plan is applied: the new ones, and the old ones of writers that do not move
  const sources = new Set<string>()
  for (const w of log.writers()) {
    const src = best.get(w)?.source ?? log.base(w).source
    if (src !== undefined) sources.add(toHex(src.hash))
  }
  const drop: Envelope[] = []
  for (const w of log.writers()) {
    const upTo = best.get(w)?.mark.seq ?? 0
    for (const env of log.after(w, 0)) {
      if (env.header.seq > upTo) break
      if (!sources.has(toHex(env.hash))) drop.push(env)
    }
  }
  for (const s of log.snapshots()) if (!log.inChain(s) && !sources.has(toHex(s.hash))) drop.push(s)
  return { plan: [...best.values()].map(({ mark, source }) => ({ mark, source: source.hash })), drop }
}

/** Every seq the snapshot covers is held here (or below the base), with the hash it names. */
function coverHeld (s: Envelope, log: EnvelopeLog): boolean {
  return s.header.cover.every(m => {
    if (m.seq > log.tip(m.writer).seq) return false
    const held = log.hashAt(m.writer, m.seq)
    return held === undefined || equalBytes(held, m.hash)
  })
}
