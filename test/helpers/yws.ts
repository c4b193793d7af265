/**
 * Helpers for the y-websocket bridge specs: a gateway-like node (serving by
 * key, authorship and quotas on, as `meshdoc gateway` runs) with a bridge,
 * real `WebsocketProvider`s from `y-websocket` on the `ws` package, and raw
 * `ws` clients that send whatever a test wants, and bearer tokens as a
 * login backend makes them. `YwsRig.stopAll()` (call it in afterEach)
 * destroys and stops everything made here.
 */
import { rm } from 'node:fs/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import WebSocket from 'ws'
import * as encoding from 'lib0/encoding'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { issueBearer, issueGrant, type GrantAccess, type MeshNode, type MeshNodeOptions } from '../../adapters/presets/node.js'
import { startYwsBridge, type YwsBridge, type YwsBridgeOptions } from '../../adapters/y-websocket/index.js'
import { NodePool } from './mesh-nodes.js'

export interface Closed { code: number, reason: string }

/** A `ws` client that keeps what it receives and how it was closed. */
export interface RawClient {
  ws: WebSocket
  received: Uint8Array[]
  /** resolves once the socket closed */
  closed: Promise<Closed>
  /** the HTTP status, when the upgrade was refused */
  status: Promise<number | undefined>
}

export class YwsRig {
  readonly pool = new NodePool()
  private readonly bridges: YwsBridge[] = []
  private readonly providers: WebsocketProvider[] = []
  private readonly raws: WebSocket[] = []
  readonly dirs: string[] = []

  /** A gateway-like node with a y-websocket bridge on 127.0.0.1. */
  async gateway (opts: MeshNodeOptions = {}, bridgeOpts: Partial<YwsBridgeOptions> = {}): Promise<{ gw: MeshNode, bridge: YwsBridge }> {
    const gw = await this.pool.create({ serveAllDocs: true, authorship: { relays: [] }, quota: { maxBytes: 1 << 30, maxDocs: 10_000 }, ...opts })
    const bridge = await startYwsBridge(gw, { host: '127.0.0.1', port: 0, ...bridgeOpts })
    this.bridges.push(bridge)
    return { gw, bridge }
  }

  /** A real WebsocketProvider (Node: `ws` as its WebSocket; no BroadcastChannel between providers of one process). */
  provider (bridge: YwsBridge | string, room: string, doc = new Y.Doc(), params: Record<string, string> = {}): WebsocketProvider {
    const url = typeof bridge === 'string' ? bridge : bridge.url
    const p = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket, disableBc: true, params })
    this.providers.push(p)
    return p
  }

  /** A raw ws client on `url` (the bridge URL with the room path appended). */
  raw (url: string, opts: WebSocket.ClientOptions = {}): RawClient {
    const ws = new WebSocket(url, opts)
    this.raws.push(ws)
    const received: Uint8Array[] = []
    ws.on('message', (data: Buffer) => { received.push(new Uint8Array(data)) })
    ws.on('error', () => {})
    const status = new Promise<number | undefined>(resolve => {
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode); ws.terminate() })
      ws.on('open', () => { resolve(undefined) })
      ws.on('close', () => { resolve(undefined) })
    })
    const closed = new Promise<Closed>(resolve => { ws.on('close', (code: number, reason: Buffer) => { resolve({ code, reason: reason.toString() }) }) })
    return { ws, received, closed, status }
  }

  async stopAll (): Promise<void> {
    for (const p of this.providers.splice(0)) {
      p.destroy()
      // the provider's Awareness runs a timer until its doc is destroyed
      p.doc.destroy()
    }
    for (const ws of this.raws.splice(0)) ws.terminate()
    await Promise.allSettled(this.bridges.splice(0).map(async b => { await b.close() }))
    await this.pool.stopAll()
    await Promise.allSettled(this.dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  }
}

export interface BearerOptions {
  docs: string[]
  access: GrantAccess
  /** default: an hour from now */
  expiresAt?: number
  /** default: now, or an hour before `expiresAt` if that is earlier */
  notBefore?: number
  /** the audience's key (default: a fresh one) */
  audienceKey?: PrivateKey
  /** bind the token to this gateway's PeerId */
  gateway?: string
}

/** A grant from `owner` and the bearer token its audience makes of it (`mdb1.…`), as a login backend hands one out. */
export async function bearerToken (owner: PrivateKey, opts: BearerOptions): Promise<{ token: string, grant: string, audience: string, audienceKey: PrivateKey }> {
  const audienceKey = opts.audienceKey ?? await generateKeyPair('Ed25519')
  const audience = peerIdFromPrivateKey(audienceKey).toString()
  const expiresAt = opts.expiresAt ?? Date.now() + 3_600_000
  const notBefore = opts.notBefore ?? Math.min(Date.now(), expiresAt - 3_600_000)
  const grant = await issueGrant({ key: owner, audience, access: opts.access, docs: opts.docs, notBefore, expiresAt })
  const token = await issueBearer({ grant, audienceKey, ...(opts.gateway !== undefined ? { gateway: opts.gateway } : {}) })
  return { token, grant, audience, audienceKey }
}

/** Resolves when the socket is open (rejects if it closes first). */
export async function opened (c: RawClient): Promise<void> {
  if (c.ws.readyState === WebSocket.OPEN) return
  await new Promise<void>((resolve, reject) => {
    c.ws.once('open', () => { resolve() })
    c.ws.once('close', (code: number) => { reject(new Error(`closed (${code}) before it opened`)) })
  })
}

/** y-websocket messages, as a client writes them. */
export const ywsMessage = {
  sync1: (sv: Uint8Array = new Uint8Array([0])): Uint8Array => envelope(0, 0, sv),
  sync2: (update: Uint8Array): Uint8Array => envelope(0, 1, update),
  update: (update: Uint8Array): Uint8Array => envelope(0, 2, update),
  awareness: (update: Uint8Array): Uint8Array => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint8Array(e, update)
    return encoding.toUint8Array(e)
  }
}

function envelope (type: number, step: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, type)
  encoding.writeVarUint(e, step)
  encoding.writeVarUint8Array(e, payload)
  return encoding.toUint8Array(e)
}

/** A V1 update of one text insert by `client`. */
export function textInsert (client: number, text: string): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = client
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc)
}
