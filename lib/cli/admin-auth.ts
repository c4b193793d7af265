/**
 * Who may use the gateway's admin port (admin-server.ts). Without a token the
 * port must be bound to loopback, and every request is the operator's: the
 * users of this host. With a token (`--admin-token-file`), every request but
 * /healthz must carry it (`Authorization: Bearer TOKEN`, compared in constant
 * time), wherever the port is bound; on any address other than loopback the
 * gateway does not start without one.
 *
 * Pages in a browser are kept out either way: a request with an Origin header,
 * or one a browser marks as sent for another site (`Sec-Fetch-Site`), is
 * refused where it could read or change a document, and without a token so is
 * one whose Host header names anything but loopback (DNS rebinding: a page
 * whose own name resolves to 127.0.0.1).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { BlockList, isIPv6 } from 'node:net'
import { ConfigError } from './errors.js'

/** the shortest token accepted: 16 characters (`openssl rand -hex 32` prints 64) */
export const MIN_TOKEN_CHARS = 16
/** the longest: it travels in a header */
const MAX_TOKEN_CHARS = 1024

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

/** Is `host` (an address, or `localhost`) a loopback address, reachable from this host only? */
export function isLoopbackHost (host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (h.toLowerCase() === 'localhost') return true
  try {
    return LOOPBACK.check(h, isIPv6(h) ? 'ipv6' : 'ipv4')
  } catch {
    return false // not an address: a name that may resolve anywhere
  }
}

/** The token in `--admin-token-file` (trailing whitespace trimmed): 16 to 1,024 visible ASCII characters. */
export function adminTokenFrom (file: string): string {
  const what = 'admin token file'
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new ConfigError(file, code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`, undefined, what)
  }
  const token = text.replace(/\s+$/, '')
  if (token.length < MIN_TOKEN_CHARS) throw new ConfigError(file, `the token must be at least ${MIN_TOKEN_CHARS} characters (e.g. openssl rand -hex 32 > ${file})`, undefined, what)
  if (token.length > MAX_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(token)) throw new ConfigError(file, `the token must be one line of at most ${MAX_TOKEN_CHARS} visible ASCII characters`, undefined, what)
  return token
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()

/**
 * Does the request carry `token` as `Authorization: Bearer TOKEN`? Both sides
 * are hashed first, so the comparison takes the same time whatever the
 * length or content of what was sent.
 */
export function bearerMatches (req: IncomingMessage, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')
  return timingSafeEqual(digest(m?.[1] ?? ''), digest(token)) && m !== null
}

/** Sent by a browser for a web page (an Origin header, or a fetch marked as from another site)? */
export function fromWebPage (req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site']
  return req.headers.origin !== undefined || (site !== undefined && site !== 'none' && site !== 'same-origin')
}

/** Does the Host header name loopback (or is there none)? Anything else, on a port bound to loopback, is DNS rebinding. */
export function hostIsLoopback (req: IncomingMessage): boolean {
  const host = req.headers.host
  if (host === undefined) return true
  const name = /^(\[[^\]]*\]|[^:]*)(?::\d*)?$/.exec(host)?.[1]
  return name !== undefined && isLoopbackHost(name)
}
