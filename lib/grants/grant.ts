/**
 * Grants: signed, offline-checkable capabilities. A grant says that its
 * *issuer* lets its *audience* (a PeerId) `read` or `write` the docs matching
 * its patterns, from `notBefore` until `expiresAt`, and may allow the audience
 * to delegate: issue sub-grants never wider than its own. A chain of grants is
 * checked link by link up to an owner the verifier trusts. Format (v1, see
 * docs/PROTOCOL.md "Grants"): a lib0-encoded body signed with the issuer's
 * Ed25519 libp2p key, printed as `mdg1.<base64url>`.
 *
 * This module makes and checks grants; presenting them to peers and deciding
 * access with them is the next step (issue: signed grants).
 */
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { MeshdocError } from '../errors.js'

/** the printed form: `mdg1.` and the envelope in base64url */
export const GRANT_PREFIX = 'mdg1.'
/** the printed form of a bearer token (a grant its audience signed over: bearer.ts) */
export const BEARER_PREFIX = 'mdb1.'
const FORMAT_VERSION = 1
/** signatures cover this, then the body: a grant signature is never valid as anything else */
const SIGNING_CONTEXT = new TextEncoder().encode('meshdoc grant v1\n')

/** Caps on what a verifier reads: a token is untrusted input. */
export const GRANT_LIMITS = {
  /** a whole token, chain included */
  maxTokenBytes: 16 * 1024,
  /** grants in a chain, the owner's included */
  maxChain: 4,
  /** doc patterns in one grant */
  maxPatterns: 64,
  /** bytes of one doc pattern */
  maxPatternBytes: 512
} as const

/** Clocks disagree: validity windows are widened by this much on either side when checked. */
export const CLOCK_SKEW_MS = 60_000
/** the latest time a grant may name: the largest valid JavaScript date (ms) */
const MAX_TIME = 8.64e15
const SIGNATURE_BYTES = 64

export type GrantAccess = 'read' | 'write'

export interface GrantFields {
  /** the issuer's PeerId (its Ed25519 public key) */
  issuer: string
  /** who may use it: a PeerId, proven at connect time by Noise */
  audience: string
  access: GrantAccess
  /** doc ids or glob patterns (`*` one segment, `**` any) */
  docs: string[]
  /** ms since the epoch */
  notBefore: number
  expiresAt: number
  /** the audience may issue sub-grants within this one */
  delegate: boolean
}

export interface Grant extends GrantFields {
  /** a stable id: hex of the first 16 bytes of the SHA-256 of the signed body */
  id: string
  /** the grant this one was issued under (the issuer's own), up to the owner's */
  parent: Grant | undefined
}

/** Why a grant was refused; `reason` is a stable code for counters and logs. */
export class GrantError extends MeshdocError {
  override name = 'GrantError'
  constructor (readonly reason: GrantRefusal, message: string) {
    super(message)
  }
}

export type GrantRefusal =
  | 'malformed' | 'too_large' | 'bad_signature' | 'expired' | 'not_yet_valid'
  | 'unknown_owner' | 'chain_too_long' | 'broken_chain' | 'not_delegable' | 'wider_than_parent' | 'wrong_audience'
  | 'revoked'
  // bearer tokens (bearer.ts): a plain grant where one is needed, one bound to another gateway
  | 'not_bearer' | 'wrong_gateway'

export interface IssueGrantOptions {
  /** the issuer's key: an owner's, or a delegate's (then `parent` is the grant it holds) */
  key: PrivateKey
  audience: string
  access: GrantAccess
  docs: string[]
  /** default: now */
  notBefore?: number
  /** ms since the epoch */
  expiresAt: number
  delegate?: boolean
  /** the issuer's own grant (a token), when the issuer is not an owner */
  parent?: string
}

/** Make a grant, as a printable token. Checks its own fields (and, with a parent, that it is within it). */
export async function issueGrant (opts: IssueGrantOptions): Promise<string> {
  const issuer = peerIdFromPublicKey(opts.key.publicKey).toString()
  const fields: GrantFields = {
    issuer,
    audience: opts.audience,
    access: opts.access,
    docs: [...opts.docs],
    notBefore: opts.notBefore ?? Date.now(),
    expiresAt: opts.expiresAt,
    delegate: opts.delegate === true
  }
  checkFields(fields)
  const parentBytes = opts.parent === undefined ? undefined : tokenBytes(opts.parent)
  if (parentBytes !== undefined) {
    const links: SignedLink[] = []
    const parent = decodeChain(parentBytes, 2, links) // the new grant is the chain's first link
    await checkSignatures(links)
    withinChain(parent)
    within(fields, parent)
  }
  const body = encodeBody(fields, opts.key.publicKey, parentBytes)
  const signature = await opts.key.sign(concat(SIGNING_CONTEXT, body))
  const e = encoding.createEncoder()
  encoding.writeVarUint8Array(e, body)
  encoding.writeVarUint8Array(e, signature)
  const token = GRANT_PREFIX + uint8ArrayToString(encoding.toUint8Array(e), 'base64url')
  if (token.length > GRANT_LIMITS.maxTokenBytes) throw new GrantError('too_large', `the grant would be ${token.length} bytes, over ${GRANT_LIMITS.maxTokenBytes}`)
  return token
}

