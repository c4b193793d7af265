/**
 * The y-websocket endpoint: an HTTP server whose upgrade requests under a
 * path prefix become WebSockets (the `ws` package), each linked to the
 * node's engine as a peer of its own (socket-peer.ts). What only the bridge
 * can bound, it bounds here, before the engine sees a byte:
 *
 * - a message over `maxMessageBytes` is refused by `ws` from its frame
 *   header, before its payload is buffered (close 1009; `frame_too_large`);
 * - connections: at most `maxConnections` at once (upgrading, open or
 *   closing), `maxConnectionsPerHost` from one remote address (HTTP 503);
 * - the room name (room.ts; close 4400) and the token, a bearer token
 *   (`mdb1.…`: a grant its audience signed over) checked before the upgrade
 *   completes (close 4401 if refused; a plain grant, `mdg1.…`, is
 *   `not_bearer`: any peer a device presented it to could replay it);
 * - a ping every `pingIntervalMs` (no pong by the next one: closed), and a
 *   socket that takes nothing of what waits for it for `writeStallMs` is
 *   closed (`slow_consumer`).
 *
 * Peer ids: `yws:<principal>#<n>`, the principal being the grant's audience
 * (a client with a token) or `anonymous`, and `n` the lowest number free
 * among that principal's open sockets. An id is unique among open sockets
 * (the engine replaces a peer whose id comes again) and reused after its
 * socket closed, so what the engine keeps per peer id (rate budgets, write
 * quotas in storage) stays bounded however many sockets come and go, and a
 * token holder's quota follows its grant's audience. Each socket announces
 * a fresh epoch, so nothing of an earlier socket under its id is resumed.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import type { Grant } from '../../lib/grants/grant.js'
import { logger } from '../../lib/log.js'
import { ByeReason } from '../../lib/protocol/constants.js'
import { docKeyFor, docKeyHex } from '../../lib/protocol/doc-key.js'
import { DEFAULT_LIMITS } from '../../lib/security/limits.js'
import type { YwsBridge, YwsBridgeNode, YwsBridgeOptions, YwsBridgeStats } from '../../lib/yws-bridge.js'
import { CloseCode, closeReason } from './messages.js'
import { RoomAwareness } from './room-awareness.js'
import { normalisePrefix, roomOf, tokenOf, underPrefix } from './room.js'
import { CLOSE_HANDSHAKE_MS, ENCRYPTED_ROOM, SocketPeer } from './socket-peer.js'

const log = logger('yws')

const DEFAULT_MAX_CONNECTIONS = 1024
const DEFAULT_MAX_CONNECTIONS_PER_HOST = 128
const DEFAULT_WRITE_STALL_MS = 20_000
/** as @y/websocket-server */
const DEFAULT_PING_INTERVAL_MS = 30_000
/** a request's headers must arrive within this */
const HEADERS_TIMEOUT_MS = 10_000
/** on close, sockets get this long to finish their close handshake before they are cut */
const CLOSE_GRACE_MS = 2000

/** Start a y-websocket endpoint on `node` (a running MeshNode); resolves once it listens. */
export async function startYwsBridge (node: YwsBridgeNode, opts: YwsBridgeOptions): Promise<YwsBridge> {
  const bridge = new Bridge(node, opts)
  await bridge.listen()
  return bridge
}

class Bridge implements YwsBridge {
  host = ''
  port = 0
  private readonly prefix: string
  private readonly meshKey: Uint8Array | undefined
  private readonly server: Server
  private readonly wss: WebSocketServer
  private readonly sockets = new Map<WebSocket, SocketPeer>()
  /** raw sockets past the caps until they close (upgrading, open or closing), in all and per remote address */
  private connections = 0
  private readonly perHost = new Map<string, number>()
  /** per principal: the numbers its open sockets' peer ids use */
  private readonly slots = new Map<string, Set<number>>()
  private readonly rooms = new RoomAwareness()
  private readonly counters: YwsBridgeStats = {
    connectionsOpen: 0, connectionsAccepted: 0, connectionsRefused: {}, connectionsClosed: {}, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, messagesRefused: {}, writesAcknowledged: 0, updatesMerged: 0, readsPaused: 0
  }

  private timer: ReturnType<typeof setInterval> | undefined
  private lastPing = performance.now()
  private closing: Promise<void> | undefined

