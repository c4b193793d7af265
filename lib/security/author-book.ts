/**
 * The clientID-to-PeerId bindings of authorship (authorship.ts), kept in the
 * node's storage so that they outlive the document being unloaded and the
 * node restarting. Without it, a restarted gateway knew no bindings: the
 * first peer to write new structs under a clientID after the restart held
 * it, so a forger that got in before the owner's next write (and while the
 * owner was not in presence) could write as the owner, though the owner was
 * connected.
 *
 * A binding still counts only while its holder has a session on the doc (the
 * rules are authorship.ts's): what is kept is who holds what, not for how
 * long. One record per doc under `_meshdoc/authors/<doc key>`, written at
 * most every `flushIntervalMs` and when the node stops; a crash forgets at
 * most the bindings of the last interval. Bounded: at most
 * MAX_BINDINGS_PER_DOC per doc (the oldest go first) and MAX_BINDINGS in all
 * (the docs bound longest ago go first, from storage too). Node only: the
 * Node entry builds it, so browser bundles leave it out.
 */
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { logger } from '../log.js'
import type { StorageAdapter, StorageKey } from '../storage/types.js'

const log = logger('authors')

const PREFIX: StorageKey = ['_meshdoc', 'authors']
const RECORD_VERSION = 1
/** bindings kept per doc: each device session that edits binds one clientID (a new one per Y.Doc it opens) */
export const MAX_BINDINGS_PER_DOC = 4096
/** bindings kept in all, across docs */
export const MAX_BINDINGS = 250_000
/** a PeerId in a record is a string of at most this many bytes (an Ed25519 PeerId has 52; RSA ones are longer) */
const MAX_PEER_ID_BYTES = 256

/** One doc's bindings: a Map that tells the book when it changes. */
export class Bindings extends Map<number, string> {
  /** @internal */
  onChange: ((b: Bindings, grew: number) => void) | undefined

  override set (client: number, peer: string): this {
    if (super.get(client) === peer) return this
    let grew = super.has(client) ? 0 : 1
    // newest last: the oldest binding is the first to go
    super.delete(client)
    super.set(client, peer)
    if (this.size > MAX_BINDINGS_PER_DOC) {
      super.delete(this.keys().next().value as number)
      grew = 0
    }
    this.onChange?.(this, grew)
    return this
  }
}

export interface AuthorBookOptions {
  /** write changed bindings at most this often, in ms (default 1 s) */
  flushIntervalMs?: number
}

export class AuthorBook {
  /** by doc key (hex), the docs bound longest ago first */
  private readonly docs = new Map<string, Bindings>()
  private readonly dirty = new Set<string>()
  /** doc records to remove from storage (dropped past MAX_BINDINGS) */
  private readonly dropped = new Set<string>()
  private total = 0
  private readonly intervalMs: number
  private timer: ReturnType<typeof setTimeout> | undefined
  private flushing: Promise<void> = Promise.resolve()
  private closed = false
  /** PeerIds read from storage, shared (one string per peer, not one per binding) */
  private readonly peerIds = new Map<string, string>()

  constructor (private readonly storage: StorageAdapter, opts: AuthorBookOptions = {}) {
    this.intervalMs = opts.flushIntervalMs ?? 1000
  }

  /** Bindings written by earlier runs. A record that does not decode is skipped (and logged). */
  async load (): Promise<void> {
    for (const { key, data } of await this.storage.loadRange(PREFIX)) {
      const keyHex = key[PREFIX.length]
      try {
        if (key.length !== PREFIX.length + 1) throw new Error('unknown key')
        const d = decoding.createDecoder(data)
        if (decoding.readVarUint(d) !== RECORD_VERSION) throw new Error('unknown version')
        const n = decoding.readVarUint(d)
        if (n > MAX_BINDINGS_PER_DOC) throw new Error(`${n} bindings`)
        const b = this.bindingsFor(keyHex)
        for (let i = 0; i < n; i++) {
          const client = decoding.readVarUint(d)
          const peer = decoding.readVarString(d)
          if (peer.length === 0 || peer.length > MAX_PEER_ID_BYTES) throw new Error('a malformed PeerId')
          let shared = this.peerIds.get(peer)
          if (shared === undefined) this.peerIds.set(peer, shared = peer)
          Map.prototype.set.call(b, client, shared)
        }
        this.total += b.size
        this.trim()
      } catch (err) {
        log.error('skipping unreadable author bindings %s: %e', key.join('/'), err)
      }
    }
  }

  /** The bindings of the doc whose key is `keyHex`: the same Map each time, however often the doc is opened. */
  bindings (keyHex: string): Bindings {
    return this.bindingsFor(keyHex)
  }

  /** bindings kept, across docs */
  get size (): number {
    return this.total
  }

  private bindingsFor (keyHex: string): Bindings {
    let b = this.docs.get(keyHex)
    if (b === undefined) {
      b = new Bindings()
      b.onChange = (changed, grew) => { this.changed(keyHex, changed, grew) }
      this.docs.set(keyHex, b)
    }
    return b
  }

  private changed (keyHex: string, b: Bindings, grew: number): void {
    // most recently bound last
    this.docs.delete(keyHex)
    this.docs.set(keyHex, b)
    this.total += grew
    this.trim()
    this.dropped.delete(keyHex)
    this.dirty.add(keyHex)
    if (this.timer === undefined && !this.closed) {
      this.timer = setTimeout(() => { this.timer = undefined; void this.flush() }, this.intervalMs)
      // a pending write never keeps a process alive: close() writes it
      if (typeof this.timer === 'object' && 'unref' in this.timer) this.timer.unref()
    }
  }

  /** Past MAX_BINDINGS, forget the docs bound longest ago (their open registries keep working in memory). */
  private trim (): void {
    while (this.total > MAX_BINDINGS) {
      const [keyHex, b] = this.docs.entries().next().value as [string, Bindings]
      this.docs.delete(keyHex)
      this.total -= b.size
      b.onChange = undefined
      this.dirty.delete(keyHex)
      this.dropped.add(keyHex)
    }
  }

  /** Write every changed doc's bindings now. A failed write is logged and retried with the next. */
  async flush (): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const changed = [...this.dirty]
      const dropped = [...this.dropped]
      this.dirty.clear()
      this.dropped.clear()
      await Promise.all([
        ...changed.map(async keyHex => {
          const b = this.docs.get(keyHex)
          if (b === undefined) return
          const e = encoding.createEncoder()
          encoding.writeVarUint(e, RECORD_VERSION)
          encoding.writeVarUint(e, b.size)
          for (const [client, peer] of b) {
            encoding.writeVarUint(e, client)
            encoding.writeVarString(e, peer)
          }
          try {
            await this.storage.save([...PREFIX, keyHex], encoding.toUint8Array(e))
          } catch (err) {
            log.error('storing the author bindings of %s failed: %e', keyHex, err)
            this.dirty.add(keyHex)
          }
        }),
        ...dropped.map(async keyHex => {
          try {
            await this.storage.remove([...PREFIX, keyHex])
          } catch (err) {
            log.error('removing the author bindings of %s failed: %e', keyHex, err)
          }
        })
      ])
    })
    await this.flushing
  }

  /** Write what changed and stop (before the storage closes). Idempotent. */
  async close (): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.closed = true
    await this.flush()
  }
}
