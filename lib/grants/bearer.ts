/**
 * Bearer tokens (`mdb1.…`): a grant its audience signed over, for a client
 * that cannot prove on its connection that it holds the audience's key (a
 * y-websocket client: no Noise, no PeerId). Only the holder of the audience's
 * key can make one, so a grant seen on the mesh (every peer that checks
 * grants is shown the grants presented to it) cannot be replayed where bearer
 * tokens are taken. A token may be bound to one gateway (its PeerId) or be
 * good at any gateway that trusts the grant's owner. Format: docs/PROTOCOL.md
 * §4.5. Node side only: a browser never checks these, so the browser entry
 * and `meshdoc/grants` do not import this file (the Node entry hands
 * `verifyBearer` to its grant exchange).
 */
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { BEARER_PREFIX, checkGrantNow, concat, decodeGrant, GRANT_LIMITS, GRANT_PREFIX, GrantError, malformedOnThrow, tokenBytes, verifyGrant, type Grant } from './grant.js'

const FORMAT_VERSION = 1
/** the audience signs this, then the grant's id and the gateway: a bearer signature is never valid as anything else */
const SIGNING_CONTEXT = new TextEncoder().encode('meshdoc bearer v1\n')
const SIGNATURE_BYTES = 64

/** Caps on what a verifier reads: a token is untrusted input. */
export const BEARER_LIMITS = {
  /** a whole token: the largest grant, printed, and room for the rest */
  maxTokenBytes: GRANT_LIMITS.maxTokenBytes + 1024,
  /** bytes of the gateway's PeerId (an Ed25519 one is 52) */
  maxGatewayBytes: 128
} as const

/** A bearer token, decoded. */
export interface Bearer {
  /** hex of the first 16 bytes of the SHA-256 of the envelope: one (grant, gateway, key) always makes the same token, so the same id */
  id: string
  /** the grant inside, chain included (checked by `verifyBearer`, not by `decodeBearer`) */
  grant: Grant
  /** that grant as a token (`mdg1.…`) */
  grantToken: string
  /** the PeerId of the one gateway that may take it; undefined: any */
  gateway: string | undefined
}

export interface IssueBearerOptions {
  /** a grant (`mdg1.…`) to the PeerId of `audienceKey` */
  grant: string
  /** the grant's audience's key (Ed25519): it signs the bearer token */
  audienceKey: PrivateKey
  /** the PeerId of the one gateway that may take it (default: any gateway that trusts the grant's owner) */
  gateway?: string
}

export interface VerifyBearerOptions {
  /** PeerIds of the owners this node trusts */
  owners: Iterable<string>
  /** default: Date.now() */
  now?: number
  /** this node's PeerId: a token bound to a gateway must name it */
  gateway?: string
}

/**
 * A bearer token for `grant`, signed with its audience's key. Checks that the
 * key is the audience's and that the grant decodes; not its signatures or
 * its owner (the gateway does). Throws a GrantError.
 */
export async function issueBearer (opts: IssueBearerOptions): Promise<string> {
  const grant = decodeGrant(opts.grant)
  if (opts.audienceKey.type !== 'Ed25519') throw new GrantError('malformed', `a bearer token is signed with an Ed25519 key, not ${opts.audienceKey.type}`)
  const signer = peerIdFromPublicKey(opts.audienceKey.publicKey).toString()
  if (signer !== grant.audience) throw new GrantError('wrong_audience', `grant ${grant.id} is for ${grant.audience}, not ${signer} (the key's)`)
  const gateway = opts.gateway ?? ''
  if (gateway !== '') checkGateway(gateway)
  const signature = await opts.audienceKey.sign(signedBytes(grant.id, gateway))
  const token = BEARER_PREFIX + uint8ArrayToString(encodeEnvelope(tokenBytes(opts.grant), gateway, signature), 'base64url')
  if (token.length > BEARER_LIMITS.maxTokenBytes) throw new GrantError('too_large', `the bearer token would be ${token.length} bytes, over ${BEARER_LIMITS.maxTokenBytes}`)
  return token
}

/**
 * The bearer token in `token`, checked: bound to no gateway or to
 * `opts.gateway`; the grant valid now and under a trusted owner, its audience
 * not checked (the holder of the audience's key made the token); the
 * audience's signature; then the grant's chain as `verifyGrant` checks it.
 * Revocations are the caller's (the grant exchange's). Throws a GrantError
 * with the reason (`not_bearer` for a plain grant), never anything else.
 */
export async function verifyBearer (token: string, opts: VerifyBearerOptions): Promise<Bearer> {
  const { bearer, signature } = parse(token)
  if (bearer.gateway !== undefined && bearer.gateway !== opts.gateway) {
    throw new GrantError('wrong_gateway', `bearer token ${bearer.id} is for the gateway ${bearer.gateway}, not ${opts.gateway ?? 'this node'}`)
  }
  // the cheap checks, then the audience's signature (a replayed grant fails here, for one check), then the chain's
  checkGrantNow(bearer.grant, { owners: opts.owners, now: opts.now })
  let good = false
  try {
    good = await audienceKeyOf(bearer.grant).verify(signedBytes(bearer.grant.id, bearer.gateway ?? ''), signature)
  } catch {}
  if (!good) throw new GrantError('bad_signature', `bearer token ${bearer.id}: not signed by the grant's audience ${bearer.grant.audience}`)
  const grant = await verifyGrant(bearer.grantToken, { owners: opts.owners, now: opts.now })
  return { ...bearer, grant }
}

