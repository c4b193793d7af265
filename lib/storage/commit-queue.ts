/**
 * Group commit for storage adapters: operations run in the order they were
 * issued; writes that queue up while a commit is in flight (or are issued in
 * the same tick) are handed to the next commit together, so a burst costs one
 * fsync / one IndexedDB transaction instead of one per write. Reads wait for
 * the writes issued before them, so a reader always sees its own writes.
 */

interface WriteItem<W> { kind: 'write', op: W, size: number, resolve: () => void, reject: (err: unknown) => void }
interface ReadItem { kind: 'read' | 'exclusive', run: () => Promise<void> }
type Item<W> = WriteItem<W> | ReadItem

/** largest group handed to one commit, in bytes as reported by `write` */
const MAX_GROUP_BYTES = 8 * 1024 * 1024
/** largest group, in operations */
const MAX_GROUP_OPS = 4096

export class CommitQueue<W> {
  private readonly items: Array<Item<W>> = []
  private running = false
  private idleWaiters: Array<() => void> = []

  /** `commit` must make the whole group durable or throw; it is never called concurrently. */
  constructor (private readonly commit: (ops: W[]) => Promise<void>) {}

  /** Queue a write; resolves once the commit that carries it succeeded. */
  write (op: W, size = 0): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.items.push({ kind: 'write', op, size, resolve, reject })
      this.kick()
    })
  }

  /** Run `fn` after every write queued before it has settled (reads issued together run together). */
  read<T> (fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.items.push({ kind: 'read', run: async () => { try { resolve(await fn()) } catch (err) { reject(err) } } })
      this.kick()
    })
  }

  /** Run `fn` alone: after everything queued before it, before anything queued after it. */
  exclusive<T> (fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.items.push({ kind: 'exclusive', run: async () => { try { resolve(await fn()) } catch (err) { reject(err) } } })
      this.kick()
    })
  }

  /** Nothing queued and nothing running. */
  get idle (): boolean {
    return !this.running && this.items.length === 0
  }

  /** Resolves once the queue has drained. */
  async drained (): Promise<void> {
    if (this.idle) return
    await new Promise<void>(resolve => { this.idleWaiters.push(resolve) })
  }

  private kick (): void {
    if (this.running) return
    this.running = true
    // start on a microtask so writes issued in the same tick share a commit
    queueMicrotask(() => { void this.pump() })
  }

  private async pump (): Promise<void> {
    try {
      while (this.items.length > 0) {
        const head = this.items[0]
        if (head.kind === 'write') {
          await this.runWrites()
        } else if (head.kind === 'exclusive') {
          this.items.shift()
          await head.run()
        } else {
          await this.runReads()
        }
      }
    } finally {
      this.running = false
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }

  private async runReads (): Promise<void> {
    const group = [this.items.shift() as ReadItem]
    while (this.items.length > 0 && this.items[0].kind === 'read') {
      group.push(this.items.shift() as ReadItem)
    }
    await Promise.all(group.map(async r => { await r.run() }))
  }

  private async runWrites (): Promise<void> {
    const group: Array<WriteItem<W>> = []
    let bytes = 0
    while (this.items.length > 0 && this.items[0].kind === 'write' && group.length < MAX_GROUP_OPS) {
      const next = this.items[0] as WriteItem<W>
      if (group.length > 0 && bytes + next.size > MAX_GROUP_BYTES) break
      this.items.shift()
      group.push(next)
      bytes += next.size
    }
    try {
      await this.commit(group.map(g => g.op))
    } catch (err) {
      for (const g of group) g.reject(err)
      return
    }
    for (const g of group) g.resolve()
  }
}