export interface VerifyGrantOptions {
  /** PeerIds of the owners this node trusts */
  owners: Iterable<string>
  /** default: Date.now() */
  now?: number
  /** the PeerId presenting it (Noise proved it): must be the audience */
  presenter?: string
}

/**
 * The grant in `token`, checked: every signature, every link within its
 * parent, the chain ending at a trusted owner, every link valid now (with
 * CLOCK_SKEW_MS either side), and the presenter its audience. Throws a
 * GrantError with the reason otherwise; never anything else, whatever the input.
 */
export async function verifyGrant (token: string, opts: VerifyGrantOptions): Promise<Grant> {
  const bytes = tokenBytes(token)
  // structure first (bounded work), the cheap checks, then every signature, and only then the patterns
  const links: SignedLink[] = []
  const grant = decodeChain(bytes, 1, links)
  checkGrantNow(grant, opts)
  await checkSignatures(links)
  withinChain(grant)
  return grant
}

/**
 * The checks of `verifyGrant` that change with time and with who asks, for
 * a grant whose signatures were checked before (a node keeps verified tokens
 * to check them again cheaply): the presenter its audience, every link valid
 * at `now` (with CLOCK_SKEW_MS either side), the chain ending at a trusted owner.
 */
export function checkGrantNow (grant: Grant, opts: VerifyGrantOptions): void {
  const now = opts.now ?? Date.now()
  if (!Number.isFinite(now)) throw new TypeError(`now must be a time in ms, not ${now}`)
  if (opts.presenter !== undefined && opts.presenter !== grant.audience) {
    throw new GrantError('wrong_audience', `grant ${grant.id} is for ${grant.audience}, presented by ${opts.presenter}`)
  }
  const owners = opts.owners instanceof Set ? opts.owners as ReadonlySet<string> : new Set(opts.owners)
  for (let g: Grant | undefined = grant; g !== undefined; g = g.parent) {
    if (now + CLOCK_SKEW_MS < g.notBefore) throw new GrantError('not_yet_valid', `grant ${g.id} is valid from ${new Date(g.notBefore).toISOString()}`)
    if (now - CLOCK_SKEW_MS >= g.expiresAt) throw new GrantError('expired', `grant ${g.id} expired at ${new Date(g.expiresAt).toISOString()}`)
    if (g.parent === undefined && !owners.has(g.issuer)) throw new GrantError('unknown_owner', `grant ${g.id} was issued by ${g.issuer}, not a trusted owner`)
  }
}

/** The time a verifier stops accepting the chain: its earliest `expiresAt`, plus the clock-skew allowance. */
export function grantEndsAt (grant: Grant): number {
  let end = Infinity
  for (let g: Grant | undefined = grant; g !== undefined; g = g.parent) end = Math.min(end, g.expiresAt)
  return end + CLOCK_SKEW_MS
}

/**
 * Whether `grant` lets its audience have `access` on `docId`: a write grant
 * also allows reading. Time is not checked here: `verifyGrant` checks it, and
 * a node holding a grant for long re-checks `expiresAt`.
 */
export function grantAllows (grant: Grant, docId: string, access: GrantAccess): boolean {
  if (access === 'write' && grant.access !== 'write') return false
  return grant.docs.some(p => globMatch(p, docId))
}

/**
 * Decode a token without checking signatures or trust, for display
 * (`meshdoc grant --inspect`): nothing in it is vouched for.
 */
export function decodeGrant (token: string): Grant {
  return decodeChain(tokenBytes(token), 1)
}

/**
 * Whether doc id `s` matches `pattern`: `*` matches any run of characters
 * other than `/` (the empty run too), `**` any run at all; every other
 * character matches itself, with no normalization. Linear in the pattern's
 * tokens times the id's length: no backtracking, whatever the pattern.
 */
