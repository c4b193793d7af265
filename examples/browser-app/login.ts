/**
 * The login bridge: this app's own login, turned into short-lived grants for
 * the browser's PeerId. A real app plugs its own login in here (its session
 * cookie, a JWT from its identity provider) and keeps the rest; this one
 * takes any user name, with no password.
 *
 *   POST /login   (form: user=NAME)  a session cookie, then back to /
 *   POST /logout                     the session ends, then back to /
 *   GET  /grant?peer=PEERID          a grant (`mdg1.…`, text/plain): write on
 *                                    `notes/NAME/**` for PEERID; 401 without a session
 *
 * The page asks for a grant at start and again before it expires (its
 * `grantProvider`), so a session lasts as long as the login does: once the
 * user logs out (here or in another tab), the next renewal gets 401 and the
 * gateway ends the page's sessions when its last grant does.
 *
 * The grants are signed with the owner key, which the gateway trusts (its
 * `trust.owners`). `loadOwnerKey` reads it from a file as `meshdoc keys new`
 * writes it, and makes one there if there is none.
 *
 * These grants go to the page's own PeerId, which it proves on the mesh. A
 * y-websocket client (`gateway --yws`) proves none: hand it a bearer token
 * instead, `issueBearer({ grant, audienceKey })` over a grant to a key made
 * for it (README, "Use it with existing Yjs apps").
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { dirname } from 'node:path'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { CLOCK_SKEW_MS, issueGrant } from '../../adapters/presets/node.js'

const COOKIE = 'meshdoc-session'
const SESSION_IN_COOKIES = /(?:^|;\s*)meshdoc-session=([0-9a-f]{32})(?:;|$)/
/** grants remembered in `issued` (tests count renewals with it) */
const MAX_ISSUED = 1000
/**
 * A user name becomes part of a doc pattern (`notes/NAME/**`): letters,
 * digits and dashes only, so that no name is a glob (`*`) or a path (`a/b`)
 * that would grant more than that user's own notes.
 */
const USER_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/

/** A grant handed out: who for, and until when the gateway accepts it. */
export interface IssuedGrant {
  user: string
  peer: string
  issuedAt: number
  acceptedUntil: number
}

export interface LoginBridgeOptions {
  /** signs the grants; the gateway trusts it */
  owner: PrivateKey
  /** how long the gateway accepts a grant after it is issued (ms) */
  lifetimeMs: number
  log?: (line: string) => void
}

/** The owner key in `file`, made (0600) if there is none. */
export async function loadOwnerKey (file: string): Promise<{ key: PrivateKey, created: boolean }> {
  let text: string | undefined
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err
  }
  if (text !== undefined) return { key: privateKeyFromProtobuf(uint8ArrayFromString(text.trim(), 'base64pad')), created: false }
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, uint8ArrayToString(privateKeyToProtobuf(key), 'base64pad') + '\n', { mode: 0o600, flag: 'wx' })
  return { key, created: true }
}

export class LoginBridge {
  /** every grant handed out, oldest first */
  readonly issued: IssuedGrant[] = []
  /** session id (the cookie) -> user name; in memory, so a restart logs everyone out */
  private readonly sessions = new Map<string, string>()

  constructor (private readonly opts: LoginBridgeOptions) {}

  /** The user logged in with this request's cookie. */
  userOf (req: IncomingMessage): string | undefined {
    const sid = sessionId(req)
    return sid === undefined ? undefined : this.sessions.get(sid)
  }

  /** Answer /login, /logout and /grant; false for any other path. */
  async handle (req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path === '/login' && req.method === 'POST') {
      const user = new URLSearchParams(await readBody(req)).get('user')?.trim().toLowerCase() ?? ''
      if (!USER_NAME.test(user)) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('a user name is 1 to 32 letters, digits or dashes')
        return true
      }
      const sid = randomBytes(16).toString('hex')
      this.sessions.set(sid, user)
      this.opts.log?.(`${user} logged in`)
      res.writeHead(303, { location: '/', 'set-cookie': `${COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Strict` }).end()
      return true
    }
    if (path === '/logout' && req.method === 'POST') {
      const user = this.userOf(req)
      this.sessions.delete(sessionId(req) ?? '')
      if (user !== undefined) this.opts.log?.(`${user} logged out`)
      res.writeHead(303, { location: '/', 'set-cookie': `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` }).end()
      return true
    }
    if (path === '/grant' && req.method === 'GET') {
      const user = this.userOf(req)
      if (user === undefined) {
        res.writeHead(401, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('log in first')
        return true
      }
      const peer = new URL(req.url ?? '/', 'http://x').searchParams.get('peer') ?? ''
      if (!isPeerId(peer)) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('peer must be a PeerId (12D3KooW…)')
        return true
      }
      const token = await this.grant(user, peer)
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(token)
      return true
    }
    return false
  }

  /** Write on the user's notes, for `peer`, accepted by the gateway for `lifetimeMs` from now. */
  private async grant (user: string, peer: string): Promise<string> {
    const now = Date.now()
    // a verifier accepts a grant until CLOCK_SKEW_MS past its expiresAt: stamped
    // so that it accepts this one for lifetimeMs (which tests make a few seconds)
    const expiresAt = now + this.opts.lifetimeMs - CLOCK_SKEW_MS
    const token = await issueGrant({
      key: this.opts.owner,
      audience: peer,
      access: 'write',
      docs: [`notes/${user}/**`],
      notBefore: Math.min(now, expiresAt - 1),
      expiresAt
    })
    if (this.issued.length >= MAX_ISSUED) this.issued.shift()
    this.issued.push({ user, peer, issuedAt: now, acceptedUntil: now + this.opts.lifetimeMs })
    this.opts.log?.(`granted ${user}'s …${peer.slice(-6)} write on notes/${user}/** for ${Math.round(this.opts.lifetimeMs / 1000)} s`)
    return token
  }
}

/** A PeerId in its usual form (a grant's audience is always in that form). */
function isPeerId (text: string): boolean {
  try {
    return peerIdFromString(text).toString() === text
  } catch {
    return false
  }
}

function sessionId (req: IncomingMessage): string | undefined {
  return SESSION_IN_COOKIES.exec(req.headers.cookie ?? '')?.[1]
}

/** A small form body (at most 1 KiB). */
async function readBody (req: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) {
    body += String(chunk)
    if (body.length > 1024) break
  }
  return body
}
