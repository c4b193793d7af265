/**
 * A y-websocket client: `WebsocketProvider` from y-websocket over `ws`. It
 * sends each Yjs update as its own message, as in a browser.
 * Options: { url, docName, connect }.
 */
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { now } from '../core/rpc.js'
import { loadEdits } from '../core/trace.js'
import { docCommands, UsageMeter, whenTextEquals } from './doc-commands.js'
import type { RoleFactory } from './types.js'

const ywsClient: RoleFactory = async (opts: { url: string, docName?: string, connect?: boolean }) => {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(opts.url, opts.docName ?? 'b4', doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    connect: opts.connect !== false,
    // no other tabs in a Node process
    disableBc: true
  })
  const synced = (timeoutMs: number): Promise<void> => new Promise((resolve, reject) => {
    if (provider.synced) { resolve(); return }
    const t = setTimeout(() => { reject(new Error(`provider not synced after ${timeoutMs} ms`)) }, timeoutMs)
    provider.once('sync', (ok: boolean) => { if (ok) { clearTimeout(t); resolve() } })
  })
  const meter = new UsageMeter()
  return {
    info: {},
    handlers: {
      ...docCommands(doc, meter),
      synced: async ({ timeoutMs }: { timeoutMs?: number }) => { await synced(timeoutMs ?? 30_000) },
      /** cold join: connect and wait until the whole document is here */
      join: async ({ limit, timeoutMs }: { limit?: number, timeoutMs: number }) => {
        const { endContent } = loadEdits(limit)
        const t0 = now()
        provider.connect()
        const t2 = await whenTextEquals(doc, endContent, timeoutMs)
        return { totalMs: t2 - t0, verified: doc.getText('text').toString() === endContent }
      }
    },
    close: async () => {
      provider.destroy()
      doc.destroy()
    }
  }
}

export default ywsClient
