/**
 * Binds the sync engine to libp2p: registers `/meshdoc/sync/1.0.0`, opens one
 * stream per connection (the dialing side opens it), keeps one link per peer
 * when simultaneous dials produce two connections, and hands each link to the
 * engine through a narrow `addPeer` (`SyncEngine.addPeer` fits).
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { logger } from '../../lib/log.js'
import { PROTOCOL_ID } from '../../lib/protocol/constants.js'
import { setRecent } from '../../lib/security/token-bucket.js'
import type { PeerConnection, PeerLink } from '../../lib/sync/types.js'
import { StreamLink, type ReceiveProgress } from './stream-link.js'

const log = logger('libp2p')

export interface SyncTransportOptions {
  maxFrameBytes: number
  /** a large frame is arriving from `peer` (for progress bars on long syncs) */
  onProgress?: (peer: string, received: number, expected: number) => void
  /** a connection we dialled closed before any sync frame arrived on it, and no other connection to the peer is left */
  onRefused?: (peer: string, addr: string) => void
  /** the link for each sync stream (default `StreamLink`; Node: `WatchedStreamLink`, which closes a peer that reads nothing) */
  Link?: new (stream: Stream, maxFrameBytes: number, onProgress?: ReceiveProgress) => StreamLink
}

interface LinkEntry { link: StreamLink, dialer: string, connection: string }

/** peers whose last sync connection's close time is remembered (to tell a refusal from a spare connection) */
const HEARD_MEMORY = 1024

/**
 * After a sync stream closes, wait this long before reopening one on a
 * surviving connection; doubled (up to REOPEN_MAX_MS) each time a stream to
 * the peer lasted less than REOPEN_RESET_MS, so a peer that closes us at once
 * (BYE forbidden: no valid grant; rate_limited) is not asked 20 times a second.
 */
const REOPEN_DELAY_MS = 50
const REOPEN_MAX_MS = 30_000
const REOPEN_RESET_MS = 10_000

export class Libp2pSyncTransport {
  private readonly links = new Map<string, LinkEntry>()
  private started = false
  private readonly onConnection = (evt: CustomEvent<Connection>): void => { this.openStream(evt.detail) }
  /** connections a sync frame arrived on (until they close) */
  private readonly heard = new Set<string>()
  /** streams to a peer in a row that lasted less than REOPEN_RESET_MS (the most recent HEARD_MEMORY peers) */
  private readonly shortLived = new Map<string, number>()
  /** when a connection that carried sync last closed, by peer (the most recent HEARD_MEMORY peers) */
  private readonly heardUntil = new Map<string, number>()
  private readonly onClose = (evt: CustomEvent<Connection>): void => {
    const conn = evt.detail
    const peer = conn.remotePeer.toString()
    if (this.heard.delete(conn.id)) {
      setRecent(this.heardUntil, peer, Date.now(), HEARD_MEMORY)
      return
    }
    if (conn.direction !== 'outbound' || conn.limits !== undefined) return
    // Refused: no other connection is left, and none carried sync while this one was
    // open (after simultaneous dials both sides keep one connection, and the other,
    // never used, may close last)
    if (this.libp2p.getConnections(conn.remotePeer).length > 0) return
    if ((this.heardUntil.get(peer) ?? 0) >= conn.timeline.open) return
    log('%s closed our connection before any sync', peer)
    this.opts.onRefused?.(peer, conn.remoteAddr.toString())
  }

