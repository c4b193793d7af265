/**
 * meshdoc for browsers (`meshdoc/browser`, built to `dist/browser.js`): the
 * same API as in Node, with a browser preset.
 *
 * ```ts
 * import { createMeshNode } from 'meshdoc'        // bundlers pick this file (the `browser` condition)
 * import { webrtc } from 'meshdoc/webrtc'         // optional: browser-to-browser links (npm install @libp2p/webrtc)
 * const node = await createMeshNode({ bootstrap: ['/dns4/gw.local/tcp/8081/ws/p2p/12D3Koo...'], webrtc: webrtc() })
 * const notes = await node.open('notes/shared')   // kept in IndexedDB, works offline
 * ```
 *
 * - Storage: IndexedDB (database `meshdoc`, or `dbName`), durable writes.
 * - Identity: kept in that database, so the PeerId survives reloads. Tabs of
 *   one app each take their own identity slot (held with a Web Lock), because
 *   two tabs are two peers.
 * - Transports: WebSockets to gateways. WebRTC to other browsers when the app
 *   opts in (`webrtc: webrtc()` from `meshdoc/webrtc`, which brings the
 *   transport, the relay hop and peer exchange; an app without it bundles
 *   none of them): set up through a gateway's circuit relay (`meshdoc
 *   gateway` runs one), found by asking the gateway which browsers it relays
 *   for (peer exchange).
 * - Coming back: on `online`, and when the page becomes visible after a
 *   minute or more hidden, every bootstrap peer is dialled at once
 *   (`node.reconnect()`), instead of after a backoff grown to 30 s.
 * - Tabs: the tabs of one app sync with each other over a BroadcastChannel,
 *   also offline (`tabs: false` turns it off).
 * - Encrypted documents: an opt-in (`encryptedDocs: encryptedDocs()` from
 *   `meshdoc/e2e`); an app without it bundles none of their code.
 * No Node built-ins are imported from here.
 */
import { startMeshNode, type GrantSupport, type MeshNode, type MeshNodeOptions } from '../../lib/mesh-node.js'
import { TabChannel } from '../broadcast-channel/tab-channel.js'
import { IndexedDbStorageAdapter } from '../indexeddb-storage/idb-adapter.js'
import { browserLibp2pPreset, webrtcOption, type BrowserWebRTC } from '../libp2p/create-browser-libp2p.js'
import { libp2pNetwork } from '../libp2p/network.js'
import type { EncryptedDocs, EncryptedMeshNode } from '../../lib/e2e/entry.js'

export * from '../../lib/core.js'
export { IndexedDbStorageAdapter, strictStore, type IndexedDbStorageOptions } from '../indexeddb-storage/idb-adapter.js'
export { TabChannel } from '../broadcast-channel/tab-channel.js'
export { browserLibp2pPreset, type BrowserLibp2pOptions, type BrowserWebRTC } from '../libp2p/create-browser-libp2p.js'
export type { GrantSupport } from '../../lib/mesh-node.js'
// types only: the code comes with `meshdoc/e2e`, when an app imports it
export type { EncryptedDocs, EncryptedMeshNode } from '../../lib/e2e/entry.js'

export interface BrowserMeshNodeOptions extends Omit<MeshNodeOptions, 'mdns' | 'relay' | 'inboundConnectionThreshold' | 'inboundConnectionsPerHost' | 'maxConnections' | 'maxPendingHandshakes' | 'pendingHandshakesPerHost' | 'linkPing' | 'swarmKey' | 'quota' | 'authorship' | 'serveAllDocs' | 'keepDocIds'> {
  /** IndexedDB database for documents and identity (default 'meshdoc'); ignored when `storage` is given */
  dbName?: string
  /**
   * WebRTC to other browsers through a gateway's relay: `webrtc()` from
   * `meshdoc/webrtc` (`npm install @libp2p/webrtc`), which also takes
   * `rtcConfiguration` and `peerExchangeIntervalMs`. Default: off (WebSockets
   * to gateways, and the BroadcastChannel to other tabs). `true` is a TypeError.
   */
  webrtc?: BrowserWebRTC | false
  /** sync with the other tabs of this app over a BroadcastChannel (default true) */
  tabs?: boolean
  /** what `trust`, `grants`, `revocations` and `grantProvider` need: `grantSupport()` from `meshdoc/grants` */
  grantSupport?: GrantSupport
  /**
   * End-to-end encrypted documents: `encryptedDocs()` from `meshdoc/e2e`
   * (the node is then an `EncryptedMeshNode`: `open(id, { encrypted })`).
   * Default: none, and none of their code in the bundle.
   */
  encryptedDocs?: EncryptedDocs
}

