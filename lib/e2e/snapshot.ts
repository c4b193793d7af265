/**
 * Snapshots. A snapshot is an envelope of kind snapshot: its plaintext is
 * a whole doc (a V1 update), and its header covers, per writer, a seq and
 * the hash of that envelope. A snapshot is the compaction of a log, not of
 * a live doc: its plaintext is built from exactly the envelopes it covers
 * (`sealSnapshot`), so any member holding them can rebuild it and check it.
 * A blind node never drops an envelope on the word of an unchecked snapshot:
 *
 *  (a) form, against its own log (envelope.ts): every covered seq it holds
 *      has the hash the snapshot names (bad_cover), and a seq it does not
 *      hold is taken only with an attestation (cover_gap);
 *  (b) content, by a member (`attestSnapshot`): it decrypts the snapshot
 *      and the envelopes it covers, builds each into a fresh Y.Doc, and
 *      checks that the two hold exactly the same structs (`snapshotMatches`:
 *      state vector, delete set, and every item's id, origins, parent and
 *      content); only then does it sign an attestation. Applying the covered
 *      updates to the snapshot and seeing nothing change is not enough: Yjs
 *      skips an id it has, so a snapshot could keep every id and change
 *      what the items say, or add content no envelope carried.
 *
 * What a snapshot is built from, and checked against (`coveredUpdates`):
 * per covered writer, its update envelopes held up to the covered seq, and
 * for a writer whose envelopes are no longer held (below the log's base),
 * the snapshot that set that base, which must itself be covered (else
 * cannot_check). Snapshots in a chain are not among them: what they hold,
 * the updates they cover hold too. Covered updates that do not decrypt, do
 * not validate, or write under another writer's clientIDs (admit.ts) were
 * never applied by an honest member: they add nothing.
 */
import type { PrivateKey } from '@libp2p/interface'
import * as Y from 'yjs'
import { DEFAULT_LIMITS } from '../security/limits.js'
import { type ValidatedUpdate, validateUpdate } from '../security/validate-update.js'
import { authoredBy } from './admit.js'
import { signAttestation } from './attestation.js'
import { equalBytes, toHex } from './codec.js'
import { sameStructs } from './doc-equal.js'
import { decryptEnvelope, sealEnvelope } from './envelope.js'
import { E2eError, refuse } from './errors.js'
import { shortId } from './keys.js'
import type { EnvelopeLog } from './log.js'
import type { CheckedEnvelope, Envelope, EpochKey, OpenedEnvelope, WriterMark } from './types.js'

export interface CoveredUpdate {
  update: Uint8Array
  /** for an update envelope: its writer's raw key and the doc, to check authorship (admit.ts) */
  author?: { key: Uint8Array, docKey: Uint8Array }
}

type Keys = (epoch: number) => EpochKey | undefined

/**
 * The plaintexts a snapshot covering `cover` is built from (see the
 * header), decrypted from `log`. E2eError: cover_gap or bad_cover (the log
 * does not hold what it covers), cannot_check (it no longer holds enough).
 */
export function coveredUpdates (cover: readonly WriterMark[], log: EnvelopeLog, keys: Keys): CoveredUpdate[] {
  const marks = new Map(cover.map(m => [m.writer, m.seq]))
  const covered = new Map<string, Envelope>()
  for (const m of cover) {
    if (m.seq > log.tip(m.writer).seq) refuse('cover_gap', `${shortId(m.writer)} seq ${m.seq} is not held here`)
    const held = log.hashAt(m.writer, m.seq)
    if (held !== undefined && !equalBytes(held, m.hash)) refuse('bad_cover', `${shortId(m.writer)} seq ${m.seq} is another envelope here`)
    const base = log.base(m.writer)
    if (base.seq > 0) {
      const src = base.source
      if (src === undefined || src.header.seq > (marks.get(src.header.writer) ?? 0)) {
        refuse('cannot_check', `the envelopes of ${shortId(m.writer)} up to ${base.seq} are compacted here, by a snapshot not covered`)
      }
      covered.set(toHex(src.hash), src)
    }
    for (const env of log.after(m.writer, 0)) {
      if (env.header.seq > m.seq) break
      if (env.header.kind === 'update') covered.set(toHex(env.hash), env)
    }
  }
  const out: CoveredUpdate[] = []
  for (const env of covered.values()) {
    let update: Uint8Array
    try {
      update = decryptEnvelope(env, keys)
    } catch (err) {
      if (err instanceof E2eError && err.reason === 'bad_ciphertext') continue
      if (err instanceof E2eError && err.reason === 'no_key') refuse('cannot_check', `no key of epoch ${env.header.epoch}`)
      throw err
    }
    const h = env.header
    out.push({ update, author: h.kind === 'update' ? { key: h.writerKey, docKey: h.docKey } : undefined })
  }
  return out
}

