/**
 * A y-websocket server: the `@y/websocket-server` connection handler
 * (`setupWSConnection`) behind `ws`, as its bundled server does it. The
 * document it holds answers the common document commands.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import { getYDoc, setupWSConnection } from '@y/websocket-server/utils'
import { docCommands, UsageMeter } from './doc-commands.js'
import type { RoleFactory } from './types.js'

const ywsServer: RoleFactory = async (opts: { docName?: string }) => {
  const docName = opts.docName ?? 'b4'
  const wss = new WebSocketServer({ noServer: true })
  const server = createServer((_req, res) => { res.writeHead(200); res.end('ok') })
  wss.on('connection', setupWSConnection)
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, ws => { wss.emit('connection', ws, req) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const doc = getYDoc(docName)
  const meter = new UsageMeter()
  return {
    info: { url: `ws://127.0.0.1:${port}` },
    handlers: {
      ...docCommands(doc, meter),
      clients: () => ({ clients: wss.clients.size })
    },
    close: async () => {
      for (const c of wss.clients) c.terminate()
      wss.close()
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

export default ywsServer
