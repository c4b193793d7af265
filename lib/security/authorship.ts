/**
 * Authorship: Yjs trusts clientIDs blindly, so any peer could write structs
 * "as" another. When enabled, each clientID is bound to the PeerId that first
 * sent structs for it, and structs for a clientID bound to someone else are
 * refused — unless the sender is a trusted relay (a gateway forwarding others'
 * edits). Rules and limits: docs/SECURITY.md.
 */
export interface AuthorshipOptions {
  /** PeerIds allowed to send structs of any clientID (relays, gateways) */
  relays: string[]
}

export class AuthorRegistry {
  private readonly owners = new Map<number, string>()

  constructor (private readonly relays: ReadonlySet<string>, readonly self: string) {}

  /** Bind our own clientID (a doc's local edits) to ourselves. */
  claim (client: number): void {
    this.owners.set(client, this.self)
  }

  /**
   * May `peer` send structs for all of `clients`? If so, unbound clients are
   * bound to it. Returns the first offending clientID, or undefined.
   */
  admit (peer: string, clients: Iterable<number>): number | undefined {
    if (this.relays.has(peer)) return undefined
    const fresh: number[] = []
    for (const c of clients) {
      const owner = this.owners.get(c)
      if (owner === undefined) fresh.push(c)
      else if (owner !== peer) return c
    }
    for (const c of fresh) this.owners.set(c, peer)
    return undefined
  }

  ownerOf (client: number): string | undefined {
    return this.owners.get(client)
  }
}
