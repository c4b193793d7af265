/**
 * Envelopes (format v1): one encrypted, signed update (or snapshot) of one
 * writer. Members seal and open them; blind nodes check, store and forward
 * them without the key.
 *
 *   envelope   = header:bytes nonce:raw24 ciphertext:bytes signature:raw64     (nothing may follow)
 *   header     = version:uint (1)
 *                kind:uint (1 update, 2 snapshot)
 *                docKey:raw16
 *                epoch:uint (0 .. 2^32 − 1)
 *                writer:raw32                 Ed25519 public key
 *                seq:uint (≥ 1)               per writer per doc, contiguous across epochs
 *                prev:raw32                   hash of the writer's envelope seq − 1; zero iff seq = 1
 *                [kind 2] coverCount:uint (0 .. 4,096)
 *                  coverCount × (writer:raw32 seq:uint ≥ 1 hash:raw32)   writers strictly ascending;
 *                  the author itself at seq − 1 with hash prev when seq > 1, and never at ≥ seq
 *   ciphertext = XChaCha20-Poly1305(content key of the epoch, nonce, aad = header, plaintext)
 *                plaintext: a V1 update (a snapshot's: the whole doc), at most 8 MiB
 *   hash       = SHA-256(envelope without its last 64 bytes)
 *   signature  = Ed25519 by writer over "meshdoc e2e envelope v1\n" ‖ hash
 *
 * The nonce is 24 random bytes. The signature covers a SHA-256 of the
 * envelope rather than the envelope itself: the hash is needed anyway (the
 * chain, covers, equivocation evidence) and the Ed25519 call then hashes
 * 32 bytes instead of the whole update again. The signature is outside the
 * hash, so a re-encoded signature never makes an envelope look different.
 *
 * Checks, the same for a blind node and a member, in this order (cheap
 * before costly, and nothing named as evidence against a writer before its
 * signature is checked):
 *  1. size (too_large), then strict decoding (malformed), the doc (wrong_doc);
 *  2. the epoch is held (unknown_epoch);
 *  3. held already with the same hash: duplicate (a snapshot that would
 *     move other writers forward in the log goes on, as `held`); a seq the
 *     log already compacted: duplicate;
 *  4. the writer is a write member of the epoch (not_member);
 *  5. the epoch was not closed, for this writer, before this seq (stale_epoch:
 *     seq > the next record's `closed` for the writer, 0 if absent);
 *  6. the signature (bad_signature);
 *  7. another envelope held for this seq: equivocation;
 *  8. a snapshot's cover against the log: for each writer it names at a seq
 *     held, the hash held for that seq (bad_cover); a seq not held yet needs
 *     an attestation the log accepts (attestation.ts), without which it is
 *     cover_gap (soft: check again after catch-up); with one, the snapshot
 *     is a *checkpoint*: those writers move forward to it in the log
 *     (`rebase`), and what they had below it is covered by it;
 *  9. the chain: seq is the writer's next (else gap) and prev the hash of
 *     the writer's envelope held before (else equivocation). A checkpoint
 *     at or below its own writer's tip is kept beside the chain.
 * A member (openEnvelope) then decrypts with the epoch's key (no_key,
 * bad_ciphertext); admit.ts says what it applies of the plaintext, after
 * the strict V1 validator.
 */
import type { PrivateKey } from '@libp2p/interface'
import { randomBytes } from '@noble/ciphers/utils.js'
import * as encoding from 'lib0/encoding'
import { compareBytes, equalBytes, Reader, writeRaw } from './codec.js'
import { E2eError, refuse } from './errors.js'
import { writes, type EpochChain } from './epoch.js'
import { idOf, ownRawKey, sha256Of, shortId, sign, verify } from './keys.js'
import { CONTEXT, DOC_KEY_BYTES, E2E_LIMITS, E2E_VERSION, HASH_BYTES, MAX_ENVELOPE_BYTES, NONCE_BYTES, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, TAG_BYTES, ZERO_HASH } from './limits.js'
import type { EnvelopeLog } from './log.js'
import { e2ePrimitives } from './primitives.js'
import { acceptedAttestation } from './attestation.js'
import type { CheckedEnvelope, Envelope, EnvelopeHeader, EnvelopeKind, EpochKey, OpenedEnvelope, WriterMark } from './types.js'

const KIND_CODE: Record<EnvelopeKind, number> = { update: 1, snapshot: 2 }

