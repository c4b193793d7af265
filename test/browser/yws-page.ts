/**
 * Runs inside Chromium (bundled by test/browser-yws.spec.ts): one page is
 * either an existing Yjs app, a `WebsocketProvider` from `y-websocket` on the
 * browser's own WebSocket and BroadcastChannel, exactly as an app ships it,
 * or a meshdoc browser peer (the browser preset: IndexedDB, WebSockets to the
 * gateway). Both answer the same calls, so the spec drives them alike through
 * `window.yws`: edit the doc, read it, set and read presence.
 */
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { createMeshNode, type MeshNode } from '../../adapters/presets/browser.js'

interface Side {
  doc: Y.Doc
  awareness: Awareness
  synced: () => boolean
}

let side: Side | undefined
let provider: WebsocketProvider | undefined
let node: MeshNode | undefined

declare global {
  interface Window {
    yws: typeof api
  }
}

function need (): Side {
  if (side === undefined) throw new Error('yws.provider() or yws.mesh() first')
  return side
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

const api = {
  /** the existing app: `new WebsocketProvider(url, room, doc)`, nothing else */
  provider (url: string, room: string): void {
    const doc = new Y.Doc()
    provider = new WebsocketProvider(url, room, doc)
    const p = provider
    side = { doc, awareness: p.awareness, synced: () => p.synced }
  },
  /** a meshdoc browser peer on the gateway's WebSocket address, the room as its doc id */
  async mesh (bootstrap: string, docId: string): Promise<string> {
    node = await createMeshNode({ bootstrap: [bootstrap], bootstrapBackoff: { minDelayMs: 200, maxDelayMs: 1000 } })
    const h = await node.open(docId)
    side = { doc: h.doc, awareness: h.awareness, synced: () => h.status.synced }
    return node.peerId
  },
  synced (): boolean { return need().synced() },
  clientID (): number { return need().doc.clientID },
  text (): string { return need().doc.getText('t').toString() },
  /** types `text` at the end of what the page shows, one character per transaction, `delayMs` apart */
  async type (text: string, delayMs: number): Promise<void> {
    const t = need().doc.getText('t')
    for (const ch of text) {
      t.insert(t.length, ch)
      await sleep(delayMs)
    }
  },
  setUser (name: string): void { need().awareness.setLocalStateField('user', { name }) },
  /** the user names in this page's awareness, by clientID (its own included) */
  users (): Record<number, string> {
    const out: Record<number, string> = {}
    for (const [id, s] of need().awareness.getStates()) {
      const name = (s as { user?: { name?: unknown } }).user?.name
      if (typeof name === 'string') out[id] = name
    }
    return out
  }
}

window.yws = api
document.title = 'meshdoc y-websocket test page'
