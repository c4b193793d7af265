/**
 * A hostile peer on the real wire: a stock libp2p node (TCP + Noise + yamux,
 * `createDefaultLibp2p`) that opens a raw `/meshdoc/sync/1.0.0` stream and
 * speaks the documented frames (`encodeFrame` + `lengthPrefix`) — no meshdoc
 * engine on this side. It records what it sent, every frame the victim
 * answered, and when and why the victim closed it (BYE reason, stream close).
 */
import type { Libp2p, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { decodeFrame, encodeFrame, type Frame } from '../../lib/protocol/codec.js'
import { byeReasonName, DeniedReason, MessageType, PROTOCOL_ID } from '../../lib/protocol/constants.js'
import { FrameReader, lengthPrefix } from '../../lib/protocol/framing.js'

const MiB = 1024 * 1024
const EMPTY_SV = new Uint8Array([0])
const NO_DIGEST = new Uint8Array(8)
/** DENIED frames whose time is kept (the counts are kept for all) */
const KEPT_DENIALS = 1000

const deniedName = (code: number): string =>
  (Object.entries(DeniedReason).find(([, v]) => v === code)?.[0] ?? `unknown_${code}`).toLowerCase()

export class WirePeer {
  framesSent = 0
  bytesSent = 0
  bytesReceived = 0
  /** the victim's HELLO, once it came */
  hello: Frame | undefined
  /** the victim's BYE, when it came (performance.now()) */
  bye: { reason: string, message: string, at: number } | undefined
  /** when the stream closed (either side), performance.now() */
  closedAt: number | undefined
  /** DENIED frames received, by reason name */
  readonly denied = new Map<string, number>()
  /** the first DENIED frames, with when they came */
  readonly denials: Array<{ reason: string, at: number }> = []
  private readonly listeners = new Set<(frame: Frame) => void>()
  private readonly reader = new FrameReader(64 * MiB)
  private readonly closedP: Promise<void>

  private constructor (readonly stream: Stream) {
    // a paused attacker must hold what arrives rather than reset its own stream
    stream.maxReadBufferLength = 1024 * MiB
    this.closedP = new Promise(resolve => {
      stream.addEventListener('close', () => { this.closedAt ??= performance.now(); resolve() })
    })
    stream.addEventListener('message', (evt) => {
      let bodies: Uint8Array[]
      try {
        bodies = this.reader.push(evt.data)
      } catch {
        stream.abort(new Error('unreadable frames from the victim'))
        return
      }
      for (const body of bodies) {
        this.bytesReceived += body.length
        let frame: Frame
        try {
          frame = decodeFrame(body)
        } catch {
          continue
        }
        if (frame.type === MessageType.DENIED) {
          const reason = deniedName(frame.reason)
          this.denied.set(reason, (this.denied.get(reason) ?? 0) + 1)
          if (this.denials.length < KEPT_DENIALS) this.denials.push({ reason, at: performance.now() })
        }
        if (frame.type === MessageType.HELLO) this.hello ??= frame
        if (frame.type === MessageType.BYE) {
          this.bye ??= { reason: byeReasonName(frame.reason), message: frame.message, at: performance.now() }
          // the victim is done with us: close our side too
          void stream.close().catch(() => {})
        }
        for (const f of this.listeners) f(frame)
      }
    })
  }

  /** Dial the victim, open a sync stream (paused: read nothing from it) and say HELLO. */
  static async open (node: Libp2p, victim: Multiaddr, opts: { paused?: boolean, features?: number } = {}): Promise<WirePeer> {
    const stream = await node.dialProtocol(victim, PROTOCOL_ID)
    if (opts.paused === true) stream.pause()
    const peer = new WirePeer(stream)
    peer.send({ type: MessageType.HELLO, maxFrameBytes: 16 * MiB, features: opts.features ?? 0, epoch: crypto.getRandomValues(new Uint8Array(8)) })
    return peer
  }

  /** the victim said BYE, or the stream is gone */
  get done (): boolean {
    return this.bye !== undefined || this.closedAt !== undefined
  }

  /** when the victim ended this peer: its BYE, else the stream's close */
  get endedAt (): number | undefined {
    return this.bye?.at ?? this.closedAt
  }

  /** Queue one frame; false once the peer is done. */
  send (frame: Frame): boolean {
    if (this.done) return false
    const bytes = lengthPrefix(encodeFrame(frame))
    this.framesSent++
    this.bytesSent += bytes.length
    try {
      this.stream.send(bytes)
    } catch {
      return false
    }
    return true
  }

  sync1 (docKey: Uint8Array, stateVector: Uint8Array = EMPTY_SV): boolean {
    return this.send({ type: MessageType.SYNC1, docKey, flags: 0, stateVector, dsDigest: NO_DIGEST })
  }

  /** Resolves when our writes may go on (or the peer is done, or after `ms`). */
  async drained (ms = 5000): Promise<void> {
    if (!this.stream.writableNeedsDrain || this.done) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      new Promise(resolve => { this.stream.addEventListener('drain', resolve, { once: true }) }),
      this.closedP,
      new Promise(resolve => { timer = setTimeout(resolve, ms) })
    ])
    clearTimeout(timer)
  }

  /** Be told of every frame the victim sends (not while paused); returns the function that stops it. */
  listen (f: (frame: Frame) => void): () => void {
    this.listeners.add(f)
    return () => { this.listeners.delete(f) }
  }

  /** Wait for the first frame that `match` accepts (undefined: done or timed out). */
  async next (match: (f: Frame) => boolean, ms = 5000): Promise<Frame | undefined> {
    let stop = (): void => {}
    try {
      return await new Promise<Frame | undefined>(resolve => {
        const timer = setTimeout(() => { resolve(undefined) }, ms)
        void this.closedP.then(() => { clearTimeout(timer); resolve(undefined) })
        stop = this.listen((f) => { if (match(f)) { clearTimeout(timer); resolve(f) } })
      })
    } finally {
      stop()
    }
  }
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
