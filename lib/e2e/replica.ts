/**
 * One encrypted doc as a node holds it: its epoch records, its envelope log
 * and attestations, stored durably; for a member also the epoch keys and
 * the Y.Doc built from what it opened. A blind node holds the same minus
 * keys and doc: it checks everything but the plaintext (envelope.ts).
 *
 * Storage, one bucket per doc (nothing in clear: records, envelopes and
 * attestations as received):
 *
 *   ['_e2e.' + docKeyHex, 'r', epoch (10 digits)]                 epoch record
 *   ['_e2e.' + docKeyHex, 'e', writerHex, seq (16 digits)]         envelope
 *   ['_e2e.' + docKeyHex, 'a', snapshotHashHex, attesterHex]       attestation
 *
 * Everything is checked again when loaded (signatures, chains, covers), in
 * the order catch-up uses, so a damaged or altered store loads what still
 * checks out and counts the rest. What `take*` accepts is in the log at
 * once (so that the next envelope of a batch can follow it) and on disk
 * when the returned `stored` promise resolves: only then may a node say
 * STORED. Members write under their own Yjs clientIDs (admit.ts).
 */
import type { PrivateKey } from '@libp2p/interface'
import * as Y from 'yjs'
import { InvalidUpdateError } from '../errors.js'
import { MAX_UPDATE_ITEMS } from '../protocol/constants.js'
import { UpdateBatch } from '../yjs/update-batch.js'
import { logger } from '../log.js'
import type { StorageAdapter, StorageKey } from '../storage/types.js'
import { admitPlaintext, writerClientIds } from './admit.js'
import { verifyAttestation } from './attestation.js'
import { toHex } from './codec.js'
import { compactable } from './compaction.js'
import { createEpoch, defaultAuthority, EpochChain, openEpochKeys, writes, type EpochAuthority } from './epoch.js'
import { asksSignature, checkEnvelope, decodeEnvelope, decryptEnvelope, envelopeSigned, openChecked, sealEnvelope, SignatureNeeded } from './envelope.js'
import { E2eError, type E2eRefusal } from './errors.js'
import { idOf, ownRawKey } from './keys.js'
import { EnvelopeLog } from './log.js'
import { attestSnapshot, sealSnapshot } from './snapshot.js'
import type { CheckedEnvelope, Envelope, EpochKey, EpochRecord, MemberAccess, OpenedEnvelope, VersionVector } from './types.js'
import { missingFrom, type CatchUp } from './version-vector.js'

const log = logger('e2e')

/** the origin of what a replica applies to its doc from envelopes */
export const E2E_REMOTE = Symbol('meshdoc.e2e.remote')

export const e2eBucket = (docKeyHex: string): string => `_e2e.${docKeyHex}`
const pad = (n: number, width: number): string => String(n).padStart(width, '0')

export interface ReplicaOptions {
  docKey: Uint8Array
  storage: StorageAdapter
  /** who may issue epoch records; default: `defaultAuthority` (the managers of the epoch before) */
  authority?: EpochAuthority
  /** a member's key (its libp2p identity); none: a blind replica */
  key?: PrivateKey
}

/** What a take* call did: accepted items are in memory now, and on disk once `stored` resolves. */
export interface Taken<T> {
  accepted: T[]
  /** held already (a replay, or the same envelope by two paths): ignored, not refused */
  duplicates: number
  refused: Map<E2eRefusal | 'invalid_update', number>
  stored: Promise<void>
}

export class E2eReplica {
  readonly docKey: Uint8Array
  readonly keyHex: string
  readonly chain: EpochChain
  readonly log: EnvelopeLog
  readonly doc: Y.Doc | undefined
  readonly #storage: StorageAdapter
  readonly #authority: EpochAuthority
  readonly #key: PrivateKey | undefined
  readonly #me: string | undefined
  #keys = new Map<number, EpochKey>()
  /** a member's updates to seal again (what a rotation voided), before its local transactions */
  #pending: Uint8Array[] = []
  /** a member's local transactions not sealed yet */
  #batch = new UpdateBatch()
  /** signature checks started at receipt (receiveEnvelopes) and not done yet */
  #checksAhead = 0
  /** snapshots of other members received, to attest */
  #toAttest: OpenedEnvelope[] = []
  /** the writes in flight, so that `settled()` can wait for them */
  readonly #writes = new Set<Promise<void>>()
  /** envelopes in the log not known to be on disk yet (in flight, or their save failed), by writer and seq */
  readonly #notDurable = new Map<string, Map<number, Envelope>>()
  /** their saves failed: saved again when they come again */
  readonly #failed = new Set<string>()
  /** this member's own envelopes a rotation voided: deleted once sealed again in the new epoch and stored */
  #staleOwn: StorageKey[] = []
  /** envelopes (and their bytes) added to the log since the last snapshot it took (anyone's), and that snapshot's size */
  #sinceSnapshot = 0
  #bytesSinceSnapshot = 0
  #lastSnapshotBytes = 0

