/**
 * TabChannel: the tabs of one browser app (same origin, same database) sync
 * with each other directly over a BroadcastChannel, online or offline, with
 * the same protocol they speak to any peer. Each tab is its own peer (its own
 * PeerId, see `identitySlot` in adapters/presets/browser.ts), so two tabs
 * never fight: each keeps its replica, both write the shared IndexedDB store
 * (whose compaction is safe with several writers, see docs/ARCHITECTURE.md),
 * and an edit in one tab shows up in the other without a round trip to a
 * gateway.
 *
 * Pairing: a tab announces itself with `hello`; every tab that hears it opens
 * a link and answers with a `hello` addressed to the newcomer. A tab that
 * leaves says `bye`; a tab that dies (crash, killed renderer) is noticed
 * through the Web Lock it held for its life, which the browser releases.
 * Tabs of one origin trust each other as much as the page trusts its own
 * code: the channel is not encrypted and never leaves the browser.
 */
import { logger } from '../../lib/log.js'
import type { PeerConnection, PeerLink } from '../../lib/sync/types.js'

const log = logger('tabs')

type Message =
  | { t: 'hello', from: string, to?: string }
  | { t: 'frame', from: string, to: string, body: Uint8Array }
  | { t: 'bye', from: string, to?: string }

/** What a TabChannel needs from the node: the engine's `addPeer`. */
export type AddPeer = (peerId: string, link: PeerLink) => PeerConnection

interface TabLink { link: PeerLink, conn: PeerConnection, watch: AbortController }

export class TabChannel {
  private readonly channel: BroadcastChannel
  private readonly links = new Map<string, TabLink>()
  private readonly life = new AbortController()
  private stopped = false

  /**
   * @param name the channel (and lock) namespace, e.g. `meshdoc:<dbName>`
   * @param self this tab's PeerId
   */
  constructor (private readonly name: string, private readonly self: string, private readonly addPeer: AddPeer) {
    this.channel = new BroadcastChannel(`${name}:tabs`)
    this.channel.onmessage = (evt: MessageEvent<Message>) => { this.onMessage(evt.data) }
  }

  /** Peers (other tabs) linked now. */
  get tabs (): string[] { return [...this.links.keys()] }

  async start (): Promise<void> {
    // hold a lock for as long as this tab lives: other tabs wait on it to learn we died
    const locks = globalThis.navigator?.locks
    if (locks !== undefined) {
      await new Promise<void>(resolve => {
        locks.request(this.lockName(this.self), { signal: this.life.signal }, async () => {
          resolve()
          await new Promise<void>(release => { this.life.signal.addEventListener('abort', () => { release() }) })
        }).catch(() => { resolve() })
      })
    }
    this.post({ t: 'hello', from: this.self })
  }

  stop (): void {
    if (this.stopped) return
    this.stopped = true
    this.post({ t: 'bye', from: this.self })
    for (const peer of [...this.links.keys()]) this.drop(peer)
    this.life.abort()
    this.channel.close()
  }

  private lockName (peer: string): string { return `${this.name}:tab:${peer}` }

  private post (msg: Message): void {
    if (this.stopped && msg.t !== 'bye') return
    try { this.channel.postMessage(msg) } catch (err) { log('post failed: %s', (err as Error).message) }
  }

  private onMessage (msg: Message): void {
    if (this.stopped || typeof msg !== 'object' || msg === null || msg.from === this.self) return
    if (msg.to !== undefined && msg.to !== this.self) return
    switch (msg.t) {
      case 'hello':
        // answer first: the answer must reach the newcomer before the HELLO
        // frame our link sends (one sender's messages arrive in order)
        if (msg.to === undefined) this.post({ t: 'hello', from: this.self, to: msg.from })
        if (!this.links.has(msg.from)) this.link(msg.from)
        break
      case 'frame':
        if (msg.body instanceof Uint8Array) this.links.get(msg.from)?.conn.receive(msg.body)
        break
      case 'bye':
        this.drop(msg.from)
        break
    }
  }

  private link (peer: string): void {
    log('linked to tab %s', peer)
    const watch = new AbortController()
    const link: PeerLink = {
      send: (body) => { this.post({ t: 'frame', from: this.self, to: peer, body }) },
      writable: true,
      close: () => {
        if (this.links.get(peer)?.link !== link) return
        this.post({ t: 'bye', from: this.self, to: peer })
        this.drop(peer)
      }
    }
    const entry: TabLink = { link, conn: this.addPeer(peer, link), watch }
    this.links.set(peer, entry)
    // the other tab's life lock is granted to us only once that tab is gone
    globalThis.navigator?.locks?.request(this.lockName(peer), { signal: watch.signal }, () => {
      if (this.links.get(peer) === entry) { log('tab %s is gone', peer); this.drop(peer) }
    }).catch(() => {})
  }

  private drop (peer: string): void {
    const entry = this.links.get(peer)
    if (entry === undefined) return
    this.links.delete(peer)
    entry.watch.abort()
    entry.conn.closed()
  }
}