/** A fresh doc of the covered updates: each validated, and (for an update) written under its writer's clientIDs; the others skipped. */
function docOf (covered: Iterable<CoveredUpdate>, maxNestingDepth: number): Y.Doc {
  const doc = new Y.Doc()
  for (const { update, author } of covered) {
    let checked: ValidatedUpdate
    try {
      checked = validateUpdate(doc, update, maxNestingDepth)
    } catch {
      continue
    }
    if (author !== undefined && !authoredBy(checked.clients, author.key, author.docKey)) continue
    Y.applyUpdate(doc, checked.bytes)
  }
  return doc
}

const hasPending = (doc: Y.Doc): boolean => doc.store.pendingStructs !== null || doc.store.pendingDs !== null

/**
 * Whether the doc in `snapshot` (a V1 update) holds exactly what the
 * `covered` updates hold together: the same state vector, delete set and
 * structs (doc-equal.ts), and neither leaves pending structs. A snapshot
 * that does not validate matches nothing.
 */
export function snapshotMatches (snapshot: Uint8Array, covered: Iterable<CoveredUpdate>, maxNestingDepth = DEFAULT_LIMITS.maxNestingDepth): boolean {
  const s = new Y.Doc()
  const c = docOf(covered, maxNestingDepth)
  try {
    try {
      Y.applyUpdate(s, validateUpdate(s, snapshot, maxNestingDepth).bytes)
    } catch {
      return false
    }
    if (hasPending(s) || hasPending(c)) return false
    return Y.equalSnapshots(Y.snapshot(s), Y.snapshot(c)) && sameStructs(s, c)
  } finally {
    s.destroy()
    c.destroy()
  }
}

export interface SnapshotOptions {
  /** the member's key */
  key: PrivateKey
  /** its log of the doc: the snapshot covers its every writer's tip, and takes the member's next seq */
  log: EnvelopeLog
  /** its epoch keys (openEpochKeys) */
  keys: Keys
}

/**
 * Seal a snapshot of `log` in the latest epoch key given: the doc built
 * from what it covers (every writer's tip). E2eError cannot_check if the
 * log cannot be built into a whole doc (covered updates that depend on
 * envelopes not held yet: try again after catch-up).
 */
export async function sealSnapshot (epochKey: EpochKey, opts: SnapshotOptions): Promise<CheckedEnvelope> {
  const doc = docOf(coveredUpdates(opts.log.frontier(), opts.log, opts.keys), DEFAULT_LIMITS.maxNestingDepth)
  try {
    if (hasPending(doc)) refuse('cannot_check', 'the log holds updates whose dependencies it does not hold yet')
    return await sealEnvelope(Y.encodeStateAsUpdate(doc), { key: opts.key, epochKey, log: opts.log, kind: 'snapshot' })
  } finally {
    doc.destroy()
  }
}

/**
 * Check a snapshot against the envelopes it covers (see the header) and
 * sign an attestation of it. E2eError: cover_gap, bad_cover, cannot_check
 * (see coveredUpdates), not_covered (the snapshot is not exactly what it
 * covers).
 */
export async function attestSnapshot (snapshot: OpenedEnvelope, opts: SnapshotOptions): Promise<Uint8Array> {
  const covered = coveredUpdates(snapshot.header.cover, opts.log, opts.keys)
  if (!snapshotMatches(snapshot.plaintext, covered)) {
    refuse('not_covered', `the snapshot of ${shortId(snapshot.header.writer)} seq ${snapshot.header.seq} is not exactly what it covers`)
  }
  return await signAttestation(opts.key, snapshot)
}
