/**
 * The envelopes of one doc held by a node, blind or member: per writer, a
 * contiguous chain of envelopes by seq above a *base*, plus the snapshots
 * and attestations that compaction and catch-up need. In memory for now;
 * a storage backing keeps the same shape.
 *
 * Invariants (each public method keeps them, or throws before changing anything):
 *  - per writer, `entries[i]` is its envelope seq `base.seq + 1 + i`, and
 *    each one's `prev` is the hash of the one before (of `base` for the first);
 *  - `base` is (0, zero) until an attested snapshot covered the writer's
 *    envelopes up to base.seq, which are then dropped; `baseSource` names
 *    that snapshot, and the log keeps it (a *checkpoint*) for as long as it
 *    is some writer's base source, even once its own author's base passed it;
 *  - every snapshot held is in `#snapshots`, in a chain or as a checkpoint,
 *    and nothing else is: a snapshot that is neither is dropped (`#prune`).
 * Adding checks only the chain position: the envelope itself must have
 * passed checkEnvelopeBlind / openEnvelope against this log.
 */
import { compareBytes, equalBytes, toHex } from './codec.js'
import { refuse } from './errors.js'
import { shortId } from './keys.js'
import { DOC_KEY_BYTES, E2E_LIMITS, ZERO_HASH } from './limits.js'
import type { EpochChain } from './epoch.js'
import type { Attestation, CheckedEnvelope, Envelope, VersionVector, WriterMark } from './types.js'

interface Position { seq: number, hash: Uint8Array }

interface WriterState {
  key: Uint8Array
  base: Position
  /** hex hash of the snapshot that set `base` */
  baseSource: string | undefined
  entries: Envelope[]
}

export class EnvelopeLog {
  readonly #writers = new Map<string, WriterState>()
  /** every snapshot held, by hex hash: in its author's chain, or kept as a checkpoint */
  readonly #snapshots = new Map<string, Envelope>()
  readonly #attestations = new Map<string, Attestation[]>()
  #attestationCount = 0
  #chainBytes = 0

  constructor (readonly docKey: Uint8Array) {
    if (docKey.length !== DOC_KEY_BYTES) throw new TypeError(`a doc key is ${DOC_KEY_BYTES} bytes`)
  }