  constructor (
    private readonly libp2p: Libp2p,
    /** hands the engine a peer's link (`SyncEngine.addPeer`) */
    private readonly addPeer: (peerId: string, link: PeerLink) => PeerConnection,
    private readonly opts: SyncTransportOptions
  ) {}

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.libp2p.handle(PROTOCOL_ID, (stream, connection) => { this.adopt(stream, connection) }, {
      maxInboundStreams: 2,
      maxOutboundStreams: 2
    })
    this.libp2p.addEventListener('connection:open', this.onConnection)
    this.libp2p.addEventListener('connection:close', this.onClose)
    for (const conn of this.libp2p.getConnections()) this.openStream(conn)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.libp2p.removeEventListener('connection:open', this.onConnection)
    this.libp2p.removeEventListener('connection:close', this.onClose)
    for (const { link } of this.links.values()) link.close()
    this.links.clear()
    await this.libp2p.unhandle(PROTOCOL_ID)
  }

  /** Open a sync stream to `peer` on a connection we dialed, if none is active. */
  private ensureLink (peerId: PeerId): void {
    const peer = peerId.toString()
    if (!this.started || this.links.has(peer)) return
    // this peer's connections only: a gateway reopening streams to many peers at once must not walk all of its connections each time
    const conn = this.libp2p.getConnections(peerId).find(c => c.direction === 'outbound' && c.status === 'open' && c.limits === undefined)
    if (conn !== undefined) {
      log('reopening the sync stream to %s', peer)
      this.openStream(conn)
    }
  }

  private openStream (conn: Connection): void {
    // A limited connection (a circuit-relay hop, capped in bytes and time) only
    // sets up a direct one, WebRTC say; sync runs on the direct connection.
    if (conn.direction !== 'outbound' || conn.status !== 'open' || conn.limits !== undefined) return
    const peer = conn.remotePeer.toString()
    conn.newStream(PROTOCOL_ID).then(stream => {
      this.adopt(stream, conn)
    }, (err: Error) => {
      // a gateway starting up may not handle the protocol yet: asked again, less and less often
      log('peer %s does not speak meshdoc on this connection (yet): %s', peer, err.message)
      this.reopenLater(conn.remotePeer, true)
    })
  }

  /** Try `ensureLink` again after a delay that doubles while the streams to `peer` do not last (`short`). */
  private reopenLater (peerId: PeerId, short: boolean): void {
    const peer = peerId.toString()
    const n = short ? (this.shortLived.get(peer) ?? -1) + 1 : 0
    setRecent(this.shortLived, peer, n, HEARD_MEMORY)
    setTimeout(() => { this.ensureLink(peerId) }, Math.min(REOPEN_MAX_MS, REOPEN_DELAY_MS * 2 ** n))
  }

  private adopt (stream: Stream, conn: Connection): void {
    if (!this.started) { stream.abort(new Error('not started')); return }
    const peer = conn.remotePeer.toString()
    const self = this.libp2p.peerId.toString()
    const dialer = conn.direction === 'outbound' ? self : peer
    const current = this.links.get(peer)
    if (current !== undefined && current.connection === conn.id && current.link.writable) {
      // one sync stream per connection: a second one is refused, never a reason to restart the session
      log('refusing a second sync stream from %s on one connection', peer)
      stream.abort(new Error('one meshdoc stream per connection'))
      return
    }
    if (current !== undefined && current.link.writable) {
      // Two connections to one peer (simultaneous dial). Both sides must keep
      // the same one: prefer the connection dialed by the smaller peer id; for
      // the same dialer, prefer the newer (the old one is likely dead).
      const preferred = self < peer ? self : peer
      if (current.dialer !== dialer && current.dialer === preferred) {
        log('keeping existing link to %s', peer)
        stream.close().catch(err => { stream.abort(err) })
        return
      }
    }
    const onProgress = this.opts.onProgress
    const Link = this.opts.Link ?? StreamLink
    const link = new Link(stream, this.opts.maxFrameBytes, onProgress === undefined ? undefined : (received, expected) => { onProgress(peer, received, expected) })
    const entry = { link, dialer, connection: conn.id }
    this.links.set(peer, entry)
    const opened = Date.now()
    stream.addEventListener('close', () => {
      if (this.links.get(peer) !== entry) return
      this.links.delete(peer)
      // the stream went but a connection may remain (we closed a duplicate, then
      // libp2p closed the other): the dialer of a surviving connection reopens
      this.reopenLater(conn.remotePeer, Date.now() - opened < REOPEN_RESET_MS)
    })
    const connection = this.addPeer(peer, link)
    let heard = false
    link.attach({
      ...connection,
      receive: (body) => {
        if (!heard) { heard = true; this.heard.add(conn.id) }
        connection.receive(body)
      }
    })
  }
}
