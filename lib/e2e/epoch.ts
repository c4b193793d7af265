/**
 * Content key epochs (format v1). An epoch record names a doc's members for
 * one epoch and carries the epoch's 32-byte secret sealed to each of them;
 * its issuer (the doc's owner, or a holder of a delegate grant: the caller
 * decides, through `authority`) signs it. Records chain: epoch n names the
 * digest of epoch n − 1. Rotation is a new record without the removed
 * member, with a fresh secret, and `closed`: per writer, the seq it had
 * reached when the previous epoch closed, so that nothing can be added to
 * an old epoch afterwards (see envelope.ts, `stale_epoch`).
 *
 *   record    = body:bytes signature:raw64                      (nothing may follow)
 *   body      = version:uint (1)
 *               docKey:raw16
 *               epoch:uint (0 .. 2^32 − 1)
 *               prev:raw32                    zero for epoch 0; else the digest of epoch − 1
 *               issuer:raw32                  Ed25519 public key
 *               ephemeral:raw32               X25519 public key, fresh for this record
 *               commit:raw32                  HKDF(secret, "meshdoc e2e commit v1\n" ‖ docKey ‖ u32be(epoch))
 *               history:bytes (0 or 48)       the previous epoch's secret sealed under this one's; empty for epoch 0
 *               closedCount:uint (0 for epoch 0; ≤ 4,096)
 *                 closedCount × (writer:raw32 seq:uint ≥ 1)        writers in strictly ascending byte order
 *               memberCount:uint (1 .. 1,024)
 *                 memberCount × (key:raw32 access:uint (1 read, 2 write, 3 manage) sealed:raw48)   keys strictly ascending
 *   signature = Ed25519 by issuer over "meshdoc e2e epoch v1\n" ‖ body
 *   digest    = SHA-256(body)
 *
 * Sealing the secret to member m (raw Ed25519 key): xm = m converted to
 * X25519; shared = X25519(ephemeral secret, xm), refused if all zero;
 * (k, n) = HKDF-SHA256(shared, salt empty, info "meshdoc e2e seal v1\n" ‖
 * docKey ‖ u32be(epoch) ‖ ephemeral ‖ m, 56 bytes) split 32 + 24; sealed =
 * XChaCha20-Poly1305(k, n, no AAD, secret). A member opens it with its own
 * key converted to X25519, and checks it against `commit`, so every member
 * provably holds the same secret (and AEAD key commitment is not needed
 * for envelopes: one epoch, one key). The content key of the epoch is
 * HKDF(secret, "meshdoc e2e content v1\n" ‖ docKey ‖ u32be(epoch), 32).
 * `history` is XChaCha20-Poly1305 of the previous secret under (k, n) =
 * HKDF(secret, "meshdoc e2e history v1\n" ‖ docKey ‖ u32be(epoch), 56):
 * a member of an epoch can open every earlier epoch (each checked against
 * its record's commit), so a member added by a rotation reads the doc's
 * history, and a removed member, sealed into no later record, reads none of
 * what follows. An issuer that does not hold the previous secret leaves it
 * empty: that record's members then read from this epoch on only.
 *
 * Checks, in order: size (too_large), decoding (malformed), docKey
 * (wrong_doc), place in the chain (duplicate, epoch_conflict, gap,
 * bad_chain), signature (bad_signature), then the caller's `authority`
 * (not_authorized). A second valid record for an epoch already held is
 * `epoch_conflict` (two issuers rotated concurrently): the chain keeps the
 * first it took. Nodes that took different ones stay split on that epoch
 * (each refuses the other side's later records: bad_chain). Avoiding it
 * (one issuer per doc at a time) or resolving it (a deterministic choice,
 * such as the lower digest, and sealing again what was written under the
 * other) is the caller's.
 */
