/**
 * What the grant commands and the gateway read: an owner key file, the
 * owners a gateway trusts (`--trust-owner`), and files of grants
 * (`--grant-file`) and revocations (`--revocation-file`), one token or record
 * a line, blank lines and `#` comments skipped. A file that cannot be read, or
 * that holds something else, is a ConfigError naming it; a grant or
 * revocation the node would refuse (for another PeerId, expired, not signed by
 * a trusted owner…) is a CliError naming the file, the line and the reason.
 */
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { readFileSync } from 'node:fs'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { decodeGrant, GRANT_PREFIX, grantEndsAt, GrantError, type Grant } from '../grants/grant.js'
import { REVOCATION_PREFIX, revocationBytes, verifyRevocation } from '../grants/revocation.js'
import { CliError, ConfigError, UsageError } from './errors.js'

/** One token or record of a file, where it was found. */
export interface FileEntry { file: string, line: number, text: string }

/** A grant of a `--grant-file`, decoded. */
export interface HeldGrant extends FileEntry { grant: Grant }

const KINDS = {
  grant: { prefix: GRANT_PREFIX, what: 'grant file' },
  revocation: { prefix: REVOCATION_PREFIX, what: 'revocation file' }
} as const

/** An owner's (or delegate's) key file, as `meshdoc keys new` writes it. */
export function readOwnerKey (file: string): PrivateKey {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read the key ${file}: ${(err as { code?: string }).code ?? (err as Error).message}`)
  }
  try {
    return privateKeyFromProtobuf(uint8ArrayFromString(text.trim(), 'base64pad'))
  } catch {
    throw new CliError(`${file} is not a meshdoc key (meshdoc keys new --out FILE makes one)`)
  }
}

/** `fn`'s result; a GrantError becomes a CliError (exit 1) naming its reason. */
export async function grantErrorsAsCliErrors<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof GrantError) throw new CliError(`${err.reason}: ${err.message}`)
    throw err
  }
}

/**
 * `--trust-owner` values as the library compares them (a PeerId's usual
 * form), duplicates dropped. Not a PeerId, or not an Ed25519 key's (owner
 * keys sign grants with Ed25519), is a UsageError.
 */
export function trustedOwners (ids: readonly string[], command: string): string[] {
  const owners = new Set<string>()
  for (const id of ids) {
    let type: string | undefined
    try {
      const peerId = peerIdFromString(id)
      type = peerId.type
      owners.add(peerId.toString())
    } catch {}
    if (type === undefined) throw new UsageError(`--trust-owner: "${id}" is not a PeerId (meshdoc keys new prints an owner's)`, command)
    if (type !== 'Ed25519') throw new UsageError(`--trust-owner: ${id} is the PeerId of an ${type} key; owner keys are Ed25519 (meshdoc keys new)`, command)
  }
  return [...owners]
}

/** Every token (`grant`) or record (`revocation`) in `files`, one a line. */
export function readEntries (files: readonly string[], kind: keyof typeof KINDS): FileEntry[] {
  const { prefix, what } = KINDS[kind]
  const out: FileEntry[] = []
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      const code = (err as { code?: string }).code
      throw new ConfigError(file, code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`, undefined, what)
    }
    const before = out.length
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) continue
      if (!line.startsWith(prefix)) throw new ConfigError(file, `line ${i + 1} is not a ${kind} (${prefix}…)`, undefined, what)
      out.push({ file, line: i + 1, text: line })
    }
    if (out.length === before) throw new ConfigError(file, `holds no ${kind} (${prefix}…, one a line)`, undefined, what)
  }
  return out
}

const where = (e: FileEntry, kind: keyof typeof KINDS): string => `${KINDS[kind].what} ${e.file} line ${e.line}`

/**
 * The grants of `entries`, checked as the node will take them: well-formed,
 * for `self` (this node's PeerId), not expired. Signatures are checked by the
 * peers they are presented to.
 */
export function checkHeldGrants (entries: readonly FileEntry[], self: string, now = Date.now()): HeldGrant[] {
  return entries.map(e => {
    let grant: Grant
    try {
      grant = decodeGrant(e.text)
    } catch (err) {
      if (!(err instanceof GrantError)) throw err
      throw new CliError(`${where(e, 'grant')}: ${err.reason}: ${err.message}`)
    }
    if (grant.audience !== self) throw new CliError(`${where(e, 'grant')}: wrong_audience: grant ${grant.id} is for ${grant.audience}, not this node (${self})`)
    if (grantEndsAt(grant) <= now) throw new CliError(`${where(e, 'grant')}: expired: grant ${grant.id} expired at ${new Date(grant.expiresAt).toISOString()}`)
    return { ...e, grant }
  })
}

/** The records of `entries`, each signed by one of `owners` (else a CliError naming its file). */
export async function checkRevocations (entries: readonly FileEntry[], owners: readonly string[]): Promise<string[]> {
  const trusted = new Set(owners)
  for (const e of entries) {
    try {
      await verifyRevocation(revocationBytes(e.text), trusted)
    } catch (err) {
      if (!(err instanceof GrantError)) throw err
      const hint = err.reason === 'unknown_owner' && owners.length === 0 ? ' (no owner is trusted: give --trust-owner)' : ''
      throw new CliError(`${where(e, 'revocation')}: ${err.reason}: ${err.message}${hint}`)
    }
  }
  return entries.map(e => e.text)
}
