/**
 * meshdoc notes: a user's notes, one Y.Text bound to a <textarea>, in the browser.
 *
 * - You log in first (any user name: serve.ts's login bridge, login.ts, has no
 *   passwords), and edit `notes/<user>/<doc>`. The page asks the login bridge
 *   for a grant for its PeerId (`grantProvider`, with `grantSupport()` from
 *   `meshdoc/grants`): write on `notes/<user>/**`, short-lived, renewed before
 *   it expires. The gateway gives the page exactly what the grant says; once
 *   you log out (here or in another tab) renewals fail, and access ends with
 *   the last grant. The page checks its peers' grants too (`trust`), so
 *   another user's browser cannot read your notes from yours over WebRTC.
 * - The text lives in IndexedDB (the browser preset's default storage), so the
 *   page works offline and keeps what you typed across reloads.
 * - The page dials the gateway named in /config.json over WebSockets; the
 *   bootstrap keeper redials it with backoff whenever it goes away. Other
 *   browsers are reached directly over WebRTC (found through the gateway):
 *   the app opts in with `webrtc()` from `meshdoc/webrtc` (which needs
 *   @libp2p/webrtc, an optional peer dependency of meshdoc). Other tabs of
 *   this browser sync over a BroadcastChannel.
 * - Typing is turned into minimal Yjs edits (the changed range only), so what
 *   two people type at the same time merges instead of one overwriting the other.
 * - The status bar says whether we are online (the browser thinks so and the
 *   gateway is connected), which peers are connected, and how far your latest
 *   edit got: "saved locally" (committed to IndexedDB: `handle.flush()`) and
 *   then "stored on the gateway" (the gateway acknowledged it as durably
 *   stored: `handle.whenSynced({ peer: gatewayPeerId })`).
 *
 * Bundled by serve.ts (rollup, the browser build of meshdoc).
 */
import type * as Y from 'yjs'
import { createMeshNode, type DocHandle, type MeshNode } from '../../adapters/presets/browser.js'
import { webrtc } from '../../adapters/libp2p/webrtc.js'
import { grantSupport } from '../../lib/grants/support.js'

interface AppConfig {
  /** the gateway's WebSocket multiaddr, ending in /p2p/<PeerId> */
  gateway: string
  /** the owner key whose grants count (its PeerId) */
  owner: string
  /** the notes' name: the doc is `notes/<user>/<doc>` */
  doc: string
  /** who is logged in (the session cookie), null when no one is */
  user: string | null
}