import type { PrivateKey } from '@libp2p/interface'
import { randomBytes } from '@noble/ciphers/utils.js'
import * as encoding from 'lib0/encoding'
import { compareBytes, equalBytes, Reader, writeRaw } from './codec.js'
import { refuse } from './errors.js'
import { contentKey, ephemeralKeyPair, idOf, keyCommitment, keyOfId, openHistory, openSealed, ownRawKey, peerIdOf, rawKeyOf, sealHistory, sealSecret, sha256Of, shortId, sign, verify } from './keys.js'
import { CONTEXT, DOC_KEY_BYTES, E2E_LIMITS, E2E_VERSION, EPOCH_SECRET_BYTES, HASH_BYTES, PUBLIC_KEY_BYTES, SEALED_KEY_BYTES, SIGNATURE_BYTES, ZERO_HASH } from './limits.js'
import type { EpochKey, EpochMember, EpochRecord, MemberAccess } from './types.js'

/** Whether `issuer` (a PeerId) may issue `record` (see `defaultAuthority`). */
export type EpochAuthority = (issuer: string, record: { docKey: Uint8Array, epoch: number }) => boolean | Promise<boolean>

const ACCESS_CODE: Record<MemberAccess, number> = { read: 1, write: 2, manage: 3 }
const ACCESS_OF: readonly MemberAccess[] = ['read', 'read', 'write', 'manage']

/** Whether a member with `access` seals updates (and snapshots, and attests): `write` and `manage`. */
export const writes = (access: MemberAccess | undefined): boolean => access === 'write' || access === 'manage'

/**
 * Who may issue epoch n of `chain` (n ≥ 1): a member of epoch n − 1 with
 * `manage` access (the creator is one in epoch 0, as `open(id, { encrypted:
 * { members } })` names it). Each record is checked against the one before,
 * so a manager removed or demoted in epoch n issues nothing after it, the
 * creator included, and a blind node checks this as a member does (keys and
 * access are in the records, in clear). Anyone may issue epoch 0: it
 * creates the doc.
 */
export function defaultAuthority (chain: EpochChain): EpochAuthority {
  return (issuer, record) => {
    if (record.epoch === 0) return true
    return chain.get(record.epoch - 1)?.memberOf.get(idOf(rawKeyOf(issuer)))?.access === 'manage'
  }
}

export interface CreateEpochOptions {
  /** the issuer's key */
  key: PrivateKey
  docKey: Uint8Array
  /** the record this one follows (checked); none for epoch 0 */
  previous?: EpochRecord
  members: ReadonlyArray<{ peerId: string, access: MemberAccess }>
  /** the previous epoch's key, to give this epoch's members the doc's history (omit: they read from this epoch on) */
  previousKey?: EpochKey
  /** per writer id, the seq it reached in the epochs before (the issuer's `log.vv()`); not for epoch 0 */
  closed?: Iterable<readonly [string, number]>
}

