/**
 * Revocations: an owner's signed statement that a grant, or every grant to a
 * PeerId, no longer counts. A node accepts one signed by an owner it trusts,
 * keeps it (in storage, so it survives restarts) and passes it on to the
 * peers it syncs with, so it spreads through the mesh by itself. Format (v1,
 * docs/PROTOCOL.md "Revocations"): a lib0-encoded body signed with the
 * owner's Ed25519 key, printed as `mdr1.<base64url>`.
 */
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { concat, GrantError, grantId, malformedOnThrow, type Grant } from './grant.js'

export const REVOCATION_PREFIX = 'mdr1.'
const FORMAT_VERSION = 1
/** signatures cover this, then the body: never valid as a grant signature, nor a grant's as this */
const SIGNING_CONTEXT = new TextEncoder().encode('meshdoc revocation v1\n')
/** a whole record, printed */
export const MAX_REVOCATION_BYTES = 1024
const KIND_GRANT = 0
const KIND_PEER = 1

export interface Revocation {
  /** hex of the first 16 bytes of the SHA-256 of the signed body */
  id: string
  /** the owner that signed it (a PeerId) */
  issuer: string
  /** a grant id (`grant`: that grant, and every grant issued under it) or a PeerId (`peer`: every grant to it, and every grant issued under those) */
  kind: 'grant' | 'peer'
  target: string
  /** ms since the epoch */
  issuedAt: number
  /** the record as sent on the wire (the envelope) */
  bytes: Uint8Array
}

export interface RevokeOptions {
  /** an owner's key */
  key: PrivateKey
  /** a grant id (32 hex digits, as `meshdoc grant --inspect` prints) */
  grant?: string
  /** or a PeerId: every grant to it */
  peer?: string
}

/** Make a revocation, as a printable record (`mdr1.…`). */
export async function revokeGrant (opts: RevokeOptions): Promise<string> {
  if ((opts.grant === undefined) === (opts.peer === undefined)) throw new TypeError('revokeGrant needs one of grant (an id) or peer (a PeerId)')
  const kind = opts.grant !== undefined ? KIND_GRANT : KIND_PEER
  const target = opts.grant ?? opts.peer ?? ''
  checkTarget(kind, target)
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, FORMAT_VERSION)
  encoding.writeVarUint8Array(e, publicKeyToProtobuf(opts.key.publicKey))
  encoding.writeVarUint(e, kind)
  encoding.writeVarString(e, target)
  encoding.writeVarUint(e, Date.now())
  const body = encoding.toUint8Array(e)
  const signature = await opts.key.sign(concat(SIGNING_CONTEXT, body))
  const env = encoding.createEncoder()
  encoding.writeVarUint8Array(env, body)
  encoding.writeVarUint8Array(env, signature)
  return printRevocation(encoding.toUint8Array(env))
}

export const printRevocation = (bytes: Uint8Array): string => REVOCATION_PREFIX + uint8ArrayToString(bytes, 'base64url')

/** The bytes of a printed record (`mdr1.…`), for `decodeRevocation`. */
export function revocationBytes (record: string): Uint8Array {
  if (typeof record !== 'string') throw new GrantError('malformed', 'a revocation is a string')
  const t = record.trim()
  if (t.length > MAX_REVOCATION_BYTES * 2) throw new GrantError('too_large', 'a revocation over the size limit')
  if (!t.startsWith(REVOCATION_PREFIX) || !/^[A-Za-z0-9_-]*$/.test(t.slice(REVOCATION_PREFIX.length))) throw new GrantError('malformed', `a revocation is ${REVOCATION_PREFIX} and base64url`)
  return malformedOnThrow(() => uint8ArrayFromString(t.slice(REVOCATION_PREFIX.length), 'base64url'))
}

/**
 * The revocation in `bytes`, checked: its form, that an owner in `owners`
 * signed it, and its signature. Throws GrantError (`malformed`, `too_large`,
 * `unknown_owner`, `bad_signature`), never anything else.
 */