export interface SealOptions {
  /** the writer's key */
  key: PrivateKey
  epochKey: EpochKey
  /** the writer's own log of the doc: the envelope takes the next seq; add it there before sealing another */
  log: EnvelopeLog
  /** default 'update'; a snapshot covers every writer's tip in `log` (seal one with snapshot.ts `sealSnapshot`: its plaintext must be exactly what that covers) */
  kind?: EnvelopeKind
}

/** Seal `plaintext` (a V1 update; for a snapshot, the whole doc) into a new envelope of this writer. */
export async function sealEnvelope (plaintext: Uint8Array, opts: SealOptions): Promise<CheckedEnvelope> {
  const { epochKey, log } = opts
  if (!equalBytes(epochKey.docKey, log.docKey)) throw new TypeError('the epoch key is of another doc')
  if (plaintext.length > E2E_LIMITS.maxPlaintextBytes) throw new TypeError(`a plaintext of ${plaintext.length} bytes is over ${E2E_LIMITS.maxPlaintextBytes}`)
  const writerKey = ownRawKey(opts.key)
  const writer = idOf(writerKey)
  const tip = log.tip(writer)
  const kind = opts.kind ?? 'update'
  const header: EnvelopeHeader = {
    kind,
    docKey: log.docKey,
    epoch: epochKey.epoch,
    writer,
    writerKey,
    seq: tip.seq + 1,
    prev: tip.hash,
    cover: kind === 'snapshot' ? log.frontier() : []
  }
  const headerBytes = encodeHeader(header)
  const nonce = randomBytes(NONCE_BYTES)
  const ciphertext = e2ePrimitives().seal(epochKey.key, nonce, headerBytes, plaintext)
  const e = encoding.createEncoder()
  encoding.writeVarUint8Array(e, headerBytes)
  writeRaw(e, nonce, NONCE_BYTES)
  encoding.writeVarUint8Array(e, ciphertext)
  const signed = encoding.toUint8Array(e)
  const hash = sha256Of(signed)
  const signature = await sign(opts.key, CONTEXT.envelopeSignature, hash)
  const bytes = new Uint8Array(signed.length + SIGNATURE_BYTES)
  bytes.set(signed)
  bytes.set(signature, signed.length)
  return { ...decodeEnvelope(bytes), rebase: [], held: false }
}

export interface CheckContext {
  epochs: EpochChain
  /** this node's log of the doc (not changed here: `log.add` the result) */
  log: EnvelopeLog
}

/**
 * Every check a node without the key can make (see the header), against
 * the epochs and the log it holds. Throws E2eError with the reason; the log
 * is not changed: add the result to it once stored.
 */
export async function checkEnvelopeBlind (bytes: Uint8Array, ctx: CheckContext): Promise<CheckedEnvelope> {
  const env = decodeEnvelope(bytes)
  return checkEnvelope(env, ctx, asksSignature(env, ctx) ? await envelopeSigned(env) : undefined)
}

/** Whether the envelope's writer signed it (check 6, alone). */
export async function envelopeSigned (env: Envelope): Promise<boolean> {
  return await verify(env.header.writerKey, CONTEXT.envelopeSignature, env.hash, env.signature)
}

/**
 * Whether `checkEnvelope` would ask for the envelope's signature against
 * this log: checks 1–5 pass and it is not held. A batch (a frame of
 * envelopes) checks those signatures together, up front.
 */
export function asksSignature (env: Envelope, ctx: CheckContext): boolean {
  try {
    checkEnvelope(env, ctx)
    return false
  } catch (err) {
    return err instanceof SignatureNeeded
  }
}

/** `checkEnvelope` came to the signature, and was not told whether it holds. */
export class SignatureNeeded extends Error {
  constructor () { super('the signature is needed') }
}

/**
 * `checkEnvelopeBlind` of a decoded envelope, without a wait: `signed` says
 * whether its signature holds (`envelopeSigned`). Left out, the check
 * throws SignatureNeeded if it comes to the signature (an envelope held
 * already never does).
 */