/** A new epoch record, and its key for the issuer to use if it is a member. Caller errors are TypeErrors. */
export async function createEpoch (opts: CreateEpochOptions): Promise<{ bytes: Uint8Array, record: EpochRecord, key: EpochKey }> {
  const { docKey, previous } = opts
  if (docKey.length !== DOC_KEY_BYTES) throw new TypeError(`a doc key is ${DOC_KEY_BYTES} bytes`)
  if (previous !== undefined && !equalBytes(previous.docKey, docKey)) throw new TypeError('the previous record is of another doc')
  const epoch = previous === undefined ? 0 : previous.epoch + 1
  if (epoch > E2E_LIMITS.maxEpoch) throw new TypeError('no epoch after 2^32 − 1')
  for (const m of opts.members) if (ACCESS_CODE[m.access] === undefined) throw new TypeError(`a member's access is read, write or manage, not ${String(m.access)}`)
  const members = opts.members.map(m => ({ key: rawKeyOf(m.peerId), access: m.access }))
    .sort((a, b) => compareBytes(a.key, b.key))
  if (members.length === 0 || members.length > E2E_LIMITS.maxMembers) throw new TypeError(`an epoch has 1 to ${E2E_LIMITS.maxMembers} members`)
  for (let i = 1; i < members.length; i++) if (compareBytes(members[i - 1].key, members[i].key) === 0) throw new TypeError('a member named twice')
  const closed = [...(opts.closed ?? [])].filter(([, seq]) => seq > 0).map(([w, seq]) => ({ key: keyOfId(w), seq }))
    .sort((a, b) => compareBytes(a.key, b.key))
  if (epoch === 0 && closed.length > 0) throw new TypeError('epoch 0 closes nothing')
  if (closed.length > E2E_LIMITS.maxWriters) throw new TypeError(`at most ${E2E_LIMITS.maxWriters} closed writers`)
  const pk = opts.previousKey
  if (pk !== undefined && (previous === undefined || pk.epoch !== previous.epoch || !equalBytes(keyCommitment(pk.secret, docKey, pk.epoch), previous.commit))) {
    throw new TypeError('previousKey is not the key of the previous record')
  }

  const secret = randomBytes(EPOCH_SECRET_BYTES)
  const eph = ephemeralKeyPair()
  const issuerKey = ownRawKey(opts.key)
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, E2E_VERSION)
  writeRaw(e, docKey, DOC_KEY_BYTES)
  encoding.writeVarUint(e, epoch)
  writeRaw(e, previous?.digest ?? ZERO_HASH, HASH_BYTES)
  writeRaw(e, issuerKey, PUBLIC_KEY_BYTES)
  writeRaw(e, eph.publicKey, PUBLIC_KEY_BYTES)
  writeRaw(e, keyCommitment(secret, docKey, epoch), HASH_BYTES)
  encoding.writeVarUint8Array(e, pk === undefined ? new Uint8Array(0) : sealHistory(secret, pk.secret, docKey, epoch))
  encoding.writeVarUint(e, closed.length)
  for (const c of closed) {
    writeRaw(e, c.key, PUBLIC_KEY_BYTES)
    encoding.writeVarUint(e, c.seq)
  }
  encoding.writeVarUint(e, members.length)
  for (const m of members) {
    writeRaw(e, m.key, PUBLIC_KEY_BYTES)
    encoding.writeVarUint(e, ACCESS_CODE[m.access])
    writeRaw(e, sealSecret(secret, eph.secretKey, { docKey, epoch, ephemeralPublic: eph.publicKey, member: m.key }), SEALED_KEY_BYTES)
  }
  const body = encoding.toUint8Array(e)
  const signature = await sign(opts.key, CONTEXT.epochSignature, body)
  const out = encoding.createEncoder()
  encoding.writeVarUint8Array(out, body)
  writeRaw(out, signature, SIGNATURE_BYTES)
  const bytes = encoding.toUint8Array(out)
  if (bytes.length > E2E_LIMITS.maxEpochRecordBytes) throw new TypeError('the record would be too large')
  const record = decodeEpochRecord(bytes)
  return { bytes, record, key: epochKeyOf(secret, record) }
}

function epochKeyOf (secret: Uint8Array, record: EpochRecord): EpochKey {
  return { docKey: record.docKey, epoch: record.epoch, key: contentKey(secret, record.docKey, record.epoch), secret }
}

/** The epoch key sealed to `me` in a checked record: `not_member`, or `bad_key` if it does not open or match the commitment. */
export function openEpochKey (record: EpochRecord, me: PrivateKey): EpochKey {
  const mine = record.memberOf.get(idOf(ownRawKey(me)))
  if (mine === undefined) refuse('not_member', `not a member of epoch ${record.epoch}`)
  const c = { docKey: record.docKey, epoch: record.epoch, ephemeralPublic: record.ephemeral, member: mine.key }
  const secret = openSealed(mine.sealed, me, c)
  if (!equalBytes(keyCommitment(secret, record.docKey, record.epoch), record.commit)) {
    refuse('bad_key', `the key sealed to ${shortId(mine.id)} is not the one epoch ${record.epoch} commits to`)
  }
  return epochKeyOf(secret, record)
}

/**
 * Every epoch key of the chain `me` can open: that of the latest epoch it
 * is a member of, and through each record's history those before it (down
 * to a record without history). `not_member` if it is a member of none;
 * `bad_key` if a history does not match its record's commitment.
 */