export async function verifyRevocation (bytes: Uint8Array, owners: ReadonlySet<string>): Promise<Revocation> {
  if (bytes.length > MAX_REVOCATION_BYTES) throw new GrantError('too_large', `a revocation of ${bytes.length} bytes`)
  const { body, signature, key, r } = malformedOnThrow(() => {
    const d = decoding.createDecoder(bytes)
    const body = decoding.readVarUint8Array(d)
    const signature = decoding.readVarUint8Array(d)
    if (decoding.hasContent(d) || signature.length !== 64) throw new Error('not a revocation envelope')
    const b = decoding.createDecoder(body)
    if (decoding.readVarUint(b) !== FORMAT_VERSION) throw new Error('an unknown version')
    const key = publicKeyFromProtobuf(decoding.readVarUint8Array(b))
    if (key.type !== 'Ed25519') throw new Error(`a ${key.type} key`)
    const kind = decoding.readVarUint(b)
    const target = decoding.readVarString(b)
    const issuedAt = decoding.readVarUint(b)
    if (decoding.hasContent(b) || !Number.isSafeInteger(issuedAt) || (kind !== KIND_GRANT && kind !== KIND_PEER)) throw new Error('a malformed body')
    checkTarget(kind, target)
    const r: Revocation = { id: grantId(body), issuer: peerIdFromPublicKey(key).toString(), kind: kind === KIND_GRANT ? 'grant' : 'peer', target, issuedAt, bytes }
    return { body, signature, key, r }
  })
  if (!owners.has(r.issuer)) throw new GrantError('unknown_owner', `revocation ${r.id} was signed by ${r.issuer}, not a trusted owner`)
  let good = false
  try {
    good = await key.verify(concat(SIGNING_CONTEXT, body), signature)
  } catch {}
  if (!good) throw new GrantError('bad_signature', `revocation ${r.id}: the signature is not its issuer's`)
  return r
}

function checkTarget (kind: number, target: string): void {
  if (kind === KIND_GRANT) {
    if (!/^[0-9a-f]{32}$/.test(target)) throw new GrantError('malformed', `a grant id is 32 hex digits, not ${JSON.stringify(target.slice(0, 40))}`)
    return
  }
  let canonical: string | undefined
  try {
    canonical = peerIdFromString(target).toString()
  } catch {}
  if (canonical !== target) throw new GrantError('malformed', `not a PeerId: ${JSON.stringify(target.slice(0, 60))}`)
}

/** The revocations a node holds, and whether a grant chain falls under one. */
export class RevocationSet {
  private readonly byId = new Map<string, Revocation>()
  private readonly grants = new Set<string>()
  private readonly peers = new Set<string>()

  get size (): number { return this.byId.size }

  has (id: string): boolean { return this.byId.has(id) }

  values (): IterableIterator<Revocation> { return this.byId.values() }

  /** Add; false if it was already held. */
  add (r: Revocation): boolean {
    if (this.byId.has(r.id)) return false
    this.byId.set(r.id, r)
    ;(r.kind === 'grant' ? this.grants : this.peers).add(r.target)
    return true
  }

  /** The revocation that voids `grant` (any link of its chain, or the audience of any), if any. */
  voids (grant: Grant): string | undefined {
    for (let g: Grant | undefined = grant; g !== undefined; g = g.parent) {
      if (this.grants.has(g.id)) return `grant ${g.id} is revoked`
      if (this.peers.has(g.audience)) return `grants to ${g.audience} are revoked`
    }
    return undefined
  }

  /** Whether every grant to `peer` is revoked (a revocation of kind peer). */
  revokesPeer (peer: string): boolean { return this.peers.has(peer) }

  /** The ids held, sorted: what the digest of the set covers. */
  ids (): string[] {
    return [...this.byId.keys()].sort()
  }
}