export function globMatch (pattern: string, s: string): boolean {
  let cur = new Uint8Array(s.length + 1)
  cur[0] = 1
  for (let i = 0; i < pattern.length; i++) {
    const next = new Uint8Array(s.length + 1)
    if (pattern[i] === '*') {
      const globstar = pattern[i + 1] === '*'
      if (globstar) i++
      let run = 0
      for (let j = 0; j <= s.length; j++) {
        if (!globstar && j > 0 && s[j - 1] === '/') run = 0
        run |= cur[j]
        next[j] = run
      }
    } else {
      const c = pattern[i]
      for (let j = 1; j <= s.length; j++) next[j] = cur[j - 1] & (s[j - 1] === c ? 1 : 0)
    }
    cur = next
  }
  return cur[s.length] === 1
}

// ------------------------------------------------------------------ format

interface Envelope { body: Uint8Array, signature: Uint8Array }
/** one decoded link of a chain, with what its signature check needs */
interface SignedLink extends Envelope { key: PublicKey }

/** @internal shared with revocation.ts and bearer.ts */
export function tokenBytes (token: string): Uint8Array {
  if (typeof token !== 'string') throw new GrantError('malformed', 'a grant is a string')
  if (token.length > GRANT_LIMITS.maxTokenBytes) throw new GrantError('too_large', `a grant of ${token.length} bytes is over ${GRANT_LIMITS.maxTokenBytes}`)
  const t = token.trim()
  if (!t.startsWith(GRANT_PREFIX)) throw new GrantError('malformed', `a grant starts with ${GRANT_PREFIX}`)
  const b64 = t.slice(GRANT_PREFIX.length)
  if (!/^[A-Za-z0-9_-]*$/.test(b64)) throw new GrantError('malformed', 'a grant is base64url after its prefix')
  try {
    return uint8ArrayFromString(b64, 'base64url')
  } catch {
    throw new GrantError('malformed', 'a grant is base64url after its prefix')
  }
}

function readEnvelope (bytes: Uint8Array): Envelope {
  return malformedOnThrow(() => {
    const d = decoding.createDecoder(bytes)
    const body = decoding.readVarUint8Array(d)
    const signature = decoding.readVarUint8Array(d)
    if (decoding.hasContent(d)) throw new Error('bytes after the signature')
    if (signature.length !== SIGNATURE_BYTES) throw new Error(`a signature of ${signature.length} bytes`)
    return { body, signature }
  })
}

/**
 * body: version, issuer public key (libp2p protobuf), audience PeerId,
 * access (1 read, 2 write), pattern count and patterns, notBefore, expiresAt
 * (ms), delegate (0/1), parent envelope (empty: none).
 */
function encodeBody (f: GrantFields, publicKey: PublicKey, parent: Uint8Array | undefined): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, FORMAT_VERSION)
  encoding.writeVarUint8Array(e, publicKeyToProtobuf(publicKey))
  encoding.writeVarString(e, f.audience)
  encoding.writeVarUint(e, f.access === 'write' ? 2 : 1)
  encoding.writeVarUint(e, f.docs.length)
  for (const d of f.docs) encoding.writeVarString(e, d)
  encoding.writeVarUint(e, f.notBefore)
  encoding.writeVarUint(e, f.expiresAt)
  encoding.writeVarUint(e, f.delegate ? 1 : 0)
  encoding.writeVarUint8Array(e, parent ?? new Uint8Array(0))
  return encoding.toUint8Array(e)
}

/**
 * The grant chain in `bytes`, decoded and its fields checked, in canonical
 * form only (each body is exactly what encodeBody makes of its fields). Not
 * checked here: signatures (checkSignatures, over the `links` collected
 * here) and links within their parents (withinChain), which come after.
 */
function decodeChain (bytes: Uint8Array, depth: number, links: SignedLink[] = []): Grant {
  if (depth > GRANT_LIMITS.maxChain) throw new GrantError('chain_too_long', `a chain of more than ${GRANT_LIMITS.maxChain} grants`)
  const { body, signature } = readEnvelope(bytes)
  const { fields, parentBytes, key } = malformedOnThrow(() => {
    const d = decoding.createDecoder(body)
    const uint = (): number => {
      const v = decoding.readVarUint(d)
      if (!Number.isSafeInteger(v)) throw new Error('an integer out of range')
      return v
    }
    const version = uint()
    if (version !== FORMAT_VERSION) throw new Error(`version ${version}`)
    const key = publicKeyFromProtobuf(decoding.readVarUint8Array(d))
    if (key.type !== 'Ed25519') throw new Error(`a ${key.type} key`)
    const audience = decoding.readVarString(d)
    const accessCode = uint()
    if (accessCode !== 1 && accessCode !== 2) throw new Error(`access ${accessCode}`)
    const n = uint()
    if (n > GRANT_LIMITS.maxPatterns) throw new Error(`${n} patterns`)
    const docs: string[] = []
    for (let i = 0; i < n; i++) docs.push(decoding.readVarString(d))
    const notBefore = uint()
    const expiresAt = uint()
    const delegate = uint()
    if (delegate !== 0 && delegate !== 1) throw new Error(`delegate ${delegate}`)
    const parentBytes = decoding.readVarUint8Array(d)
    if (decoding.hasContent(d)) throw new Error('bytes after the body')
    const fields: GrantFields = { issuer: peerIdFromPublicKey(key).toString(), audience, access: accessCode === 2 ? 'write' : 'read', docs, notBefore, expiresAt, delegate: delegate === 1 }
    if (!equalBytes(encodeBody(fields, key, parentBytes), body)) throw new Error('not in canonical form')
    return { fields, parentBytes, key }
  })
  checkFields(fields)
  links.push({ body, signature, key })
  const parent = parentBytes.length === 0 ? undefined : decodeChain(parentBytes, depth + 1, links)
  return { ...fields, id: grantId(body), parent }
}