  /** bytes of the envelopes held: chains and checkpoints */
  get bytes (): number {
    let n = this.#chainBytes
    for (const s of this.#snapshots.values()) if (!this.#inChain(s)) n += s.bytes.length
    return n
  }

  /** how many envelopes are held: chains and checkpoints */
  get size (): number {
    let n = 0
    for (const st of this.#writers.values()) n += st.entries.length
    for (const s of this.#snapshots.values()) if (!this.#inChain(s)) n++
    return n
  }

  writers (): IterableIterator<string> {
    return this.#writers.keys()
  }

  /** The writer's last seq held (its base if it has no envelope above it) and that envelope's hash; (0, zero) for none. */
  tip (writer: string): Position {
    const st = this.#writers.get(writer)
    if (st === undefined) return { seq: 0, hash: ZERO_HASH }
    const last = st.entries.at(-1)
    return last === undefined ? st.base : { seq: last.header.seq, hash: last.hash }
  }

  base (writer: string): Position & { source: Envelope | undefined } {
    const st = this.#writers.get(writer)
    if (st === undefined) return { seq: 0, hash: ZERO_HASH, source: undefined }
    return { ...st.base, source: st.baseSource === undefined ? undefined : this.#snapshots.get(st.baseSource) }
  }

  /** The hash of the writer's envelope `seq`, if held (or if `seq` is the writer's base). */
  hashAt (writer: string, seq: number): Uint8Array | undefined {
    const st = this.#writers.get(writer)
    if (st === undefined || seq < st.base.seq || seq === 0) return undefined
    if (seq === st.base.seq) return st.base.hash
    return st.entries[seq - st.base.seq - 1]?.hash
  }

  get (writer: string, seq: number): Envelope | undefined {
    const st = this.#writers.get(writer)
    return st === undefined ? undefined : st.entries[seq - st.base.seq - 1]
  }

  /** The writer's envelopes held with seq > `after`, in seq order. */
  after (writer: string, after: number): Envelope[] {
    const st = this.#writers.get(writer)
    if (st === undefined) return []
    return st.entries.slice(Math.max(0, after - st.base.seq))
  }

  /** Whether `env` is held in its writer's chain (a snapshot held otherwise is a checkpoint). */
  inChain (env: Envelope): boolean {
    return this.#inChain(env)
  }

  /** The snapshot held with this hash, in a chain or as a checkpoint. */
  snapshot (hash: Uint8Array): Envelope | undefined {
    return this.#snapshots.get(toHex(hash))
  }

  /** Every snapshot held, in a chain or as a checkpoint. */
  snapshots (): IterableIterator<Envelope> {
    return this.#snapshots.values()
  }

  /** Per writer, the tip: what a snapshot sealed now covers, in key order. */
  frontier (): WriterMark[] {
    const out: WriterMark[] = []
    for (const [writer, st] of this.#writers) {
      const t = this.tip(writer)
      if (t.seq > 0) out.push({ writer, key: st.key, seq: t.seq, hash: t.hash })
    }
    return out.sort((a, b) => compareBytes(a.key, b.key))
  }

  /** The version vector: per writer, the last seq held. */
  vv (): VersionVector {
    const out = new Map<string, number>()
    for (const writer of this.#writers.keys()) {
      const t = this.tip(writer).seq
      if (t > 0) out.set(writer, t)
    }
    return out
  }

  /**
   * Add a checked envelope: first move the writers it covers past what is
   * held (an attested snapshot's `rebase`), then append it to its writer's
   * chain, or keep it as a checkpoint. Throws E2eError (duplicate, gap,
   * equivocation, bad_cover, full) if the log changed since it was checked
   * so that it no longer fits; nothing is changed then.
   */
  add (env: CheckedEnvelope): void {
    const h = env.header
    if (!equalBytes(h.docKey, this.docKey)) throw new TypeError('an envelope of another doc')
    const marks = env.rebase.filter(m => m.seq > this.tip(m.writer).seq)
    for (const m of env.rebase) {
      const held = this.hashAt(m.writer, m.seq)
      if (held !== undefined && !equalBytes(held, m.hash)) refuse('bad_cover', `${shortId(m.writer)} seq ${m.seq} is another envelope here`)
    }
    const newWriters = new Set([h.writer, ...marks.map(m => m.writer)].filter(w => !this.#writers.has(w)))
    if (this.#writers.size + newWriters.size > E2E_LIMITS.maxWriters) refuse('full', `a doc of more than ${E2E_LIMITS.maxWriters} writers`)
    const mine = marks.find(m => m.writer === h.writer) ?? this.tip(h.writer)
    const append = h.seq === mine.seq + 1
    if (append && !equalBytes(h.prev, mine.hash)) refuse('equivocation', `${shortId(h.writer)} seq ${h.seq} does not follow the seq ${mine.seq} held`)
    if (h.seq > mine.seq + 1) refuse('gap', `${shortId(h.writer)} seq ${mine.seq + 1} is not held`)
    if (!append) {
      const held = this.hashAt(h.writer, h.seq)
      if (held !== undefined && !equalBytes(held, env.hash)) refuse('equivocation', `${shortId(h.writer)} seq ${h.seq} is another envelope here`)
      const checkpoint = held === undefined && h.kind === 'snapshot' && marks.length > 0
      if (!checkpoint && !(env.held && marks.length > 0)) refuse('duplicate', `${shortId(h.writer)} seq ${h.seq} is held`)
    }
    // all checked: change the log
    const source = toHex(env.hash)
    if (h.kind === 'snapshot' && !this.#snapshots.has(source)) this.#snapshots.set(source, stripped(env))
    for (const m of marks) this.#raise(m, source)
    if (append) {
      const st = this.#state(h.writer, h.writerKey)
      st.entries.push(h.kind === 'snapshot' ? this.#snapshots.get(source)! : stripped(env))
      this.#chainBytes += env.bytes.length
    }
    if (marks.length > 0) this.#prune()
  }

  /**
   * Move writers' bases forward to what snapshots cover (a compaction plan,
   * see snapshot.ts `compactable`), dropping the envelopes below. Each mark
   * must name the hash held at its seq, and its source must be a snapshot held.
   */
  compact (plan: ReadonlyArray<{ mark: WriterMark, source: Uint8Array }>): void {
    for (const { mark, source } of plan) {
      if (!this.#snapshots.has(toHex(source))) throw new TypeError('a compaction by a snapshot not held')
      const held = this.hashAt(mark.writer, mark.seq)
      if (mark.seq > this.tip(mark.writer).seq || held === undefined || !equalBytes(held, mark.hash)) {
        throw new TypeError(`a compaction to ${shortId(mark.writer)} seq ${mark.seq}, which is not held`)
      }
    }
    for (const { mark, source } of plan) this.#raise(mark, toHex(source))
    this.#prune()
  }

  /**
   * Drop what a rotation voided: per writer, its envelopes of an epoch past
   * where the next epoch's record closed that epoch for it (they were
   * accepted before the record arrived). Returns them, in seq order per
   * writer: on the writer's own log, what it must seal again in the new
   * epoch (from their plaintext, or from its doc).
   */
  dropStale (epochs: EpochChain): Envelope[] {
    const out: Envelope[] = []
    for (const st of this.#writers.values()) {
      const i = st.entries.findIndex(e => e.header.seq > epochs.closedAt(e.header.epoch, e.header.writer))
      if (i < 0) continue
      const gone = st.entries.slice(i)
      st.entries = st.entries.slice(0, i)
      for (const e of gone) this.#chainBytes -= e.bytes.length
      out.push(...gone)
    }
    if (out.length > 0) this.#prune()
    return out
  }

  /** Keep a verified attestation (see attestation.ts); false if it adds nothing. */
  addAttestation (att: Attestation): boolean {
    if (!equalBytes(att.docKey, this.docKey)) throw new TypeError('an attestation of another doc')
    const key = toHex(att.snapshot)
    const list = this.#attestations.get(key) ?? []
    if (list.some(a => a.attester === att.attester) || list.length >= E2E_LIMITS.maxAttestationsPerSnapshot) return false
    if (this.#attestationCount >= E2E_LIMITS.maxAttestations) refuse('full', `more than ${E2E_LIMITS.maxAttestations} attestations`)
    list.push(att)
    this.#attestations.set(key, list)
    this.#attestationCount++
    return true
  }

  attestationsFor (snapshotHash: Uint8Array): readonly Attestation[] {
    return this.#attestations.get(toHex(snapshotHash)) ?? []
  }

  #state (writer: string, key: Uint8Array): WriterState {
    let st = this.#writers.get(writer)
    if (st === undefined) {
      st = { key, base: { seq: 0, hash: ZERO_HASH }, baseSource: undefined, entries: [] }
      this.#writers.set(writer, st)
    }
    return st
  }

  /** The writer's base moves to `m` (past its tip, or within its chain at a seq whose hash `m` names). */
  #raise (m: WriterMark, source: string): void {
    const st = this.#state(m.writer, m.key)
    if (m.seq <= st.base.seq) return
    const drop = Math.min(st.entries.length, m.seq - st.base.seq)
    for (let i = 0; i < drop; i++) this.#chainBytes -= st.entries[i].bytes.length
    st.entries = st.entries.slice(drop)
    st.base = { seq: m.seq, hash: m.hash }
    st.baseSource = source
  }

  #inChain (s: Envelope): boolean {
    const st = this.#writers.get(s.header.writer)
    const held = st?.entries[s.header.seq - st.base.seq - 1]
    return held !== undefined && equalBytes(held.hash, s.hash)
  }

  /** Drop the snapshots that are neither in a chain nor some writer's base source, and their attestations. */
  #prune (): void {
    const sources = new Set<string>()
    for (const st of this.#writers.values()) if (st.baseSource !== undefined) sources.add(st.baseSource)
    for (const [key, s] of this.#snapshots) {
      if (sources.has(key) || this.#inChain(s)) continue
      this.#snapshots.delete(key)
      this.#attestationCount -= this.#attestations.get(key)?.length ?? 0
      this.#attestations.delete(key)
    }
  }
}

/** What a log keeps of a checked envelope: the envelope, without what the check added. */
function stripped (env: CheckedEnvelope): Envelope {
  const { header, headerBytes, nonce, ciphertext, signature, hash, bytes } = env
  return { header, headerBytes, nonce, ciphertext, signature, hash, bytes }
}