  constructor (private readonly node: YwsBridgeNode, private readonly opts: YwsBridgeOptions) {
    this.prefix = normalisePrefix(opts.prefix)
    this.meshKey = typeof opts.meshKey === 'string' ? new TextEncoder().encode(opts.meshKey) : opts.meshKey
    this.server = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', upgrade: 'websocket' })
      res.end('a y-websocket endpoint: connect with a WebSocket (y-websocket\'s WebsocketProvider)\n')
    })
    this.server.headersTimeout = HEADERS_TIMEOUT_MS
    this.server.requestTimeout = HEADERS_TIMEOUT_MS
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxMessageBytes ?? DEFAULT_LIMITS.maxUpdateBytes + 64,
      // compressed messages could inflate far past what their frames announce
      perMessageDeflate: false,
      clientTracking: false
    })
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => { void this.upgrade(req, socket, head) })
  }

  async listen (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const a = this.server.address() as AddressInfo
    this.host = a.address
    this.port = a.port
    const stallMs = this.opts.writeStallMs ?? DEFAULT_WRITE_STALL_MS
    const pingMs = this.opts.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS
    this.timer = setInterval(() => { this.tick(stallMs, pingMs) }, Math.max(50, Math.min(5000, stallMs / 4, pingMs / 2)))
    this.timer.unref()
    log('listening on %s', this.url)
  }

  get url (): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host
    return `ws://${host}:${this.port}${this.prefix.slice(0, -1)}`
  }

  get stats (): YwsBridgeStats {
    return structuredClone({ ...this.counters, connectionsOpen: this.sockets.size })
  }

  private async upgrade (req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    // a reset in the middle of the upgrade is not ours to report
    socket.on('error', () => {})
    if (this.closing !== undefined) return this.refuse(socket, 503, 'stopping')
    const url = req.url ?? '/'
    if (!underPrefix(url, this.prefix)) return this.refuse(socket, 404, 'not_found')
    const host = socket.remoteAddress ?? 'unknown'
    if (this.connections >= (this.opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS)) return this.refuse(socket, 503, 'too_many')
    if ((this.perHost.get(host) ?? 0) >= (this.opts.maxConnectionsPerHost ?? DEFAULT_MAX_CONNECTIONS_PER_HOST)) return this.refuse(socket, 503, 'too_many_from_host')
    this.connections++
    this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1)
    socket.once('close', () => {
      this.connections--
      const n = (this.perHost.get(host) ?? 1) - 1
      if (n > 0) this.perHost.set(host, n)
      else this.perHost.delete(host)
    })

    const room = roomOf(url, this.prefix)
    const token = tokenOf(req)
    let grant: Grant | undefined
    let refusal: { reason: string, message: string } | undefined
    if ('room' in room && token !== undefined) {
      try {
        grant = await this.verify(token)
      } catch (err) {
        refusal = { reason: (err as { reason?: string }).reason ?? 'malformed', message: (err as Error).message }
      }
    }
    if (socket.destroyed || this.closing !== undefined) return
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // the client learns why from the close code: 4400–4499, y-websocket does not reconnect
      if ('refused' in room) return this.refuseSocket(ws, CloseCode.BAD_REQUEST, 'bad_room', room.refused)
      // a plain grant where a bearer token is needed is counted apart: a client set up wrong, or a grant replayed
      if (refusal?.reason === 'not_bearer') return this.refuseSocket(ws, CloseCode.UNAUTHORIZED, 'not_bearer', refusal.message)
      if (refusal !== undefined) return this.refuseSocket(ws, CloseCode.UNAUTHORIZED, 'token_refused', `grant refused: ${refusal.reason}: ${refusal.message}`)
      this.accept(ws, room.room, grant)
    })
  }

  /** A bearer token (`mdb1.…`): the grant the node's grants find in it (they check its signatures, owners, time, revocations). */
  private async verify (token: string): Promise<Grant> {
    const grants = this.node.grantsHere
    if (grants === undefined) throw Object.assign(new Error('this node checks no grants'), { reason: 'unknown_owner' })
    return await grants.verifyBearer(token)
  }

  private accept (ws: WebSocket, room: string, grant: Grant | undefined): void {
    const principal = grant?.audience ?? 'anonymous'
    const slot = this.takeSlot(principal)
    const peerId = `yws:${principal}#${slot}`
    const docKey = docKeyFor(room, this.meshKey)
    const peer = new SocketPeer(ws, { peerId, room, docKey, keyHex: docKeyHex(docKey), claims: grant !== undefined, stats: this.counters, rooms: this.rooms, messagesPerSecond: this.opts.messagesPerSecond, messageBurst: this.opts.messageBurst })
    this.sockets.set(ws, peer)
    this.counters.connectionsAccepted++
    ws.on('message', (data: RawData, isBinary: boolean) => { peer.receive(bytesOf(data), isBinary) })
    ws.on('pong', () => { peer.alive = true })
    ws.on('error', (err: Error & { code?: string }) => {
      // `ws` closes the socket itself (1009 for a message over maxPayload, 1002 for a malformed frame)
      const tooBig = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || err.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'
      peer.fail(tooBig ? ByeReason.FRAME_TOO_LARGE : ByeReason.PROTOCOL_ERROR, err.message)
    })
    ws.on('close', () => {
      peer.socketClosed()
      this.sockets.delete(ws)
      this.freeSlot(principal, slot)
    })
    // a room whose doc is end-to-end encrypted here is refused before the engine links the socket:
    // a y-websocket client cannot hold its keys (the engine would refuse its frames too: DENIED encrypted)
    if (this.node.e2eHere?.encrypted(docKeyHex(docKey)) === true) {
      peer.closeWith(CloseCode.FORBIDDEN, closeReason('encrypted', ENCRYPTED_ROOM), 'encrypted', true)
      return
    }
    try {
      peer.start((id, link) => this.node.attachPeer(id, link), grant === undefined ? undefined : () => { this.node.grantsHere?.admitGrants(peerId, [grant]) })
    } catch (err) {
      log.error('linking %s failed: %e', peerId, err)
      peer.closeWith(CloseCode.INTERNAL, closeReason('internal', 'the gateway failed'), 'internal')
    }
  }

  private tick (stallMs: number, pingMs: number): void {
    const now = performance.now()
    const ping = now - this.lastPing >= pingMs
    if (ping) this.lastPing = now
    for (const [ws, peer] of this.sockets) {
      if (peer.stalled(stallMs, now)) {
        peer.fail(ByeReason.SLOW_CONSUMER, `took nothing of the ${ws.bufferedAmount} bytes waiting for it in ${stallMs} ms`)
        continue
      }
      if (!ping) continue
      if (!peer.alive) {
        this.counters.connectionsClosed.ping_timeout = (this.counters.connectionsClosed.ping_timeout ?? 0) + 1
        ws.terminate()
        continue
      }
      peer.alive = false
      ws.ping()
    }
  }

  /** Answer an upgrade request with an HTTP status and close it (counted under `reason`). */
  private refuse (socket: Socket, status: number, reason: string): void {
    this.counters.connectionsRefused[reason] = (this.counters.connectionsRefused[reason] ?? 0) + 1
    const body = `${reason}\n`
    socket.once('finish', () => { socket.destroy() })
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
  }

  /** Close a socket right after its upgrade, before it is linked to the engine. */
  private refuseSocket (ws: WebSocket, code: number, reason: string, message: string): void {
    this.counters.connectionsRefused[reason] = (this.counters.connectionsRefused[reason] ?? 0) + 1
    ws.on('error', () => {})
    ws.close(code, closeReason(reason, message))
    setTimeout(() => { ws.terminate() }, CLOSE_HANDSHAKE_MS).unref()
  }

  private takeSlot (principal: string): number {
    let used = this.slots.get(principal)
    if (used === undefined) this.slots.set(principal, used = new Set())
    let n = 0
    while (used.has(n)) n++
    used.add(n)
    return n
  }

  private freeSlot (principal: string, n: number): void {
    const used = this.slots.get(principal)
    used?.delete(n)
    if (used?.size === 0) this.slots.delete(principal)
  }

  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    clearInterval(this.timer)
    const closed = [...this.sockets.keys()].map(async ws => await new Promise<void>(resolve => {
      if (ws.readyState === ws.CLOSED) resolve()
      else ws.once('close', () => { resolve() })
    }))
    for (const peer of this.sockets.values()) peer.closeWith(CloseCode.GOING_AWAY, closeReason('shutdown', 'the gateway is stopping'), 'shutdown')
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([Promise.all(closed), new Promise(resolve => { timer = setTimeout(resolve, CLOSE_GRACE_MS) })])
    clearTimeout(timer)
    for (const ws of this.sockets.keys()) ws.terminate()
    this.server.closeAllConnections()
    await new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
    this.rooms.clear()
    log('closed')
  }
}

function bytesOf (data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data
}
