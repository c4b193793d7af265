/**
 * y-websocket's exact framing over a plain `ws` client, but batched: the
 * updates of `batch` edits are merged (Y.mergeUpdates) into one sync
 * messageYjsUpdate. Speaks the y-protocols sync handshake with the server.
 * Options: { url, docName, batch }.
 */
import { WebSocket } from 'ws'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { docCommands, UsageMeter } from './doc-commands.js'
import type { RoleFactory } from './types.js'

const MESSAGE_SYNC = 0

export function syncUpdateMessage (update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MESSAGE_SYNC)
  syncProtocol.writeUpdate(e, update)
  return encoding.toUint8Array(e)
}

const ywsBatched: RoleFactory = async (opts: { url: string, docName?: string, batch: number }) => {
  const doc = new Y.Doc()
  const ws = new WebSocket(`${opts.url}/${opts.docName ?? 'b4'}`)
  ws.binaryType = 'arraybuffer'
  const remote = Symbol('remote')
  let synced = false
  ws.on('message', (data: ArrayBuffer) => {
    const d = decoding.createDecoder(new Uint8Array(data))
    if (decoding.readVarUint(d) !== MESSAGE_SYNC) return // awareness: not used here
    const reply = encoding.createEncoder()
    encoding.writeVarUint(reply, MESSAGE_SYNC)
    const kind = syncProtocol.readSyncMessage(d, reply, doc, remote)
    if (kind === syncProtocol.messageYjsSyncStep2) synced = true
    if (encoding.length(reply) > 1) ws.send(encoding.toUint8Array(reply))
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      const e = encoding.createEncoder()
      encoding.writeVarUint(e, MESSAGE_SYNC)
      syncProtocol.writeSyncStep1(e, doc)
      ws.send(encoding.toUint8Array(e))
      resolve()
    })
    ws.once('error', reject)
  })
  let pending: Uint8Array[] = []
  const flush = (): void => {
    if (pending.length === 0) return
    const merged = pending.length === 1 ? pending[0] : Y.mergeUpdates(pending)
    pending = []
    ws.send(syncUpdateMessage(merged))
  }
  doc.on('update', (u: Uint8Array, origin: unknown) => {
    if (origin === remote) return
    pending.push(u)
    if (pending.length >= opts.batch) flush()
  })
  const meter = new UsageMeter()
  const commands = docCommands(doc, meter)
  return {
    info: {},
    handlers: {
      ...commands,
      replay: async (args: unknown) => {
        const r = await commands.replay(args)
        flush()
        return r
      },
      synced: async ({ timeoutMs }: { timeoutMs?: number }) => {
        const until = Date.now() + (timeoutMs ?? 30_000)
        // eslint-disable-next-line no-unmodified-loop-condition -- set by the message handler above
        while (!synced) {
          if (Date.now() > until) throw new Error('not synced')
          await new Promise(resolve => setTimeout(resolve, 5))
        }
      }
    },
    close: async () => { ws.terminate() }
  }
}

export default ywsBatched