/**
 * Create and start a meshdoc node in a browser. Defaults differ from Node's:
 * documents and identity live in IndexedDB (`privateKey: 'storage'`).
 */
export async function createMeshNode (opts: BrowserMeshNodeOptions & { encryptedDocs: EncryptedDocs }): Promise<EncryptedMeshNode>
export async function createMeshNode (opts?: BrowserMeshNodeOptions): Promise<MeshNode>
export async function createMeshNode (opts: BrowserMeshNodeOptions = {}): Promise<MeshNode> {
  // a gateway's options: never ignored silently
  for (const k of ['quota', 'authorship', 'serveAllDocs'] as const) if ((opts as MeshNodeOptions)[k] !== undefined) throw new TypeError(`${k} needs the Node entry of meshdoc`)
  // WebRTC is an opt-in: webrtc: true is a TypeError; so are its options given to createMeshNode
  const rtc = webrtcOption(opts.webrtc)
  for (const k of ['rtcConfiguration', 'peerExchangeIntervalMs']) if (k in opts) throw new TypeError(`${k} goes to webrtc({ ${k} }) from 'meshdoc/webrtc'`)
  const libp2p = browserLibp2pPreset({ webrtc: rtc ?? false })
  const dbName = opts.dbName ?? 'meshdoc'
  const storage = opts.storage ?? new IndexedDbStorageAdapter({ dbName })
  const namespace = `meshdoc:${dbName}`
  const privateKey = opts.privateKey ?? 'storage'
  const slot = privateKey === 'storage' ? await claimIdentitySlot(namespace) : undefined
  try {
    return await startMeshNode({ ...opts, storage, privateKey }, {
      libp2p,
      network: libp2pNetwork,
      grants: opts.grantSupport,
      e2e: opts.encryptedDocs?.support,
      Node: opts.encryptedDocs?.Node
    }, {
      identitySlot: slot?.slot,
      extraLinks: async (node, addPeer) => {
        const tabs = opts.tabs !== false && typeof BroadcastChannel === 'function' ? new TabChannel(namespace, node.peerId, addPeer) : undefined
        await tabs?.start()
        const stopRtc = rtc?.start(node.libp2p)
        const stopWake = wakeUps(() => { node.reconnect() })
        return { stop: () => { stopWake(); stopRtc?.(); tabs?.stop(); slot?.release() } }
      }
    })
  } catch (err) {
    slot?.release()
    throw err
  }
}

/** a page hidden this long (a laptop asleep, a phone in a pocket) redials when it is visible again */
const LONG_SLEEP_MS = 60_000

/**
 * Calls `wake` when the browser is back online, and when the page becomes
 * visible after LONG_SLEEP_MS or more hidden; returns the unsubscribe.
 */
function wakeUps (wake: () => void): () => void {
  const doc = globalThis.document
  let hiddenAt = 0
  const onVisibility = (): void => {
    if (doc.hidden) hiddenAt = Date.now()
    else if (hiddenAt > 0 && Date.now() - hiddenAt >= LONG_SLEEP_MS) wake()
  }
  globalThis.addEventListener?.('online', wake)
  doc?.addEventListener('visibilitychange', onVisibility)
  return () => {
    globalThis.removeEventListener?.('online', wake)
    doc?.removeEventListener('visibilitychange', onVisibility)
  }
}

/**
 * The lowest identity slot no other live tab of this app holds, claimed with
 * a Web Lock until `release()` (or until the tab dies). Slot 0 for the first
 * tab, so a single-tab app keeps one PeerId across reloads. Without Web Locks
 * every tab takes slot 0.
 */
async function claimIdentitySlot (namespace: string): Promise<{ slot: number, release: () => void }> {
  const locks = globalThis.navigator?.locks
  if (locks === undefined) return { slot: 0, release: () => {} }
  for (let slot = 0; ; slot++) {
    const held = await new Promise<(() => void) | undefined>(resolve => {
      locks.request(`${namespace}:identity:${slot}`, { ifAvailable: true }, async lock => {
        if (lock === null) { resolve(undefined); return }
        await new Promise<void>(release => { resolve(release) })
      }).catch(() => { resolve(undefined) })
    })
    if (held !== undefined) return { slot, release: held }
  }
}
