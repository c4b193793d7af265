/**
 * Peer exchange through a gateway, so browsers find each other for WebRTC.
 *
 * A gateway that runs a circuit relay answers `/meshdoc/peers/1.0.0` with the
 * PeerIds that hold a relay reservation on it (other browsers, typically),
 * as one length-prefixed frame: a JSON array of at most 64 ids, the asker
 * left out. A browser asks every gateway it is connected to when it
 * connects, and every `intervalMs` after, and dials each unknown peer at
 * `<gateway addr>/p2p-circuit/webrtc/p2p/<id>`: the relay carries only the
 * WebRTC set-up, after which the two browsers talk directly.
 *
 * What it reveals: any peer the gateway admits learns which peers hold
 * reservations on it right now (not which documents they have). The
 * allow-list bounds who can ask; `meshdoc gateway --no-peer-exchange` turns
 * the answer off.
 */
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { logger } from '../../lib/log.js'
import { FrameReader, lengthPrefix } from '../../lib/protocol/framing.js'

const log = logger('pex')

export const PEER_EXCHANGE_PROTOCOL = '/meshdoc/peers/1.0.0'
const MAX_PEERS = 64
const MAX_ANSWER_BYTES = 64 * 80
const ASK_TIMEOUT_MS = 5000

/** Gateway side: answer with the peers holding a reservation on our relay. */
export async function servePeerExchange (libp2p: Libp2p, relay: CircuitRelayService): Promise<void> {
  await libp2p.handle(PEER_EXCHANGE_PROTOCOL, (stream, conn) => {
    const asker = conn.remotePeer.toString()
    const ids: string[] = []
    for (const peer of relay.reservations.keys()) {
      const id = peer.toString()
      if (id !== asker) ids.push(id)
      if (ids.length === MAX_PEERS) break
    }
    try {
      stream.send(lengthPrefix(new TextEncoder().encode(JSON.stringify(ids))))
      stream.close().catch((err: Error) => { stream.abort(err) })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { maxInboundStreams: 4, maxOutboundStreams: 1 })
}

/** Read the one answer frame of a peer-exchange stream. */
async function readAnswer (stream: Stream): Promise<string[]> {
  const reader = new FrameReader(MAX_ANSWER_BYTES)
  return await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => { stream.abort(new Error('peer exchange timed out')); reject(new Error('timed out')) }, ASK_TIMEOUT_MS)
    stream.addEventListener('message', (evt) => {
      try {
        const [body] = reader.push(evt.data)
        if (body === undefined) return
        clearTimeout(timer)
        const ids: unknown = JSON.parse(new TextDecoder().decode(body))
        if (!Array.isArray(ids) || ids.length > MAX_PEERS || !ids.every(id => typeof id === 'string' && id.length < 128)) throw new Error('malformed answer')
        resolve(ids as string[])
        stream.close().catch(() => {})
      } catch (err) {
        clearTimeout(timer)
        stream.abort(err as Error)
        reject(err instanceof Error ? err : new Error(String(err)))
      }
    })
    stream.addEventListener('close', () => { clearTimeout(timer); reject(new Error('closed before answering')) })
  })
}

/**
 * Browser side: ask connected gateways for peers and dial them over WebRTC
 * through that gateway's relay.
 */
export class PeerExchangeDialer {
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly dialing = new Set<string>()
  private readonly onIdentify = (evt: CustomEvent<{ connection: Connection, protocols: string[] }>): void => {
    if (evt.detail.protocols.includes(PEER_EXCHANGE_PROTOCOL)) void this.ask(evt.detail.connection)
  }

  constructor (private readonly libp2p: Libp2p, private readonly intervalMs = 10_000) {}

  start (): void {
    this.libp2p.addEventListener('peer:identify', this.onIdentify)
    this.timer = setInterval(() => { void this.askAll() }, this.intervalMs)
  }

  stop (): void {
    this.libp2p.removeEventListener('peer:identify', this.onIdentify)
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  private async askAll (): Promise<void> {
    for (const conn of this.libp2p.getConnections()) {
      if (conn.status !== 'open' || conn.limits !== undefined) continue
      const peer = await this.libp2p.peerStore.get(conn.remotePeer).catch(() => undefined)
      if (peer?.protocols.includes(PEER_EXCHANGE_PROTOCOL) === true) await this.ask(conn)
    }
  }

  private async ask (conn: Connection): Promise<void> {
    if (this.timer === undefined || conn.status !== 'open' || conn.limits !== undefined) return
    let ids: string[]
    try {
      ids = await readAnswer(await conn.newStream(PEER_EXCHANGE_PROTOCOL))
    } catch (err) {
      log('peer exchange with %s failed: %s', conn.remotePeer.toString(), (err as Error).message)
      return
    }
    const self = this.libp2p.peerId.toString()
    const relayAddr = conn.remoteAddr.toString()
    for (const id of ids) {
      if (id === self || this.dialing.has(id) || this.hasDirect(id)) continue
      this.dialing.add(id)
      const addr = `${relayAddr}/p2p-circuit/webrtc/p2p/${id}`
      log('dialing %s found through %s', id, conn.remotePeer.toString())
      this.libp2p.dial(multiaddr(addr)).then(() => {}, (err: Error) => {
        log('WebRTC dial to %s failed: %s', id, err.message)
      }).finally(() => { this.dialing.delete(id) })
    }
  }

  private hasDirect (peer: string): boolean {
    return this.libp2p.getConnections().some(c => c.remotePeer.toString() === peer && c.limits === undefined && c.status === 'open')
  }
}