/** transaction origin of edits made in this textarea */
const LOCAL = Symbol('textarea')
const CONFIG_KEY = 'meshdoc-browser-app:config'

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} is missing from index.html`)
  return el as T
}
const editor = $<HTMLTextAreaElement>('editor')
const onlineEl = $('status-online')
const peersEl = $('status-peers')
const savedEl = $('status-saved')
const accessEl = $('status-access')
const meEl = $('me')

function setState (el: HTMLElement, state: string, text: string): void {
  el.dataset.state = state
  const t = el.querySelector('.text')
  if (t !== null) t.textContent = text
  else el.textContent = text
}

const short = (peerId: string): string => `…${peerId.slice(-6)}`
const clock = (ms: number): string => new Date(ms).toLocaleTimeString()

/** The config from the server, or the last one seen (so a reload works while the server is down). */
async function loadConfig (): Promise<AppConfig> {
  try {
    const res = await fetch('/config.json', { cache: 'no-store' })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    const config = await res.json() as AppConfig
    localStorage.setItem(CONFIG_KEY, JSON.stringify(config))
    return config
  } catch (err) {
    const cached = localStorage.getItem(CONFIG_KEY)
    if (cached === null) throw new Error(`cannot load /config.json: ${(err as Error).message}`)
    return JSON.parse(cached) as AppConfig
  }
}

/**
 * A grant for `peerId` from the login bridge (serve.ts, login.ts): it turns
 * our login (the session cookie, sent along) into a short-lived grant.
 */
async function fetchGrant (peerId: string): Promise<string> {
  const res = await fetch(`/grant?peer=${encodeURIComponent(peerId)}`, { cache: 'no-store' })
  if (!res.ok) throw new Error(res.status === 401 ? 'logged out (HTTP 401)' : `HTTP ${res.status}`)
  return await res.text()
}

/** The PeerId at the end of a multiaddr (`…/p2p/<PeerId>`). */
function peerIdOf (addr: string): string {
  const m = /\/p2p\/([^/]+)$/.exec(addr)
  if (m === null) throw new Error(`the gateway address ${addr} does not end in /p2p/<PeerId>`)
  return m[1]
}

/**
 * Apply the textarea's new value to `text` as one minimal edit: keep the
 * common prefix and suffix, replace what lies between. `cursor` (the caret
 * after the edit) breaks ties when a repeated character makes the changed
 * range ambiguous, so the edit lands where the user typed.
 */
function applyDiff (text: Y.Text, before: string, after: string, cursor: number): void {
  let start = 0
  const max = Math.min(before.length, after.length)
  while (start < max && before[start] === after[start]) start++
  // an insertion ends at the caret: do not let the prefix run past it
  if (after.length > before.length) start = Math.min(start, Math.max(0, cursor - (after.length - before.length)))
  let endBefore = before.length
  let endAfter = after.length
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) { endBefore--; endAfter-- }
  const removed = endBefore - start
  const inserted = after.slice(start, endAfter)
  if (removed === 0 && inserted === '') return
  text.doc!.transact(() => {
    if (removed > 0) text.delete(start, removed)
    if (inserted !== '') text.insert(start, inserted)
  }, LOCAL)
}

/** Show a remote change in the textarea, keeping the caret and selection where they were in the text. */
function showRemote (event: Y.YTextEvent, text: Y.Text): void {
  let selStart = editor.selectionStart
  let selEnd = editor.selectionEnd
  let index = 0
  for (const op of event.delta) {
    if (op.retain !== undefined) {
      index += op.retain
    } else if (op.insert !== undefined) {
      const n = typeof op.insert === 'string' ? op.insert.length : 1
      if (index < selStart) selStart += n
      if (index < selEnd) selEnd += n
      index += n
    } else if (op.delete !== undefined) {
      if (index < selStart) selStart = Math.max(index, selStart - op.delete)
      if (index < selEnd) selEnd = Math.max(index, selEnd - op.delete)
    }
  }
  const focused = document.activeElement === editor
  editor.value = text.toString()
  if (focused) editor.setSelectionRange(selStart, selEnd)
}

/**
 * How far the local edits got. `edits` counts local transactions; `saved` and
 * `stored` are the highest edit number known to be in IndexedDB and on the
 * gateway. One flush and one whenSynced wait at a time; each, when done,
 * starts again if more edits came in meanwhile.
 */
class EditTracker {
  edits = 0
  saved = 0
  stored = 0
  error: string | undefined
  /** why the gateway refused our edits, until it takes the doc again (`resume`) */
  refused: string | undefined
  private flushing = false
  private waiting = false

  constructor (private readonly handle: DocHandle, private readonly gatewayPeer: string, private readonly render: () => void) {}

  edited (): void {
    this.edits++
    this.render()
    void this.flush()
  }

  private async flush (): Promise<void> {
    if (this.flushing) return
    this.flushing = true
    try {
      while (this.saved < this.edits) {
        const upTo = this.edits
        await this.handle.flush()
        this.saved = upTo
        this.render()
      }
    } catch (err) {
      this.error = `not saved: ${(err as Error).message}`
      this.render()
    } finally {
      this.flushing = false
    }
    void this.waitForGateway()
  }

  /** Started after a flush: by then the edit is queued for peers, so whenSynced cannot resolve early. */
  private async waitForGateway (): Promise<void> {
    if (this.waiting) return
    this.waiting = true
    try {
      while (this.stored < this.saved) {
        const upTo = this.saved
        await this.handle.whenSynced({ peer: this.gatewayPeer })
        this.stored = Math.max(this.stored, upTo)
        this.render()
      }
    } catch (err) {
      if (!this.handle.closed) {
        this.refused = `the gateway refused: ${(err as Error).message}`
        this.render()
      }
    } finally {
      this.waiting = false
    }
  }

  /** In session with the gateway again (a new grant, say): wait for it to store what it refused. */
  resume (): void {
    if (this.refused === undefined) return
    this.refused = undefined
    this.render()
    void this.waitForGateway()
  }
}

async function main (): Promise<void> {
  const config = await loadConfig()
  if (config.user === null) {
    // the login form posts to /login, which sets the cookie and sends us back here
    $('login').hidden = false
    $<HTMLInputElement>('login-user').focus()
    meEl.textContent = 'not logged in'
    setState(onlineEl, 'offline', 'log in to start')
    setState(accessEl, 'denied', 'no grant: log in first')
    return
  }
  const user = config.user
  const docId = `notes/${user}/${config.doc}`
  const gatewayPeer = peerIdOf(config.gateway)
  $('logout').hidden = false

  // what the access line says: our last grant, or why there is none
  const grant = { renewedAt: 0, failure: undefined as string | undefined, refused: undefined as string | undefined }
  const renderAccess = (): void => {
    if (grant.refused !== undefined) setState(accessEl, 'denied', `the gateway refused ${docId} (${grant.refused}): log in again`)
    else if (grant.failure !== undefined) setState(accessEl, 'ending', `${user} · grant not renewed: ${grant.failure}; access ends with the grant`)
    else if (grant.renewedAt > 0) setState(accessEl, 'granted', `${user} · write on notes/${user}/** · renewed ${clock(grant.renewedAt)}`)
    else setState(accessEl, 'starting', `${user} · asking for a grant…`)
  }
  renderAccess()

  const node: MeshNode = await createMeshNode({
    // one database per user: their notes, and an identity (PeerId) and grants of their own
    dbName: `meshdoc-browser-app:${user}`,
    bootstrap: [config.gateway],
    grantSupport: grantSupport(),
    // asked at start, and again before the grant expires (with backoff when it fails)
    grantProvider: async (peerId) => {
      try {
        const token = await fetchGrant(peerId)
        grant.renewedAt = Date.now()
        grant.failure = undefined
        return token
      } catch (err) {
        grant.failure = (err as Error).message
        throw err
      } finally {
        renderAccess()
      }
    },
    // check the grants of the peers we sync with too: the gateway's, another browser's
    trust: { owners: [config.owner] },
    // browser to browser: opt in to WebRTC (without it: WebSockets to the gateway, and tabs over BroadcastChannel)
    webrtc: webrtc(),
    // come back quickly when the gateway returns (default backoff grows to 30 s)
    bootstrapBackoff: { minDelayMs: 500, maxDelayMs: 5_000 },
    antiEntropyIntervalMs: 10_000
  })
  const handle = await node.open(docId)
  const text = handle.doc.getText('notes')
  meEl.textContent = `${user} · you are ${short(node.peerId)} · doc "${docId}"`
  meEl.title = node.peerId

  const renderOnline = (): void => {
    const gw = node.peers.includes(gatewayPeer)
    if (!navigator.onLine) setState(onlineEl, 'offline', 'offline (the browser has no network)')
    else if (gw) setState(onlineEl, 'online', `online · gateway ${short(gatewayPeer)} connected`)
    else setState(onlineEl, 'offline', `offline · gateway ${short(gatewayPeer)} not connected (redialling)`)
  }
  const renderPeers = (): void => {
    const peers = node.peers
    if (peers.length === 0) { peersEl.textContent = 'none'; peersEl.title = ''; return }
    const stored = new Map(handle.status.peers.map(p => [p.peer, p.synced]))
    peersEl.textContent = `${peers.length}: ` + peers.map(p =>
      `${p === gatewayPeer ? 'gateway ' : ''}${short(p)}${stored.get(p) === true ? ' (in sync)' : ''}`).join(', ')
    peersEl.title = peers.join('\n')
  }
  const tracker = new EditTracker(handle, gatewayPeer, () => { renderSaved() })
  const renderSaved = (): void => {
    const error = tracker.error ?? tracker.refused
    if (error !== undefined) setState(savedEl, 'error', error)
    else if (tracker.edits === 0) setState(savedEl, 'idle', 'no edits yet')
    else if (tracker.stored >= tracker.edits) setState(savedEl, 'stored', 'saved locally · stored on the gateway')
    else if (tracker.saved >= tracker.edits) setState(savedEl, 'saved', 'saved locally · waiting for the gateway')
    else setState(savedEl, 'saving', 'saving…')
  }
  const render = (): void => { renderOnline(); renderPeers(); renderSaved(); renderAccess() }

  node.on('peer:connect', render)
  node.on('peer:disconnect', render)
  handle.on('status', (status) => {
    // in session with the gateway again (a new grant): no longer refused
    if (status.peers.some(p => p.peer === gatewayPeer)) {
      grant.refused = undefined
      tracker.resume()
    }
    render()
  })
  handle.on('denied', (peer, reason) => {
    if (peer === gatewayPeer) grant.refused = reason
    render()
  })
  handle.on('error', (err) => { tracker.error = err.message; renderSaved() })
  window.addEventListener('online', render)
  window.addEventListener('offline', render)

  editor.value = text.toString()
  text.observe((event) => { if (event.transaction.origin !== LOCAL) showRemote(event, text) })
  handle.doc.on('afterTransaction', (tr: Y.Transaction) => { if (tr.origin === LOCAL && tr.changed.size > 0) tracker.edited() })
  editor.addEventListener('input', () => { applyDiff(text, text.toString(), editor.value, editor.selectionEnd) })
  editor.disabled = false
  editor.focus()
  render()

  const app = { node, handle, text }
  ;(window as unknown as { meshdocApp: typeof app }).meshdocApp = app
  window.addEventListener('pagehide', () => { void node.stop() })
}

main().catch((err: Error) => {
  console.error(err)
  setState(onlineEl, 'error', `failed to start: ${err.message}`)
})