/** Every link of the chain within its parent (after its signatures were checked). */
function withinChain (grant: Grant): void {
  for (let g: Grant = grant; g.parent !== undefined; g = g.parent) within(g, g.parent)
}

/** Every signature of a decoded chain, by its issuer's key. */
async function checkSignatures (links: SignedLink[]): Promise<void> {
  for (const { body, signature, key } of links) {
    let good = false
    try {
      good = await key.verify(concat(SIGNING_CONTEXT, body), signature)
    } catch {}
    if (!good) throw new GrantError('bad_signature', `grant ${grantId(body)}: the signature is not its issuer's`)
  }
}

function checkFields (f: GrantFields): void {
  const bad = (why: string): never => { throw new GrantError('malformed', why) }
  let canonical: string | undefined
  try {
    canonical = peerIdFromString(f.audience).toString()
  } catch {}
  if (canonical !== f.audience) bad(`the audience ${JSON.stringify(f.audience.slice(0, 80))} is not a PeerId (in its base58btc form)`)
  if (f.docs.length === 0) bad('a grant names at least one doc pattern')
  if (f.docs.length > GRANT_LIMITS.maxPatterns) bad(`at most ${GRANT_LIMITS.maxPatterns} doc patterns`)
  for (const d of f.docs) {
    if (typeof d !== 'string' || d.length === 0 || new TextEncoder().encode(d).length > GRANT_LIMITS.maxPatternBytes) bad(`a doc pattern is 1 to ${GRANT_LIMITS.maxPatternBytes} bytes`)
  }
  if (!Number.isSafeInteger(f.notBefore) || !Number.isSafeInteger(f.expiresAt) || f.notBefore < 0 || f.expiresAt > MAX_TIME) bad('times are ms since the epoch, up to 8.64e15')
  if (f.expiresAt <= f.notBefore) bad('a grant expires after it starts')
}

/** A sub-grant is never wider than its parent: issued by its audience, to be delegated, same or less access, docs and time within. */
function within (child: GrantFields, parent: Grant): void {
  const refuse = (reason: GrantRefusal, why: string): never => { throw new GrantError(reason, why) }
  if (child.issuer !== parent.audience) refuse('broken_chain', `a grant issued by ${child.issuer} under one for ${parent.audience}`)
  if (!parent.delegate) refuse('not_delegable', `grant ${parent.id} does not allow delegation`)
  if (child.access === 'write' && parent.access !== 'write') refuse('wider_than_parent', 'write under a read grant')
  if (child.notBefore < parent.notBefore || child.expiresAt > parent.expiresAt) refuse('wider_than_parent', 'valid outside its parent\'s time')
  for (const d of child.docs) {
    if (!parent.docs.some(p => covers(p, d))) refuse('wider_than_parent', `"${d}" is not within ${JSON.stringify(parent.docs)}`)
  }
}

/**
 * Whether every doc id `inner` matches is matched by `outer`. Decided
 * conservatively (false when unsure): equal patterns; `**`; an exact id that
 * `outer` matches; `prefix/**` over a pattern that starts with `prefix/`.
 */
export function covers (outer: string, inner: string): boolean {
  if (outer === inner || outer === '**') return true
  if (!inner.includes('*')) return globMatch(outer, inner)
  if (outer.endsWith('/**') && !outer.slice(0, -3).includes('*')) return inner.startsWith(outer.slice(0, -2))
  return false
}

/** @internal shared with revocation.ts */
export function grantId (body: Uint8Array): string {
  return uint8ArrayToString(sha256(body).subarray(0, 16), 'base16')
}

/** @internal shared with revocation.ts and bearer.ts */
export function malformedOnThrow<T> (fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof GrantError) throw err
    throw new GrantError('malformed', `not a meshdoc grant: ${(err as Error).message}`)
  }
}

/** @internal shared with revocation.ts and bearer.ts */
export function concat (a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