export function openEpochKeys (chain: EpochChain, me: PrivateKey): Map<number, EpochKey> {
  const mine = idOf(ownRawKey(me))
  let n = chain.latest?.epoch ?? -1
  while (n >= 0 && !chain.get(n)!.memberOf.has(mine)) n--
  if (n < 0) refuse('not_member', 'a member of no epoch of this doc')
  let key = openEpochKey(chain.get(n)!, me)
  const keys = new Map([[n, key]])
  for (let e = n; e > 0 && chain.get(e)!.history.length > 0; e--) {
    const before = chain.get(e - 1)!
    const secret = openHistory(chain.get(e)!.history, key.secret, chain.docKey, e)
    if (!equalBytes(keyCommitment(secret, before.docKey, before.epoch), before.commit)) refuse('bad_key', `the history of epoch ${e} is not the key of epoch ${e - 1}`)
    key = epochKeyOf(secret, before)
    keys.set(e - 1, key)
  }
  return keys
}

export interface VerifyEpochOptions {
  authority: EpochAuthority
  /** the doc it must be for */
  docKey?: Uint8Array
  /** the checked record of epoch − 1; required unless the record is of epoch 0 */
  previous?: EpochRecord
}

/** A checked epoch record (see the header for the checks and their order). */
export async function verifyEpochRecord (bytes: Uint8Array, opts: VerifyEpochOptions): Promise<EpochRecord> {
  const record = decodeEpochRecord(bytes)
  if (opts.docKey !== undefined && !equalBytes(record.docKey, opts.docKey)) refuse('wrong_doc', 'an epoch record of another doc')
  const p = opts.previous
  if (record.epoch > 0 && (p === undefined || p.epoch !== record.epoch - 1)) refuse('gap', `epoch ${record.epoch} without the record of epoch ${record.epoch - 1}`)
  if (p !== undefined && !equalBytes(p.docKey, record.docKey)) refuse('wrong_doc', 'the previous record is of another doc')
  if (!equalBytes(record.prev, record.epoch === 0 ? ZERO_HASH : p!.digest)) refuse('bad_chain', `epoch ${record.epoch} does not follow the record held for epoch ${record.epoch - 1}`)
  await checkSignatureAndAuthority(record, opts.authority)
  return record
}

async function checkSignatureAndAuthority (record: EpochRecord, authority: EpochAuthority): Promise<void> {
  const r = new Reader(record.bytes, 'epoch record')
  const body = r.bytes(E2E_LIMITS.maxEpochRecordBytes, 'body')
  const signature = r.raw(SIGNATURE_BYTES)
  if (!await verify(record.issuerKey, CONTEXT.epochSignature, body, signature)) refuse('bad_signature', `epoch ${record.epoch}: not signed by its issuer`)
  let allowed = false
  try {
    allowed = await authority(record.issuer, { docKey: record.docKey, epoch: record.epoch })
  } catch {}
  if (!allowed) refuse('not_authorized', `${record.issuer} may not manage the members of this doc`)
}

/**
 * The epoch records of one doc, from epoch 0, each checked against the one
 * before. What envelopes are checked against: who writes in which epoch,
 * and where each closed epoch was closed.
 */
export class EpochChain {
  readonly #records: EpochRecord[] = []
  constructor (readonly docKey: Uint8Array) {
    if (docKey.length !== DOC_KEY_BYTES) throw new TypeError(`a doc key is ${DOC_KEY_BYTES} bytes`)
  }

  get latest (): EpochRecord | undefined {
    return this.#records.at(-1)
  }

  get (epoch: number): EpochRecord | undefined {
    return this.#records[epoch]
  }

