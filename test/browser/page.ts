/**
 * Runs inside Chromium (bundled by test/helpers/chromium.ts): a meshdoc
 * browser node the Node-side tests drive through `window.mesh`. Everything
 * here uses the real browser preset: IndexedDB, WebSockets, tabs, and WebRTC
 * when a test opts in (`start({ webrtc: { peerExchangeIntervalMs } })`: the
 * page passes `webrtc()` from `meshdoc/webrtc`, as an app would).
 */
import { webrtc as webrtcOf, type WebRTCOptions } from '../../adapters/libp2p/webrtc.js'
import * as Y from 'yjs'
import { createMeshNode, type BrowserMeshNodeOptions, type DocHandle, type MeshNode } from '../../adapters/presets/browser.js'
import { encryptedDocs, type EncryptedDocHandle, type EncryptedMeshNode } from '../../lib/e2e/entry.js'

let node: MeshNode | undefined
const handles = new Map<string, DocHandle>()
const encrypted = new Map<string, EncryptedDocHandle>()

function encryptedNode (): EncryptedMeshNode {
  const n = need()
  if (!('isEncrypted' in n)) throw new Error('mesh.start({ encrypted: true }) first')
  return n as EncryptedMeshNode
}

async function encryptedHandle (docId: string): Promise<EncryptedDocHandle> {
  const h = encrypted.get(docId)
  if (h === undefined) throw new Error(`mesh.openEncrypted('${docId}') first`)
  return h
}

declare global {
  interface Window {
    mesh: typeof api
    /** exposed by the test (page.exposeFunction) to learn which edits were acknowledged */
    reportFlushed?: (n: number) => Promise<void>
  }
}

function need (): MeshNode {
  if (node === undefined) throw new Error('mesh.start() first')
  return node
}

async function handle (docId: string): Promise<DocHandle> {
  let h = handles.get(docId)
  if (h === undefined) {
    h = await need().open(docId)
    handles.set(docId, h)
  }
  return h
}

const api = {
  Y,
  /** `webrtc: { … }` here stands for `webrtc: webrtc({ … })` (functions cannot cross page.evaluate) */
  /** `encrypted: true` stands for `encryptedDocs: encryptedDocs()` from `meshdoc/e2e` */
  async start (opts: Omit<BrowserMeshNodeOptions, 'webrtc' | 'encryptedDocs'> & { webrtc?: WebRTCOptions, encrypted?: boolean } = {}): Promise<{ peerId: string }> {
    const { webrtc, encrypted: withEncrypted, ...rest } = opts
    node = await createMeshNode({
      antiEntropyIntervalMs: 2000,
      bootstrapBackoff: { minDelayMs: 200, maxDelayMs: 1000 },
      ...rest,
      ...(webrtc !== undefined ? { webrtc: webrtcOf(webrtc) } : {}),
      ...(withEncrypted === true ? { encryptedDocs: encryptedDocs() } : {})
    })
    return { peerId: node.peerId }
  },
  async stop (): Promise<void> { await node?.stop(); node = undefined; handles.clear(); encrypted.clear() },
  /** open an encrypted doc: as a member named by its creator (`members` undefined), or create it with these members */
  async openEncrypted (docId: string, members?: Array<{ peerId: string, access: 'read' | 'write' }>): Promise<{ access: string }> {
    const h = await encryptedNode().open(docId, { encrypted: members === undefined ? true : { members } })
    encrypted.set(docId, h)
    await h.whenReady({ timeout: 15_000 })
    return { access: String(h.access) }
  },
  isEncrypted (docId: string): boolean { return encryptedNode().isEncrypted(docId) },
  async encryptedText (docId: string, name = 't'): Promise<string> { return (await encryptedHandle(docId)).doc.getText(name).toString() },
  async encryptedInsert (docId: string, text: string, name = 't'): Promise<void> {
    const t = (await encryptedHandle(docId)).doc.getText(name)
    t.insert(t.length, text)
  },
  async encryptedStored (docId: string, peer: string): Promise<void> { await (await encryptedHandle(docId)).whenStored({ peer, timeout: 15_000 }) },
  async dial (addr: string): Promise<string> { return await need().dial(addr) },
  peers (): string[] { return need().peers },
  multiaddrs (): string[] { return need().multiaddrs },
  connections (): Array<{ peer: string, addr: string, limited: boolean, direction: string }> {
    return need().libp2p.getConnections().map(c => ({ peer: c.remotePeer.toString(), addr: c.remoteAddr.toString(), limited: c.limits !== undefined, direction: c.direction }))
  },
  stats (): unknown { return need().stats },
  async open (docId: string): Promise<void> { await handle(docId) },
  async text (docId: string, name = 't'): Promise<string> { return (await handle(docId)).doc.getText(name).toString() },
  async insert (docId: string, text: string, name = 't'): Promise<void> {
    const t = (await handle(docId)).doc.getText(name)
    t.insert(t.length, text)
  },
  async flush (docId: string): Promise<void> { await (await handle(docId)).flush() },
  async whenSynced (docId: string, peer?: string, timeout = 15_000): Promise<void> {
    await (await handle(docId)).whenSynced({ ...(peer !== undefined ? { peer } : {}), timeout })
  },
  async status (docId: string): Promise<unknown> {
    const s = (await handle(docId)).status
    return { ...s, peers: s.peers.map(p => ({ ...p, storedStateVector: undefined })) }
  },
  /**
   * `n` edits, one line each, every one flushed before the next: each index
   * whose flush resolved is reported to the test at once. Never resolves
   * early on purpose: the test closes the page in the middle.
   */
  async burst (docId: string, n: number, name = 'burst'): Promise<void> {
    const h = await handle(docId)
    const arr = h.doc.getArray<number>(name)
    for (let i = 0; i < n; i++) {
      arr.push([i])
      await h.flush()
      await window.reportFlushed?.(i)
    }
  },
  async array (docId: string, name = 'burst'): Promise<number[]> { return (await handle(docId)).doc.getArray<number>(name).toArray() }
}

window.mesh = api
document.title = 'meshdoc test page'