  constructor (opts: ReplicaOptions) {
    this.docKey = opts.docKey
    this.keyHex = toHex(opts.docKey)
    this.chain = new EpochChain(opts.docKey)
    this.log = new EnvelopeLog(opts.docKey)
    this.#storage = opts.storage
    this.#key = opts.key
    this.#me = opts.key === undefined ? undefined : idOf(ownRawKey(opts.key))
    this.#authority = opts.authority ?? defaultAuthority(this.chain)
    if (opts.key !== undefined) {
      const doc = new Y.Doc()
      doc.clientID = writerClientIds(ownRawKey(opts.key), opts.docKey)[0]
      // local transactions are recorded, not encoded one by one: a seal encodes them at once, straight
      // from the struct store (typing merges into runs; an update per keystroke would cost ~10x the bytes)
      doc.on('afterTransaction', (tr: Y.Transaction) => {
        if (tr.origin !== E2E_REMOTE && this.#batch.absorbTransaction(tr)) this.onLocalEdit?.()
      })
      this.doc = doc
    }
  }

  get member (): boolean { return this.#key !== undefined }

  /** this member's access in the latest epoch (undefined: not a member of it, or blind) */
  get access (): MemberAccess | undefined {
    return this.#me === undefined ? undefined : this.chain.latest?.memberOf.get(this.#me)?.access
  }

  /** whether this member may issue the next epoch record (the default authority: a manager of the latest epoch) */
  get manages (): boolean {
    return this.access === 'manage'
  }

  /** whether local edits wait to be sealed (no write access yet, or not flushed) */
  get pendingEdits (): number { return this.#pending.length + this.#batch.txns }

  /** called after each local transaction that changed the doc (a seal should follow) */
  onLocalEdit: (() => void) | undefined

  vv (): VersionVector { return this.log.vv() }

  /**
   * Whether a snapshot is due: the log took `every` envelopes since its last
   * one (anyone's), or more bytes than that snapshot's size and at least
   * `minBytes`: once attested, a new one then at least halves what nodes hold.
   * `factor` scales both (a member that only received them waits longer).
   */
  snapshotDue (every: number, minBytes: number, factor = 1): boolean {
    return this.#sinceSnapshot >= factor * every || this.#bytesSinceSnapshot >= factor * Math.max(minBytes, this.#lastSnapshotBytes)
  }

  /**
   * Whether a writer that paused should seal a snapshot: the envelopes since
   * the last one hold at least a quarter of its size, and at least
   * `minBytes`. Bytes only (a device appending a small reading every few
   * seconds pauses after each: counting envelopes would snapshot a growing
   * doc ever more often), so a snapshot costs at most 4x what was written.
   */
  idleSnapshotDue (minBytes: number): boolean {
    return this.#bytesSinceSnapshot >= Math.max(minBytes, this.#lastSnapshotBytes / 4)
  }

  /** The version vector of what is on disk: per writer, below the first envelope not stored yet. What STORED says. */
  durableVv (): VersionVector {
    const vv = new Map(this.log.vv())
    for (const [w, seqs] of this.#notDurable) {
      let lowest = Infinity
      for (const seq of seqs.keys()) lowest = Math.min(lowest, seq)
      if (lowest !== Infinity) vv.set(w, Math.min(vv.get(w) ?? 0, lowest - 1))
    }
    return vv
  }

  /** epoch records held, in order, from `from` */
  records (from = 0): Uint8Array[] {
    const out: Uint8Array[] = []
    for (let e = from; this.chain.get(e) !== undefined; e++) out.push(this.chain.get(e)!.bytes)
    return out
  }

  get recordCount (): number { return (this.chain.latest?.epoch ?? -1) + 1 }

  missingFor (theirs: VersionVector): CatchUp { return missingFrom(theirs, this.log) }

  // ------------------------------------------------------------------ load

  /** Load what the store holds, checking it all again; returns what was refused, by reason. */
  async load (): Promise<Map<string, number>> {
    const refused = new Map<string, number>()
    const count = (err: unknown): void => {
      const reason = err instanceof E2eError ? err.reason : 'invalid_update'
      refused.set(reason, (refused.get(reason) ?? 0) + 1)
    }
    const chunks = await this.#storage.loadRange([e2eBucket(this.keyHex)])
    const records = chunks.filter(c => c.key[1] === 'r').sort((a, b) => a.key[2] < b.key[2] ? -1 : 1)
    for (const r of records) {
      try { await this.chain.add(r.data, { authority: this.#authority }) } catch (err) { count(err) }
    }
    this.#openKeys()
    for (const a of chunks.filter(c => c.key[1] === 'a')) {
      // an attestation of a snapshot whose epoch is unknown here is refused like any other
      try { this.log.addAttestation(await verifyAttestation(a.data, { epochs: this.chain })) } catch (err) { count(err) }
    }
    // snapshots first (a checkpoint moves its writers' bases), then by writer and seq; what does not fit yet
    // (a gap that a later pass fills) goes round again while anything is added
    const decoded = chunks.filter(c => c.key[1] === 'e').map(c => ({ bytes: c.data, env: safeDecode(c.data) }))
    for (const d of decoded) if (d.env === undefined) count(new E2eError('malformed', 'a stored envelope'))
    let pending = decoded.filter((p): p is { bytes: Uint8Array, env: Envelope } => p.env !== undefined)
      .sort((a, b) => (a.env.header.kind === 'snapshot' ? 0 : 1) - (b.env.header.kind === 'snapshot' ? 0 : 1) ||
        (a.env.header.writer < b.env.header.writer ? -1 : a.env.header.writer > b.env.header.writer ? 1 : a.env.header.seq - b.env.header.seq))
    for (let progress = true; progress && pending.length > 0;) {
      progress = false
      const next: typeof pending = []
      const round = pending
      await this.#admitAll(round.map(p => p.env), (i, err) => {
        if (err === undefined) {
          progress = true
        } else if (err instanceof AdmittedRefusal) {
          progress = true
          count(err.cause)
        } else if (err instanceof E2eError && (err.reason === 'gap' || err.reason === 'cover_gap')) {
          next.push(round[i])
        } else if (!this.#resealOnLoad(round[i].env, err)) {
          count(err)
        }
      })
      pending = next
    }
    if (pending.length > 0) refused.set('gap', (refused.get('gap') ?? 0) + pending.length)
    if (refused.size > 0) log('%s: loaded with refusals %o', this.keyHex.slice(0, 8), Object.fromEntries(refused))
    return refused
  }

  // ------------------------------------------------------------------ taking what peers send

  /** Epoch records from epoch `from` on, in order; a member reopens its keys. Stale envelopes are dropped (a member's own are sealed again). */
  async takeRecords (from: number, records: readonly Uint8Array[]): Promise<Taken<EpochRecord>> {
    const out: Taken<EpochRecord> = { accepted: [], duplicates: 0, refused: new Map(), stored: Promise.resolve() }
    const saves: Array<Promise<void>> = []
    for (const [i, bytes] of records.entries()) {
      if (from + i < this.recordCount) continue
      try {
        const rec = await this.chain.add(bytes, { authority: this.#authority })
        out.accepted.push(rec)
        saves.push(this.#save([e2eBucket(this.keyHex), 'r', pad(rec.epoch, 10)], rec.bytes))
      } catch (err) {
        countInto(out.refused, err)
        break
      }
    }
    if (out.accepted.length > 0) {
      this.#openKeys()
      const stale = this.log.dropStale(this.chain)
      const own: Uint8Array[] = []
      for (const env of stale) {
        this.#notDurable.get(env.header.writer)?.delete(env.header.seq)
        if (this.doc !== undefined && env.header.writer === this.#me && env.header.kind === 'update') {
          // its own updates of an epoch closed before them: sealed again in the new one, and deleted only once that is stored
          own.push(decryptEnvelope(env, e => this.#keys.get(e)))
          this.#staleOwn.push(envKey(this.keyHex, env))
        } else {
          saves.push(this.#remove(envKey(this.keyHex, env)))
        }
      }
      this.#pending.unshift(...own)
    }
    out.stored = this.#track(Promise.all(saves).then(() => {}))
    return out
  }

  /**
   * Envelopes as they arrive: decoded, and the signatures the log does not
   * hold yet being checked at once (in Node on the thread pool), while
   * earlier frames are still being applied. For `takeEnvelopes`.
   */
  receiveEnvelopes (envelopes: readonly Uint8Array[]): ReceivedEnvelopes {
    const out: ReceivedEnvelopes = { decoded: [], refused: new Map(), signatures: new Map() }
    const ctx = { epochs: this.chain, log: this.log }
    for (const bytes of envelopes) {
      let env: Envelope
      try {
        env = decodeEnvelope(bytes)
      } catch (err) {
        countInto(out.refused, err)
        continue
      }
      out.decoded.push(env)
      // checks started ahead of the queue are bounded: past the bound, an envelope is checked in its turn
      if (this.#checksAhead < MAX_CHECKS_AHEAD && asksSignature(env, ctx)) {
        this.#checksAhead++
        const done = (): void => { this.#checksAhead-- }
        const check = envelopeSigned(env)
        check.then(done, done)
        out.signatures.set(env, check)
      }
    }
    return out
  }

  /** Envelopes (checkpoints first, then in catch-up order): each checked, a member's opened and applied. */
  async takeEnvelopes (input: readonly Uint8Array[] | ReceivedEnvelopes): Promise<Taken<Envelope>> {
    const received = isReceived(input) ? input : this.receiveEnvelopes(input)
    const out: Taken<Envelope> = { accepted: [], duplicates: 0, refused: new Map(received.refused), stored: Promise.resolve() }
    const saves: Array<Promise<void>> = []
    const decoded = received.decoded
    await this.#admitAll(decoded, (i, err) => {
      if (err === undefined || err instanceof AdmittedRefusal) {
        // refused after the log took it (authorship, strict validation): in the log (and stored, and
        // forwarded: blind nodes keep it too), never applied
        const env = err === undefined ? decoded[i] : err.envelope
        out.accepted.push(env)
        saves.push(this.#saveEnvelope(env))
        if (err !== undefined) countInto(out.refused, err.cause)
      } else if (err instanceof E2eError && err.reason === 'duplicate') {
        out.duplicates++
        // held, but its save failed: this copy is saved
        const held = this.#failedCopy(decoded[i])
        if (held !== undefined) saves.push(this.#saveEnvelope(held))
      } else {
        countInto(out.refused, err)
      }
    }, received.signatures)
    out.stored = this.#track(Promise.all(saves).then(() => {}))
    return out
  }

  /** Attestations (each verified); true for each one that adds something. */
  async takeAttestations (attestations: readonly Uint8Array[]): Promise<Taken<Uint8Array>> {
    const out: Taken<Uint8Array> = { accepted: [], duplicates: 0, refused: new Map(), stored: Promise.resolve() }
    const saves: Array<Promise<void>> = []
    for (const bytes of attestations) {
      try {
        const att = await verifyAttestation(bytes, { epochs: this.chain })
        if (!this.log.addAttestation(att)) continue
        out.accepted.push(att.bytes)
        saves.push(this.#save([e2eBucket(this.keyHex), 'a', toHex(att.snapshot), att.attester], att.bytes))
      } catch (err) { countInto(out.refused, err) }
    }
    out.stored = this.#track(Promise.all(saves).then(() => {}))
    return out
  }

  // ------------------------------------------------------------------ a member's own writing

  /**
   * Seal this member's local edits (in the latest epoch), add them to the
   * log and store them. Returns the envelopes sealed, stored once `stored`
   * resolves; none while it may not write (they wait).
   */
  async sealPending (): Promise<{ sealed: Envelope[], stored: Promise<void> }> {
    const sealed: Envelope[] = []
    const saves: Array<Promise<void>> = []
    const epochKey = this.#latestKey()
    if (this.#key !== undefined && epochKey !== undefined && writes(this.access)) {
      while (this.#pending.length > 0 || !this.#batch.empty) {
        // what is written while these are sealed waits for the next round
        const again = this.#pending
        const batch = this.#batch
        this.#pending = []
        this.#batch = new UpdateBatch()
        // at most MAX_UPDATE_ITEMS items an envelope: every receiver applies an update of that size
        const plaintexts = [...again, ...(batch.empty ? [] : batch.encodeAll(this.doc!, MAX_UPDATE_ITEMS))]
        for (const [i, plaintext] of plaintexts.entries()) {
          let env: CheckedEnvelope
          try {
            env = await sealEnvelope(plaintext, { key: this.#key, epochKey, log: this.log })
          } catch (err) {
            // not sealed: sealed next time (an update applies as often as it comes)
            this.#pending.unshift(...plaintexts.slice(i))
            throw err
          }
          this.#added(env)
          sealed.push(env)
          saves.push(this.#saveEnvelope(env))
        }
      }
    }
    let stored = Promise.all(saves).then(() => {})
    if (sealed.length > 0 && this.#staleOwn.length > 0) {
      const gone = this.#staleOwn
      this.#staleOwn = []
      stored = stored.then(async () => { await Promise.all(gone.map(async k => { await this.#remove(k) })) })
    }
    return { sealed, stored: this.#track(stored) }
  }

  /** A snapshot of the log, sealed by this member (it covers every writer's tip); undefined if it cannot write. */
  async sealSnapshot (): Promise<{ envelope: Envelope, stored: Promise<void> } | undefined> {
    const epochKey = this.#latestKey()
    if (this.#key === undefined || epochKey === undefined || !writes(this.access)) return undefined
    const env = await sealSnapshot(epochKey, { key: this.#key, log: this.log, keys: e => this.#keys.get(e) })
    this.#added(env)
    return { envelope: env, stored: this.#track(this.#saveEnvelope(env)) }
  }

  /** Attest the snapshots of other members received since the last call (each checked against what it covers). */
  async attestReceived (): Promise<Taken<Uint8Array>> {
    const made: Uint8Array[] = []
    const refused = new Map<E2eRefusal | 'invalid_update', number>()
    if (this.#key !== undefined) {
      for (const s of this.#toAttest.splice(0)) {
        try {
          made.push(await attestSnapshot(s, { key: this.#key, log: this.log, keys: e => this.#keys.get(e) }))
        } catch (err) { countInto(refused, err) }
      }
    }
    const taken = await this.takeAttestations(made)
    for (const [r, n] of refused) taken.refused.set(r, (taken.refused.get(r) ?? 0) + n)
    return taken
  }

  /** Drop what attested snapshots cover (compaction.ts), from the log and the store. */
  async compact (): Promise<number> {
    const c = compactable(this.log, this.chain)
    if (c.plan.length === 0) return 0
    // the attestations of the snapshots that go, which the log forgets with them
    const attested = new Map(c.drop.filter(env => env.header.kind === 'snapshot').map(env => [env, this.log.attestationsFor(env.hash)]))
    this.log.compact(c.plan)
    const keys = c.drop.map(env => envKey(this.keyHex, env))
    for (const [env, atts] of attested) {
      if (this.log.snapshot(env.hash) !== undefined) continue
      for (const a of atts) keys.push([e2eBucket(this.keyHex), 'a', toHex(env.hash), a.attester])
    }
    await this.#track(Promise.all(keys.map(async k => { await this.#remove(k) })).then(() => {}))
    return c.drop.length
  }

  /**
   * Issue the next epoch record (this member must have the authority):
   * `members` are all of them, this one included; the new key is sealed to
   * each, with the previous key (the history) unless `history` is false.
   */
  async issueEpoch (members: ReadonlyArray<{ peerId: string, access: MemberAccess }>, history = true): Promise<{ record: Uint8Array, stored: Promise<void> }> {
    if (this.#key === undefined) throw new TypeError('a blind replica issues no epoch')
    const previous = this.chain.latest
    const created = await createEpoch({
      key: this.#key,
      docKey: this.docKey,
      members,
      ...(previous !== undefined ? { previous, closed: this.log.vv() } : {}),
      ...(previous !== undefined && history && this.#keys.has(previous.epoch) ? { previousKey: this.#keys.get(previous.epoch)! } : {})
    })
    const taken = await this.takeRecords(created.record.epoch, [created.bytes])
    if (taken.accepted.length !== 1) throw new E2eError([...taken.refused.keys()][0] as E2eRefusal ?? 'not_authorized', 'the new epoch record was refused')
    return { record: created.bytes, stored: taken.stored }
  }

  /** nothing under way: no write in flight, none failed (to retry), no signature check started */
  get quiet (): boolean { return this.#writes.size === 0 && this.#failed.size === 0 && this.#checksAhead === 0 }

  /** envelopes in the log whose save failed */
  get unsaved (): number { return this.#failed.size }

  /** Save again the envelopes whose save failed; rejects if one fails again. */
  async saveFailed (): Promise<void> {
    const again: Envelope[] = []
    for (const id of this.#failed) {
      const [writer, seq] = id.split(':')
      const env = this.#notDurable.get(writer)?.get(Number(seq))
      if (env === undefined) this.#failed.delete(id)
      else again.push(env)
    }
    await this.#track(Promise.all(again.map(async env => { await this.#saveEnvelope(env) })).then(() => {}))
  }

  /** Resolves once every write started so far is done (or failed). */
  async settled (): Promise<void> {
    await Promise.allSettled([...this.#writes])
  }

  destroy (): void {
    this.doc?.destroy()
  }

  // ------------------------------------------------------------------ inside

  /**
   * Admit `envs` in order (`#admitOne`), telling `outcome` how each went
   * (undefined: in the log). Their signatures are checked together first
   * (in Node on the thread pool, beside this thread's work), and a member
   * applies them in one Yjs transaction (one cleanup and one update event,
   * not one per envelope), which ends early only where a check asks for a
   * signature not checked up front (the log moved under it).
   */
  async #admitAll (envs: readonly Envelope[], outcome: (i: number, err: unknown) => void, started?: ReadonlyMap<Envelope, Promise<boolean>>): Promise<void> {
    const ctx = { epochs: this.chain, log: this.log }
    const signed = new Map<Envelope, boolean>()
    await Promise.all(envs.map(async env => {
      if (asksSignature(env, ctx)) signed.set(env, await (started?.get(env) ?? envelopeSigned(env)))
    }))
    let i = 0
    while (i < envs.length) {
      this.#remoteTransaction(() => {
        for (; i < envs.length; i++) {
          let err: unknown
          try {
            this.#admitOne(envs[i], signed.get(envs[i]))
          } catch (e) {
            if (e instanceof SignatureNeeded) return
            err = e
          }
          outcome(i, err)
        }
      })
      if (i < envs.length) signed.set(envs[i], await envelopeSigned(envs[i]))
    }
  }

  /**
   * Check `env` (and for a member open, validate and apply it) and add it
   * to the log; E2eError otherwise, AdmittedRefusal if the log took it but
   * the doc did not. `signed`: whether its signature holds, if checked
   * (SignatureNeeded if the checks need it and it is not given).
   */
  #admitOne (env: Envelope, signed: boolean | undefined): CheckedEnvelope {
    const checked = checkEnvelope(env, { epochs: this.chain, log: this.log }, signed)
    if (this.doc === undefined || this.#key === undefined) {
      this.#added(checked)
      return checked
    }
    let opened: OpenedEnvelope
    try {
      opened = openChecked(checked, e => this.#keys.get(e))
    } catch (err) {
      // an envelope of an epoch this member has no key of (it joined later, without history): kept to keep the chain whole
      if (err instanceof E2eError && err.reason === 'no_key') {
        this.#added(checked)
        return checked
      }
      throw err
    }
    let update: Uint8Array | undefined
    try {
      update = admitPlaintext(this.doc, opened)
    } catch (err) {
      // signed by a write member, in its chain, but not what it may apply (a forged author, an update
      // the strict validator refuses): kept in the log unapplied, so that the writer's later envelopes
      // still fit, and refused (counted, told)
      this.#added(opened)
      throw new AdmittedRefusal(opened, err)
    }
    if (update !== undefined) Y.applyUpdate(this.doc, update, E2E_REMOTE)
    this.#added(opened)
    if (opened.header.kind === 'snapshot' && opened.header.writer !== this.#me) this.#toAttest.push(opened)
    return opened
  }

  /**
   * Run `fn`, which applies remote updates, in one transaction on a
   * member's doc. Yjs takes a new random clientID when a remote update
   * brings structs under its own (this member's edits coming back to a
   * fresh device): they go in under a spare id, and it writes on under its
   * first.
   */
  #remoteTransaction (fn: () => void): void {
    if (this.doc === undefined || this.#key === undefined) {
      fn()
      return
    }
    const [own, spare] = writerClientIds(ownRawKey(this.#key), this.docKey)
    this.doc.clientID = spare
    try {
      Y.transact(this.doc, fn, E2E_REMOTE, false)
    } finally {
      this.doc.clientID = own
    }
  }

  /**
   * An own update a rotation voided, still on disk (the process stopped
   * before it was sealed again): back to the edits to seal. True if so.
   */
  #resealOnLoad (env: Envelope, err: unknown): boolean {
    if (!(err instanceof E2eError) || err.reason !== 'stale_epoch' || env.header.writer !== this.#me || env.header.kind !== 'update') return false
    try {
      this.#pending.push(decryptEnvelope(env, e => this.#keys.get(e)))
    } catch {
      return false
    }
    this.#staleOwn.push(envKey(this.keyHex, env))
    return true
  }

  async #saveEnvelope (env: Envelope): Promise<void> {
    const { writer, seq } = env.header
    let seqs = this.#notDurable.get(writer)
    if (seqs === undefined) this.#notDurable.set(writer, seqs = new Map())
    seqs.set(seq, env)
    const id = `${writer}:${seq}`
    try {
      await this.#save(envKey(this.keyHex, env), env.bytes)
      this.#failed.delete(id)
      // unless a rotation dropped it meanwhile, or another save of it is under way
      if (this.#notDurable.get(writer)?.get(seq) === env) seqs.delete(seq)
    } catch (err) {
      this.#failed.add(id)
      throw err
    }
  }

  /** The envelope held whose save failed, if `env` is a copy of one. */
  #failedCopy (env: Envelope): Envelope | undefined {
    if (this.#failed.size === 0 || !this.#failed.has(`${env.header.writer}:${env.header.seq}`)) return undefined
    return this.#notDurable.get(env.header.writer)?.get(env.header.seq)
  }

  /** Add a checked envelope to the log, and count it toward the next snapshot. */
  #added (env: CheckedEnvelope): void {
    this.log.add(env)
    if (env.header.kind === 'snapshot') {
      this.#sinceSnapshot = this.#bytesSinceSnapshot = 0
      this.#lastSnapshotBytes = env.bytes.length
    } else {
      this.#sinceSnapshot++
      this.#bytesSinceSnapshot += env.bytes.length
    }
  }

  #openKeys (): void {
    if (this.#key === undefined || this.chain.latest === undefined) return
    try {
      this.#keys = openEpochKeys(this.chain, this.#key)
    } catch (err) {
      if (!(err instanceof E2eError)) throw err
      log('%s: no key (%s)', this.keyHex.slice(0, 8), err.reason)
    }
  }

  #latestKey (): EpochKey | undefined {
    const latest = this.chain.latest
    return latest === undefined ? undefined : this.#keys.get(latest.epoch)
  }

  async #save (key: StorageKey, data: Uint8Array): Promise<void> {
    await this.#storage.save(key, data)
  }

  async #remove (key: StorageKey): Promise<void> {
    await this.#storage.remove(key)
  }

  #track (p: Promise<void>): Promise<void> {
    this.#writes.add(p)
    const done = (): void => { this.#writes.delete(p) }
    p.then(done, done)
    return p
  }
}

/** signature checks a replica starts ahead of its queue, at most (a frame holds up to 4,096 envelopes) */
const MAX_CHECKS_AHEAD = 8192

/** Envelopes decoded as they arrived, with their signature checks under way (`receiveEnvelopes`). */
export interface ReceivedEnvelopes {
  decoded: Envelope[]
  /** what did not decode, by reason */
  refused: Map<E2eRefusal | 'invalid_update', number>
  signatures: Map<Envelope, Promise<boolean>>
}

const isReceived = (x: readonly Uint8Array[] | ReceivedEnvelopes): x is ReceivedEnvelopes => !Array.isArray(x)

/** An envelope that passed every check but its plaintext's (authorship, strict validation): in the log, not applied. */
class AdmittedRefusal extends Error {
  constructor (readonly envelope: CheckedEnvelope, override readonly cause: unknown) {
    super('admitted to the log, not applied')
  }
}

const envKey = (keyHex: string, env: Envelope): StorageKey => [e2eBucket(keyHex), 'e', env.header.writer, pad(env.header.seq, 16)]

function safeDecode (bytes: Uint8Array): Envelope | undefined {
  try { return decodeEnvelope(bytes) } catch { return undefined }
}

function countInto (refused: Map<E2eRefusal | 'invalid_update', number>, err: unknown): void {
  const reason = err instanceof E2eError ? err.reason : 'invalid_update'
  if (!(err instanceof E2eError) && !(err instanceof InvalidUpdateError)) throw err
  refused.set(reason, (refused.get(reason) ?? 0) + 1)
}