  /** Check `bytes` and append it; `duplicate` for the record held, `epoch_conflict` for another valid one of a held epoch. */
  async add (bytes: Uint8Array, opts: { authority: EpochAuthority }): Promise<EpochRecord> {
    const record = decodeEpochRecord(bytes)
    if (!equalBytes(record.docKey, this.docKey)) refuse('wrong_doc', 'an epoch record of another doc')
    const held = this.#records[record.epoch]
    if (held !== undefined) {
      if (equalBytes(held.digest, record.digest)) refuse('duplicate', `epoch ${record.epoch} is held`)
      // only a record that would have been valid is evidence of a conflict
      await verifyEpochRecord(bytes, { ...opts, previous: this.#records[record.epoch - 1] })
      refuse('epoch_conflict', `another record of epoch ${record.epoch} is held`)
    }
    if (record.epoch > this.#records.length) refuse('gap', `epoch ${record.epoch} after epoch ${this.#records.length - 1}`)
    const checked = await verifyEpochRecord(bytes, { ...opts, previous: this.latest })
    if (this.#records.length !== checked.epoch) refuse('duplicate', `epoch ${checked.epoch} was added meanwhile`)
    this.#records.push(checked)
    return checked
  }

  /** The last seq of `writer` (an id) that epoch `epoch` accepts: where the next record closed it, or no limit while it is the latest. */
  closedAt (epoch: number, writer: string): number {
    const next = this.#records[epoch + 1]
    return next === undefined ? Infinity : next.closed.get(writer) ?? 0
  }
}

/** Decode a record strictly (its signature, chain and issuer are not checked here). */
export function decodeEpochRecord (input: Uint8Array): EpochRecord {
  if (!(input instanceof Uint8Array)) refuse('malformed', 'an epoch record is bytes')
  if (input.length > E2E_LIMITS.maxEpochRecordBytes) refuse('too_large', `an epoch record of ${input.length} bytes`)
  const bytes = input.slice()
  const outer = new Reader(bytes, 'epoch record')
  const body = outer.bytes(E2E_LIMITS.maxEpochRecordBytes, 'body')
  outer.raw(SIGNATURE_BYTES)
  outer.end()
  const r = new Reader(body, 'epoch record')
  r.bounded(E2E_VERSION, E2E_VERSION, 'version')
  const docKey = r.raw(DOC_KEY_BYTES)
  const epoch = r.bounded(0, E2E_LIMITS.maxEpoch, 'epoch')
  const prev = r.raw(HASH_BYTES)
  if (epoch === 0 && !equalBytes(prev, ZERO_HASH)) r.fail('epoch 0 follows nothing')
  const issuerKey = r.raw(PUBLIC_KEY_BYTES)
  const ephemeral = r.raw(PUBLIC_KEY_BYTES)
  const commit = r.raw(HASH_BYTES)
  const history = r.bytes(SEALED_KEY_BYTES, 'history')
  if (history.length !== 0 && (history.length !== SEALED_KEY_BYTES || epoch === 0)) r.fail('a history is 48 bytes, after epoch 0')
  const closed = new Map<string, number>()
  const nClosed = r.bounded(0, epoch === 0 ? 0 : E2E_LIMITS.maxWriters, 'closed writers')
  let last: Uint8Array | undefined
  for (let i = 0; i < nClosed; i++) {
    const key = r.raw(PUBLIC_KEY_BYTES)
    if (last !== undefined && compareBytes(last, key) >= 0) r.fail('closed writers out of order')
    last = key
    closed.set(idOf(key), r.bounded(1, Number.MAX_SAFE_INTEGER, 'seq'))
  }
  const members: EpochMember[] = []
  const memberOf = new Map<string, EpochMember>()
  const nMembers = r.bounded(1, E2E_LIMITS.maxMembers, 'members')
  last = undefined
  for (let i = 0; i < nMembers; i++) {
    const key = r.raw(PUBLIC_KEY_BYTES)
    if (last !== undefined && compareBytes(last, key) >= 0) r.fail('members out of order')
    last = key
    const access = ACCESS_OF[r.bounded(1, 3, 'access')]
    const m: EpochMember = { id: idOf(key), key, access, sealed: r.raw(SEALED_KEY_BYTES), get peerId () { return peerIdOf(key) } }
    members.push(m)
    memberOf.set(m.id, m)
  }
  r.end()
  return { docKey, epoch, prev, issuerId: idOf(issuerKey), get issuer () { return peerIdOf(issuerKey) }, issuerKey, ephemeral, commit, history, closed, members, memberOf, digest: sha256Of(body), bytes }
}
