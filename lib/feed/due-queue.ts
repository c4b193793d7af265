/**
 * Items waiting for a time: a binary min-heap on `due` (ms), so a webhook
 * with thousands of waiting docs keeps one timer, not one per doc. Items
 * with the same time come out in the order they went in.
 */
interface Entry<T> { due: number, seq: number, item: T }

export class DueQueue<T> {
  private readonly heap: Array<Entry<T>> = []
  private seq = 0

  push (item: T, due: number): void {
    const h = this.heap
    h.push({ due, seq: this.seq++, item })
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(h[i], h[parent])) break
      ;[h[i], h[parent]] = [h[parent], h[i]]
      i = parent
    }
  }

  /** The time of the earliest item, or undefined when empty. */
  get nextDue (): number | undefined {
    return this.heap[0]?.due
  }

  /** Take the earliest item if it is due at `now`. */
  popDue (now: number): T | undefined {
    const h = this.heap
    if (h.length === 0 || h[0].due > now) return undefined
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l], h[m])) m = l
        if (r < h.length && before(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top.item
  }

  clear (): void {
    this.heap.length = 0
  }
}

function before<T> (a: Entry<T>, b: Entry<T>): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq)
}
