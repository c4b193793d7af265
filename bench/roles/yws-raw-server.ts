/**
 * y-websocket's framing over a plain `ws` server that only applies what it
 * receives: no echo to the sender, no awareness. The cheapest possible
 * receiver for y-websocket's wire format, to compare with alongside the real
 * server (which sends every update back to every connection, the sender too).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { docCommands, UsageMeter } from './doc-commands.js'
import type { RoleFactory } from './types.js'

const MESSAGE_SYNC = 0

const ywsRawServer: RoleFactory = async () => {
  const doc = new Y.Doc()
  const wss = new WebSocketServer({ noServer: true })
  const server = createServer()
  wss.on('connection', (ws: WebSocket) => {
    ws.binaryType = 'arraybuffer'
    ws.on('message', (data: ArrayBuffer) => {
      const d = decoding.createDecoder(new Uint8Array(data))
      if (decoding.readVarUint(d) !== MESSAGE_SYNC) return
      const reply = encoding.createEncoder()
      encoding.writeVarUint(reply, MESSAGE_SYNC)
      syncProtocol.readSyncMessage(d, reply, doc, ws)
      if (encoding.length(reply) > 1) ws.send(encoding.toUint8Array(reply))
    })
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, MESSAGE_SYNC)
    syncProtocol.writeSyncStep1(e, doc)
    ws.send(encoding.toUint8Array(e))
  })
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, ws => { wss.emit('connection', ws, req) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const meter = new UsageMeter()
  return {
    info: { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` },
    handlers: docCommands(doc, meter),
    close: async () => {
      for (const c of wss.clients) c.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

export default ywsRawServer
