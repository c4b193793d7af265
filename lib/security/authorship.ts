/**
 * Authorship: Yjs trusts clientIDs blindly, so any peer could write structs
 * "as" another. When enabled, new structs of a clientID are accepted only
 * from the peer that holds it on this document: the one that first sent new
 * structs under it (a relay's hold keeps everyone else out, it may have come
 * through the relay from anywhere), or else the one that speaks for it in
 * presence. A hold lasts as long as the holder's session on the document:
 * peers that forward others' edits (browser tabs, a device in the middle of
 * a line) hold what they forwarded first, and let go when they leave.
 * Trusted relays (gateways forwarding others' edits) may send any clientID.
 * Rules and limits: docs/SECURITY.md.
 */
import type { DocSession } from '../sync/doc-session.js'

export interface AuthorshipOptions {
  /** PeerIds allowed to send structs of any clientID (relays, gateways) */
  relays: string[]
}

export class AuthorRegistry {
  /**
   * @param owners the doc's bindings: a new Map, or one kept in storage
   *   (author-book.ts, `Bindings`), so they outlive the doc and the process
   */
  constructor (private readonly relays: ReadonlySet<string>, readonly self: string, private readonly owners: Map<number, string> = new Map()) {}

  /** Bind our own clientID (a doc's local edits) to ourselves. */
  claim (client: number): void {
    this.owners.set(client, this.self)
  }

  /**
   * May `peer` send new structs for all of `clients`? A clientID is held by a
   * peer with a session on the doc now (`sessions`, the doc's), or spoken for
   * in presence by the session that introduced it. If so, the clients nobody
   * holds are held by the peer from now on. Returns the first offending
   * clientID, or undefined.
   */
  admit (peer: string, clients: Iterable<number>, sessions: ReadonlyMap<string, DocSession>): number | undefined {
    const relay = this.relays.has(peer)
    const fresh: number[] = []
    for (const c of clients) {
      let holder = this.owners.get(c)
      if (holder !== undefined && holder !== this.self && !sessions.has(holder)) holder = undefined
      // a relay's hold yields to a peer speaking for the client in presence (its owner, moved on)
      const owner = holder !== undefined && !this.relays.has(holder) ? holder : presenceOwner(sessions, c) ?? holder
      if (owner === undefined || (owner === peer && holder !== peer)) fresh.push(c)
      else if (owner !== peer && !relay) return c
    }
    for (const c of fresh) this.owners.set(c, peer)
    return undefined
  }
}

/** The peer whose session speaks for `client` in presence (introduced it), if any. */
function presenceOwner (sessions: ReadonlyMap<string, DocSession>, client: number): string | undefined {
  for (const s of sessions.values()) if (s.awarenessClients.has(client)) return s.peer
  return undefined
}

/**
 * The engine's `authors` for `opts`: each doc's registry, its bindings kept
 * in `book` (author-book.ts: in storage) or, without one, in memory.
 */
export function authorRegistries (opts: AuthorshipOptions, book?: { bindings: (keyHex: string) => Map<number, string> }): (keyHex: string, self: string) => AuthorRegistry {
  const relays = new Set(opts.relays)
  return (keyHex, self) => new AuthorRegistry(relays, self, book?.bindings(keyHex))
}
