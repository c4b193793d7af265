/**
 * Catch-up between nodes, blind or not: each side sends its version vector
 * of the doc, per writer the last seq it holds (Yjs deletions advance no
 * Yjs clock, but every update, deletions included, takes its writer's next
 * seq), and the other answers with `missingFrom`: what it lacks, in an
 * order it can check and add one by one.
 *
 *   vv = version:uint (1) count:uint (0 .. 4,096) count × (writer:raw32 seq:uint ≥ 1)    writers strictly ascending
 *
 * The answer, in the order the receiver must take it in:
 *  1. attestations of every snapshot in the answer (verify, then
 *     `log.addAttestation`);
 *  2. checkpoints: for each writer the receiver holds less of than this
 *     log's base (what a compaction dropped), the snapshot that set that
 *     base; the receiver takes it on its attestation and moves forward to it;
 *  3. envelopes: per writer those above what the receiver then holds, in
 *     seq order, interleaved so that a snapshot comes after every envelope
 *     it covers.
 */
import * as encoding from 'lib0/encoding'
import { compareBytes, Reader, toHex, writeRaw } from './codec.js'
import { refuse } from './errors.js'
import { idOf, keyOfId } from './keys.js'
import { E2E_LIMITS, E2E_VERSION, PUBLIC_KEY_BYTES } from './limits.js'
import type { EnvelopeLog } from './log.js'
import type { Envelope, VersionVector } from './types.js'

export function vvEncode (vv: VersionVector): Uint8Array {
  const entries = [...vv].filter(([, seq]) => seq > 0).map(([w, seq]) => ({ key: keyOfId(w), seq }))
    .sort((a, b) => compareBytes(a.key, b.key))
  if (entries.length > E2E_LIMITS.maxWriters) throw new TypeError(`a version vector of more than ${E2E_LIMITS.maxWriters} writers`)
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, E2E_VERSION)
  encoding.writeVarUint(e, entries.length)
  for (const { key, seq } of entries) {
    writeRaw(e, key, PUBLIC_KEY_BYTES)
    encoding.writeVarUint(e, seq)
  }
  return encoding.toUint8Array(e)
}

/** A version vector, strictly decoded (its canonical form only); E2eError otherwise. */
export function vvDecode (input: Uint8Array): Map<string, number> {
  if (!(input instanceof Uint8Array)) refuse('malformed', 'a version vector is bytes')
  if (input.length > E2E_LIMITS.maxVersionVectorBytes) refuse('too_large', `a version vector of ${input.length} bytes`)
  const r = new Reader(input, 'version vector')
  r.bounded(E2E_VERSION, E2E_VERSION, 'version')
  const n = r.bounded(0, E2E_LIMITS.maxWriters, 'writers')
  const keys: Uint8Array[] = []
  const seqs: number[] = []
  for (let i = 0; i < n; i++) {
    const key = r.raw(PUBLIC_KEY_BYTES)
    if (i > 0 && compareBytes(keys[i - 1], key) >= 0) r.fail('writers out of order')
    keys.push(key)
    seqs.push(r.bounded(1, Number.MAX_SAFE_INTEGER, 'seq'))
  }
  r.end()
  const out = new Map<string, number>()
  for (let i = 0; i < n; i++) out.set(idOf(keys[i]), seqs[i])
  return out
}

export interface CatchUp {
  /** encoded attestations of the snapshots below */
  attestations: Uint8Array[]
  checkpoints: Envelope[]
  envelopes: Envelope[]
}

/** What a node whose version vector is `theirs` lacks of `log`, in the order it must take it in (see the header). */
export function missingFrom (theirs: VersionVector, log: EnvelopeLog): CatchUp {
  const state = new Map<string, number>()
  const at = (w: string): number => state.get(w) ?? theirs.get(w) ?? 0
  const checkpoints = new Map<string, Envelope>()
  for (const w of log.writers()) {
    const base = log.base(w)
    if (at(w) < base.seq && base.source !== undefined) checkpoints.set(toHex(base.source.hash), base.source)
  }
  for (const c of checkpoints.values()) {
    for (const m of c.header.cover) if (m.seq > at(m.writer)) state.set(m.writer, m.seq)
    if (c.header.seq === at(c.header.writer) + 1) state.set(c.header.writer, c.header.seq)
  }
  const queues = new Map<string, Envelope[]>()
  for (const w of log.writers()) {
    const q = log.after(w, at(w))
    if (q.length > 0) queues.set(w, q)
  }
  const envelopes: Envelope[] = []
  const covered = (s: Envelope): boolean => s.header.cover.every(m => m.seq <= at(m.writer))
  for (let progress = true; progress;) {
    progress = false
    for (const [w, q] of queues) {
      let i = 0
      while (i < q.length && (q[i].header.kind === 'update' || covered(q[i]))) {
        envelopes.push(q[i])
        state.set(w, q[i].header.seq)
        i++
      }
      if (i > 0) progress = true
      if (i === q.length) queues.delete(w)
      else queues.set(w, q.slice(i))
    }
  }
  // a cover this log could not order (it never accepts one): sent as it is, for the receiver to refuse
  for (const q of queues.values()) envelopes.push(...q)
  const attestations: Uint8Array[] = []
  for (const s of [...checkpoints.values(), ...envelopes]) {
    if (s.header.kind === 'snapshot') for (const a of log.attestationsFor(s.hash)) attestations.push(a.bytes)
  }
  return { attestations, checkpoints: [...checkpoints.values()], envelopes }
}
