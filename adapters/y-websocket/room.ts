/**
 * What an upgrade request names: the room (a meshdoc doc id) and the token.
 *
 * The room is the URL path after the prefix, the query string removed, as
 * @y/websocket-server takes it, then percent-decoded as UTF-8 (so a
 * provider's room `notes/plan 2` is the doc `notes/plan 2`; @y/websocket-server
 * keeps `notes/plan%202`). It is an opaque doc id: `..` and `/` mean nothing
 * (docs are stored under a keyed hash of their id, never under a path). It
 * must be 1 to MAX_ROOM_BYTES bytes of valid UTF-8.
 *
 * The token is a bearer token (`mdb1.…`, lib/grants/bearer.ts): the `token`
 * query parameter (what WebsocketProvider's `params` option sends; browsers
 * cannot set headers on a WebSocket) or an `Authorization: Bearer` header.
 */
import type { IncomingMessage } from 'node:http'

/** bytes of a room name (as a CLAIM's doc id: PROTOCOL §4.4) */
export const MAX_ROOM_BYTES = 1024

export type RoomResult = { room: string } | { refused: string }

/** `prefix` normalised: a leading `/`, a trailing `/`. */
export function normalisePrefix (prefix = '/'): string {
  const p = prefix.startsWith('/') ? prefix : `/${prefix}`
  return p.endsWith('/') ? p : `${p}/`
}

/** Is this request's path under `prefix` (normalised)? */
export function underPrefix (url: string, prefix: string): boolean {
  return pathOf(url).startsWith(prefix)
}

const pathOf = (url: string): string => url.split('?')[0]

/** The room a request under `prefix` names, or why it names none. */
export function roomOf (url: string, prefix: string): RoomResult {
  const raw = pathOf(url).slice(prefix.length)
  if (raw.length === 0) return { refused: 'no room in the URL' }
  // a percent-escape never decodes to more bytes than it takes: a raw path this long is too long decoded too
  if (raw.length > MAX_ROOM_BYTES * 3) return { refused: `a room name over ${MAX_ROOM_BYTES} bytes` }
  // a browser or the ws client percent-encodes anything else; Node would hand raw bytes over as latin1
  if (/[^\x21-\x7e]/.test(raw)) return { refused: 'a room name with bytes a URL carries only percent-encoded' }
  let room: string
  try {
    // throws URIError on a malformed escape or bytes that are not UTF-8
    room = decodeURIComponent(raw)
  } catch {
    return { refused: 'a room name that is not UTF-8' }
  }
  if (new TextEncoder().encode(room).length > MAX_ROOM_BYTES) return { refused: `a room name over ${MAX_ROOM_BYTES} bytes` }
  return { room }
}

/** The token the request carries, if any: `?token=`, else `Authorization: Bearer`. */
export function tokenOf (req: IncomingMessage): string | undefined {
  const url = req.url ?? ''
  const q = url.indexOf('?')
  if (q >= 0) {
    const token = new URLSearchParams(url.slice(q + 1)).get('token')
    if (token !== null && token !== '') return token
  }
  const auth = req.headers.authorization
  const m = auth === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(auth)
  return m?.[1]
}
