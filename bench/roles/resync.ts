/**
 * P5 in one process: bytes of one resync round between two replicas of the
 * B4 doc that are already in sync.
 *   meshdoc      one anti-entropy round started by one side (`node.resync()`)
 *   y-protocols  y-websocket's resync: sync step 1 -> step 2 (server side is
 *                @y/websocket-server's handler)
 * Both are counted as protocol payload and at the TCP sockets. meshdoc's two
 * kinds of round are measured separately, with the engine's timer off:
 *   tick  what the timer runs every `antiEntropyIntervalMs` (default 30 s): a
 *         SYNC1 with WANT_REPLY on each session not known to be in sync (the
 *         peer has not acknowledged all we sent, or a batch is still pending
 *         for it), skipping docs whose peer refused our writes. Here every session
 *         is in sync, so nothing is sent.
 *   full  what every `fullResyncEvery`-th tick runs instead (default 10th): a
 *         SYNC1 with WANT_REPLY on every doc the peer may access, in sync or
 *         not. The peer answers with a SYNC2 and a SYNC1 of its own (without
 *         WANT_REPLY), which gets a SYNC2 back; each SYNC2 is acknowledged.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { WebSocket, WebSocketServer } from 'ws'
import { getYDoc, setupWSConnection } from '@y/websocket-server/utils'
import { createMeshNode, type MeshNode } from '../../adapters/presets/node.js'
import { socketBytes } from '../core/net-bytes.js'
import type { RoleFactory } from './types.js'

async function until (f: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Wait until neither node has sent a frame for `quietMs`. */
async function settle (nodes: MeshNode[], quietMs = 250, maxMs = 5000): Promise<void> {
  const sig = (): string => nodes.map(n => n.stats.framesOut).join(',')
  const end = Date.now() + maxMs
  let last = sig()
  let since = Date.now()
  while (Date.now() < end) {
    await sleep(25)
    const now = sig()
    if (now !== last) { last = now; since = Date.now() } else if (Date.now() - since >= quietMs) return
  }
}

interface Measured { frames: number, protocolBytes: number, maxDirectionBytes: number, socketBytes: number }

/** Protocol bytes (frame bodies + 1-byte length prefixes) and TCP bytes that `act` causes. */
async function measure (nodes: MeshNode[], act: () => void): Promise<Measured> {
  const before = nodes.map(n => n.stats)
  const sock = socketBytes()
  act()
  await settle(nodes)
  const after = nodes.map(n => n.stats)
  const perSide = after.map((a, i) => (a.bytesOut - before[i].bytesOut) + (a.framesOut - before[i].framesOut))
  return {
    frames: after.reduce((s, a, i) => s + a.framesOut - before[i].framesOut, 0),
    protocolBytes: perSide.reduce((s, x) => s + x, 0),
    maxDirectionBytes: Math.max(...perSide),
    socketBytes: socketBytes().written - sock.written
  }
}

async function meshdocRound (state: Uint8Array): Promise<Record<string, number>> {
  const n1 = await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0'], antiEntropyIntervalMs: 0 })
  const n2 = await createMeshNode({ antiEntropyIntervalMs: 0 })
  try {
    const h1 = await n1.open('b4')
    const h2 = await n2.open('b4')
    Y.applyUpdateV2(h1.doc, state)
    Y.applyUpdateV2(h2.doc, state)
    await n2.dial(n1.multiaddrs[0])
    await Promise.all([h1.whenSynced({ timeout: 10_000 }), h2.whenSynced({ timeout: 10_000 })])
    await settle([n1, n2])
    // node.resync() runs one anti-entropy round now (SyncEngine.runAntiEntropy)
    // the periodic tick: skips sessions known to be in sync
    const tick = await measure([n1, n2], () => { n1.resync() })
    // the full round (every `fullResyncEvery`-th tick): SYNC1 both ways (ours with WANT_REPLY), a SYNC2 each way, ACKs
    const full = await measure([n1, n2], () => { n1.resync({ full: true }) })
    await until(() => h1.status.synced && h2.status.synced, 5000, 'sync after the round')
    return {
      tickProtocolBytes: tick.protocolBytes,
      tickSocketBytes: tick.socketBytes,
      frames: full.frames,
      protocolBytes: full.protocolBytes,
      maxDirectionBytes: full.maxDirectionBytes,
      socketBytes: full.socketBytes
    }
  } finally {
    await n1.stop()
    await n2.stop()
  }
}

const MESSAGE_SYNC = 0

async function yProtocolsRound (state: Uint8Array): Promise<Record<string, number>> {
  // payload: step 1 from the client, step 2 from the server, as y-websocket frames them
  const d1 = new Y.Doc()
  const d2 = new Y.Doc()
  Y.applyUpdateV2(d1, state)
  Y.applyUpdateV2(d2, state)
  const e1 = encoding.createEncoder()
  encoding.writeVarUint(e1, MESSAGE_SYNC)
  syncProtocol.writeSyncStep1(e1, d2)
  const step1 = encoding.toUint8Array(e1)
  const dec = decoding.createDecoder(step1)
  decoding.readVarUint(dec)
  const e2 = encoding.createEncoder()
  encoding.writeVarUint(e2, MESSAGE_SYNC)
  syncProtocol.readSyncMessage(dec, e2, d1, null)
  const step2 = encoding.toUint8Array(e2).length

  // on the wire: a real y-websocket server, and a client that sends step 1 as the provider's resync does
  const server = createServer()
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => { wss.handleUpgrade(req, socket, head, ws => { setupWSConnection(ws, req) }) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  Y.applyUpdateV2(getYDoc('b4'), state)
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/b4`)
  ws.binaryType = 'arraybuffer'
  let received = 0
  ws.on('message', (data: ArrayBuffer) => {
    received++
    const d = decoding.createDecoder(new Uint8Array(data))
    if (decoding.readVarUint(d) !== MESSAGE_SYNC) return
    const reply = encoding.createEncoder()
    encoding.writeVarUint(reply, MESSAGE_SYNC)
    syncProtocol.readSyncMessage(d, reply, d2, 'server')
    if (encoding.length(reply) > 1) ws.send(encoding.toUint8Array(reply))
  })
  try {
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    // let the connect-time handshake finish
    await until(() => received > 0, 5000, 'the server step 1')
    await sleep(200)
    const before = socketBytes()
    const got = received
    ws.send(step1)
    await until(() => received > got, 5000, 'the server step 2')
    await sleep(200)
    const after = socketBytes()
    return { step1: step1.length, step2, protocolBytes: step1.length + step2, socketBytes: after.written - before.written }
  } finally {
    ws.terminate()
    for (const c of wss.clients) c.terminate()
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
}

const resync: RoleFactory = async () => ({
  info: {},
  handlers: {
    meshdoc: async ({ statePath }: { statePath: string }) => await meshdocRound(readFileSync(statePath)),
    'y-protocols': async ({ statePath }: { statePath: string }) => await yProtocolsRound(readFileSync(statePath))
  },
  close: async () => {}
})

export default resync
