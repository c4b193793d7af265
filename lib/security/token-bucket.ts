/** A token bucket: `take(n)` fails once more than `burst` tokens are spent faster than `rate` per second refills them. */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor (private readonly rate: number, private readonly burst: number) {
    this.tokens = burst
    this.last = performance.now()
  }

  take (n: number): boolean {
    this.refill()
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }

  /** Spend `n` whatever is left: the bucket may go into debt, paid back at `rate`. */
  spend (n: number): void {
    this.refill()
    this.tokens -= n
  }

  /** Milliseconds until the bucket is out of debt (0: it is; a rate of 0 or less means no limit). */
  waitMs (): number {
    if (!(this.rate > 0)) return 0
    this.refill()
    return this.tokens > 0 ? 0 : Math.ceil((-this.tokens + 1) / this.rate * 1000)
  }

  private refill (): void {
    const t = performance.now()
    this.tokens = Math.min(this.burst, this.tokens + (t - this.last) / 1000 * this.rate)
    this.last = t
  }
}

/** PeerIds whose rate budgets are kept after they disconnect (`recentEntry`) */
export const MAX_REMEMBERED_PEERS = 4096

/**
 * The entry for `key` in `map`, made by `make` if there is none; the map keeps
 * the `max` most recently used keys (oldest forgotten first). Rate budgets
 * are kept per PeerId this way, so that reconnecting never refills them.
 */
export function recentEntry<K, V> (map: Map<K, V>, key: K, make: () => V, max = MAX_REMEMBERED_PEERS): V {
  const v = map.get(key) ?? make()
  setRecent(map, key, v, max)
  return v
}

/** Set `key` to `value` as the most recently used key of `map`, which keeps the `max` most recent (oldest forgotten first). */
export function setRecent<K, V> (map: Map<K, V>, key: K, value: V, max = MAX_REMEMBERED_PEERS): void {
  // most recent last
  map.delete(key)
  if (map.size >= max) map.delete(map.keys().next().value as K)
  map.set(key, value)
}