export function checkEnvelope (env: Envelope, ctx: CheckContext, signed?: boolean): CheckedEnvelope {
  const { header: h } = env
  const { epochs, log } = ctx
  const who = `${shortId(h.writer)} seq ${h.seq}`
  if (!equalBytes(h.docKey, log.docKey)) refuse('wrong_doc', `${who}: an envelope of another doc`)
  const record = epochs.get(h.epoch)
  if (record === undefined) refuse('unknown_epoch', `${who}: epoch ${h.epoch} is not held`)
  if (!writes(record.memberOf.get(h.writer)?.access)) refuse('not_member', `${shortId(h.writer)} does not write in epoch ${h.epoch}`)
  const heldHash = log.hashAt(h.writer, h.seq)
  const sameAsHeld = heldHash !== undefined && equalBytes(heldHash, env.hash)
  // a snapshot held already (in a chain or as a checkpoint): it was checked, signature and cover
  const twin = h.kind === 'snapshot' ? log.snapshot(env.hash) : undefined
  const known = sameAsHeld || twin !== undefined
  if (known && (h.kind === 'update' || forwardMarks(env, log).length === 0)) refuse('duplicate', `${who} is held`)
  const base = log.base(h.writer).seq
  if (h.kind === 'update' && heldHash === undefined && h.seq <= base) refuse('duplicate', `${who} is covered by a snapshot held`)
  if (h.seq > epochs.closedAt(h.epoch, h.writer)) refuse('stale_epoch', `${who}: epoch ${h.epoch} was closed before it`)
  if (!known) {
    if (signed === undefined) throw new SignatureNeeded()
    if (!signed) refuse('bad_signature', `${who}: not signed by its writer`)
  }
  if (heldHash !== undefined && !sameAsHeld) refuse('equivocation', `${who}: its writer signed another envelope for this seq`)
  // the cover, only now that the snapshot is its writer's
  if (h.kind === 'snapshot' && !known) checkCover(env, log)
  const rebase = h.kind === 'snapshot' ? forwardMarks(env, log) : []
  if (!known && heldHash === undefined && h.seq <= base && rebase.length === 0) refuse('duplicate', `${who} is covered by a snapshot held`)
  if (rebase.length > 0 && !acceptedAttestation(env, log, epochs)) {
    refuse('cover_gap', `${who}: a snapshot naming seqs not held here, and no attestation of it`)
  }
  const after = rebase.find(m => m.writer === h.writer) ?? log.tip(h.writer)
  if (!known && h.seq === after.seq + 1 && !equalBytes(h.prev, after.hash)) {
    refuse('equivocation', `${who}: its prev is not the hash of its writer's seq ${after.seq} held`)
  }
  if (h.seq > after.seq + 1) refuse('gap', `${who}: seq ${after.seq + 1} is not held`)
  return { ...env, rebase, held: known }
}

/** The writers a snapshot names past what the log holds of them. */
function forwardMarks (env: Envelope, log: EnvelopeLog): WriterMark[] {
  return env.header.cover.filter(m => m.seq > log.tip(m.writer).seq)
}

/** Every cover mark at a seq the log holds must name the hash held (below the log's base nothing can be checked, nor needs to be). */
function checkCover (env: Envelope, log: EnvelopeLog): void {
  for (const m of env.header.cover) {
    const held = log.hashAt(m.writer, m.seq)
    if (held !== undefined && !equalBytes(held, m.hash)) {
      refuse('bad_cover', `a snapshot of ${shortId(env.header.writer)} names another envelope as ${shortId(m.writer)} seq ${m.seq} than the one held`)
    }
  }
}

export interface OpenContext extends CheckContext {
  /** the member's keys, by epoch */
  keys: (epoch: number) => EpochKey | undefined
}

/** An envelope's failure to decrypt: `envelope` passed every other check, so a caller may keep it to keep its writer's chain whole. */
export class E2eCiphertextError extends E2eError {
  constructor (readonly envelope: Envelope) {
    super('bad_ciphertext', `${shortId(envelope.header.writer)} seq ${envelope.header.seq}: the ciphertext does not open`)
  }
}

/** A member's `checkEnvelopeBlind`, then decryption: the plaintext, a V1 update the caller must still validate. */
export async function openEnvelope (bytes: Uint8Array, ctx: OpenContext): Promise<OpenedEnvelope> {
  return openChecked(await checkEnvelopeBlind(bytes, ctx), ctx.keys)
}

/** Decrypt a checked envelope: no_key, or E2eCiphertextError (bad_ciphertext). */
export function openChecked (checked: CheckedEnvelope, keys: (epoch: number) => EpochKey | undefined): OpenedEnvelope {
  return { ...checked, plaintext: decryptEnvelope(checked, keys) }
}