/** Decode a bearer token without checking signatures or trust, for display: nothing in it is vouched for. */
export function decodeBearer (token: string): Bearer {
  return parse(token).bearer
}

// ------------------------------------------------------------------ format

/** envelope: version (1), the grant's envelope (as `mdg1.` prints it), the gateway (a PeerId, or empty: any), the signature */
function encodeEnvelope (grant: Uint8Array, gateway: string, signature: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, FORMAT_VERSION)
  encoding.writeVarUint8Array(e, grant)
  encoding.writeVarString(e, gateway)
  encoding.writeVarUint8Array(e, signature)
  return encoding.toUint8Array(e)
}

/** what the audience signs: the context, the grant's id (16 bytes), the gateway's PeerId (UTF-8; empty: any) */
function signedBytes (grantId: string, gateway: string): Uint8Array {
  return concat(concat(SIGNING_CONTEXT, uint8ArrayFromString(grantId, 'base16')), new TextEncoder().encode(gateway))
}

function parse (token: string): { bearer: Bearer, signature: Uint8Array } {
  if (typeof token !== 'string') throw new GrantError('malformed', 'a bearer token is a string')
  if (token.length > BEARER_LIMITS.maxTokenBytes) throw new GrantError('too_large', `a bearer token of ${token.length} bytes is over ${BEARER_LIMITS.maxTokenBytes}`)
  const t = token.trim()
  if (t.startsWith(GRANT_PREFIX)) throw new GrantError('not_bearer', `a grant (${GRANT_PREFIX}…) is not a bearer token: its audience makes one (${BEARER_PREFIX}…, issueBearer or meshdoc grant --bearer)`)
  if (!t.startsWith(BEARER_PREFIX)) throw new GrantError('malformed', `a bearer token starts with ${BEARER_PREFIX}`)
  const b64 = t.slice(BEARER_PREFIX.length)
  if (!/^[A-Za-z0-9_-]*$/.test(b64)) throw new GrantError('malformed', 'a bearer token is base64url after its prefix')
  const bytes = notABearerOnThrow(() => uint8ArrayFromString(b64, 'base64url'))
  const { grantBytes, gateway, signature } = notABearerOnThrow(() => {
    const d = decoding.createDecoder(bytes)
    const version = decoding.readVarUint(d)
    if (version !== FORMAT_VERSION) throw new Error(`version ${version}`)
    const grantBytes = decoding.readVarUint8Array(d)
    const gateway = decoding.readVarString(d)
    const signature = decoding.readVarUint8Array(d)
    if (decoding.hasContent(d)) throw new Error('bytes after the signature')
    if (signature.length !== SIGNATURE_BYTES) throw new Error(`a signature of ${signature.length} bytes`)
    // canonical only: no overlong integer, the gateway's bytes valid UTF-8
    if (!equalBytes(encodeEnvelope(grantBytes, gateway, signature), bytes)) throw new Error('not in canonical form')
    return { grantBytes, gateway, signature }
  })
  if (gateway !== '') checkGateway(gateway)
  const grantToken = GRANT_PREFIX + uint8ArrayToString(grantBytes, 'base64url')
  const grant = decodeGrant(grantToken)
  audienceKeyOf(grant)
  const id = uint8ArrayToString(sha256(bytes).subarray(0, 16), 'base16')
  return { bearer: { id, grant, grantToken, gateway: gateway === '' ? undefined : gateway }, signature }
}

/** The public key in the grant's audience PeerId: an Ed25519 one (its key is in the PeerId itself), else malformed. */
function audienceKeyOf (grant: Grant): PublicKey {
  const peerId = malformedOnThrow(() => peerIdFromString(grant.audience))
  if (peerId.type !== 'Ed25519' || peerId.publicKey === undefined) throw new GrantError('malformed', `a bearer token's grant is for an Ed25519 PeerId, not ${grant.audience}`)
  return peerId.publicKey
}

function notABearerOnThrow<T> (fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw new GrantError('malformed', `not a meshdoc bearer token: ${(err as Error).message}`)
  }
}

function checkGateway (gateway: string): void {
  let canonical: string | undefined
  try {
    if (new TextEncoder().encode(gateway).length <= BEARER_LIMITS.maxGatewayBytes) canonical = peerIdFromString(gateway).toString()
  } catch {}
  if (canonical !== gateway) throw new GrantError('malformed', `the gateway ${JSON.stringify(gateway.slice(0, 80))} is not a PeerId (in its base58btc form)`)
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
