/**
 * Attestations (format v1): a member's signed statement that it decrypted a
 * snapshot and checked that it contains every envelope the snapshot covers
 * (snapshot.ts `attestSnapshot` makes one only after that check). Blind
 * nodes drop covered envelopes, or take a snapshot as a checkpoint, only on
 * the attestation of someone other than the snapshot's author: a write
 * member of the doc's latest epoch, or the issuer of that epoch's record.
 *
 *   attestation = body:bytes signature:raw64          (nothing may follow)
 *   body        = version:uint (1) docKey:raw16 snapshot:raw32 (the snapshot envelope's hash) attester:raw32
 *   signature   = Ed25519 by attester over "meshdoc e2e attestation v1\n" ‖ body
 *
 * The snapshot's hash commits to its header, so to its cover: the cover is
 * not repeated. Whether an attester counts is decided when the attestation
 * is used, against the epochs held then: a member removed since no longer
 * counts.
 */
import type { PrivateKey } from '@libp2p/interface'
import * as encoding from 'lib0/encoding'
import { equalBytes, Reader, writeRaw } from './codec.js'
import { refuse } from './errors.js'
import { writes, type EpochChain } from './epoch.js'
import { idOf, ownRawKey, shortId, sign, verify } from './keys.js'
import { CONTEXT, DOC_KEY_BYTES, E2E_LIMITS, E2E_VERSION, HASH_BYTES, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './limits.js'
import type { EnvelopeLog } from './log.js'
import type { Attestation, Envelope } from './types.js'

/** Sign an attestation of `snapshot`. Only snapshot.ts calls this, after checking the snapshot's content. */
export async function signAttestation (key: PrivateKey, snapshot: Envelope): Promise<Uint8Array> {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, E2E_VERSION)
  writeRaw(e, snapshot.header.docKey, DOC_KEY_BYTES)
  writeRaw(e, snapshot.hash, HASH_BYTES)
  writeRaw(e, ownRawKey(key), PUBLIC_KEY_BYTES)
  const body = encoding.toUint8Array(e)
  const out = encoding.createEncoder()
  encoding.writeVarUint8Array(out, body)
  writeRaw(out, await sign(key, CONTEXT.attestationSignature, body), SIGNATURE_BYTES)
  return encoding.toUint8Array(out)
}

/** A checked attestation for the doc of `epochs`: its attester may attest now (not_member), and signed it (bad_signature). */
export async function verifyAttestation (input: Uint8Array, opts: { epochs: EpochChain }): Promise<Attestation> {
  if (!(input instanceof Uint8Array)) refuse('malformed', 'an attestation is bytes')
  if (input.length > E2E_LIMITS.maxAttestationBytes) refuse('too_large', `an attestation of ${input.length} bytes`)
  const bytes = input.slice()
  const outer = new Reader(bytes, 'attestation')
  const body = outer.bytes(E2E_LIMITS.maxAttestationBytes, 'body')
  const signature = outer.raw(SIGNATURE_BYTES)
  outer.end()
  const r = new Reader(body, 'attestation')
  r.bounded(E2E_VERSION, E2E_VERSION, 'version')
  const docKey = r.raw(DOC_KEY_BYTES)
  const snapshot = r.raw(HASH_BYTES)
  const attesterKey = r.raw(PUBLIC_KEY_BYTES)
  r.end()
  if (!equalBytes(docKey, opts.epochs.docKey)) refuse('wrong_doc', 'an attestation of another doc')
  const attester = idOf(attesterKey)
  if (!mayAttest(attester, opts.epochs)) refuse('not_member', `${shortId(attester)} may not attest snapshots of this doc`)
  if (!await verify(attesterKey, CONTEXT.attestationSignature, body, signature)) refuse('bad_signature', `an attestation not signed by ${shortId(attester)}`)
  return { docKey, snapshot, attester, attesterKey, bytes }
}

/** A write member of the latest epoch, or its record's issuer. */
function mayAttest (attester: string, epochs: EpochChain): boolean {
  const latest = epochs.latest
  if (latest === undefined) return false
  return latest.issuerId === attester || writes(latest.memberOf.get(attester)?.access)
}

/** Whether `log` holds an attestation of `snapshot` that counts now: by someone other than its author who may attest. */
export function acceptedAttestation (snapshot: Envelope, log: EnvelopeLog, epochs: EpochChain): boolean {
  return log.attestationsFor(snapshot.hash).some(a => a.attester !== snapshot.header.writer && mayAttest(a.attester, epochs))
}