/** Decrypt an envelope already checked (one held in a log). */
export function decryptEnvelope (env: Envelope, keys: (epoch: number) => EpochKey | undefined): Uint8Array {
  const key = keys(env.header.epoch)
  if (key === undefined) refuse('no_key', `no key of epoch ${env.header.epoch}`)
  try {
    return e2ePrimitives().open(key.key, env.nonce, env.headerBytes, env.ciphertext)
  } catch {
    throw new E2eCiphertextError(env)
  }
}

function encodeHeader (h: EnvelopeHeader): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, E2E_VERSION)
  encoding.writeVarUint(e, KIND_CODE[h.kind])
  writeRaw(e, h.docKey, DOC_KEY_BYTES)
  encoding.writeVarUint(e, h.epoch)
  writeRaw(e, h.writerKey, PUBLIC_KEY_BYTES)
  encoding.writeVarUint(e, h.seq)
  writeRaw(e, h.prev, HASH_BYTES)
  if (h.kind === 'snapshot') {
    encoding.writeVarUint(e, h.cover.length)
    for (const m of h.cover) {
      writeRaw(e, m.key, PUBLIC_KEY_BYTES)
      encoding.writeVarUint(e, m.seq)
      writeRaw(e, m.hash, HASH_BYTES)
    }
  }
  const bytes = encoding.toUint8Array(e)
  if (bytes.length > E2E_LIMITS.maxHeaderBytes) throw new TypeError('the header would be too large')
  return bytes
}

/** Decode an envelope strictly (nothing checked beyond its form): an exact-size copy of `input`, and views into it. */
export function decodeEnvelope (input: Uint8Array): Envelope {
  if (!(input instanceof Uint8Array)) refuse('malformed', 'an envelope is bytes')
  if (input.length > MAX_ENVELOPE_BYTES) refuse('too_large', `an envelope of ${input.length} bytes`)
  const bytes = input.slice()
  const r = new Reader(bytes, 'envelope')
  const headerBytes = r.bytes(E2E_LIMITS.maxHeaderBytes, 'header')
  const nonce = r.raw(NONCE_BYTES)
  const ciphertext = r.bytes(E2E_LIMITS.maxPlaintextBytes + TAG_BYTES, 'ciphertext')
  if (ciphertext.length < TAG_BYTES) r.fail('a ciphertext shorter than its tag')
  const signedEnd = r.pos
  const signature = r.raw(SIGNATURE_BYTES)
  r.end()
  return { header: decodeHeader(headerBytes), headerBytes, nonce, ciphertext, signature, hash: sha256Of(bytes.subarray(0, signedEnd)), bytes }
}

function decodeHeader (bytes: Uint8Array): EnvelopeHeader {
  const r = new Reader(bytes, 'envelope header')
  r.bounded(E2E_VERSION, E2E_VERSION, 'version')
  const kind: EnvelopeKind = r.bounded(1, 2, 'kind') === 2 ? 'snapshot' : 'update'
  const docKey = r.raw(DOC_KEY_BYTES)
  const epoch = r.bounded(0, E2E_LIMITS.maxEpoch, 'epoch')
  const writerKey = r.raw(PUBLIC_KEY_BYTES)
  const seq = r.bounded(1, Number.MAX_SAFE_INTEGER, 'seq')
  const prev = r.raw(HASH_BYTES)
  if ((seq === 1) !== equalBytes(prev, ZERO_HASH)) r.fail('prev is zero exactly for seq 1')
  const cover: WriterMark[] = []
  if (kind === 'snapshot') {
    const n = r.bounded(0, E2E_LIMITS.maxWriters, 'cover')
    let self = false
    for (let i = 0; i < n; i++) {
      const key = r.raw(PUBLIC_KEY_BYTES)
      if (i > 0 && compareBytes(cover[i - 1].key, key) >= 0) r.fail('cover out of order')
      const m = { writer: '', key, seq: r.bounded(1, Number.MAX_SAFE_INTEGER, 'seq'), hash: r.raw(HASH_BYTES) }
      if (equalBytes(key, writerKey)) {
        if (m.seq !== seq - 1 || !equalBytes(m.hash, prev)) r.fail('a snapshot covers its author exactly up to its prev')
        self = true
      }
      cover.push(m)
    }
    if (seq > 1 && !self) r.fail('a snapshot covers its author up to its prev')
  }
  r.end()
  // writer ids last: only for a header that decoded
  for (const m of cover) m.writer = idOf(m.key)
  return { kind, docKey, epoch, writer: idOf(writerKey), writerKey, seq, prev, cover }
}
