/** A token bucket: `take(n)` fails once more than `burst` tokens are spent faster than `rate` per second refills them. */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor (private readonly rate: number, private readonly burst: number, private readonly now: () => number = () => performance.now()) {
    this.tokens = burst
    this.last = now()
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
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (t - this.last) / 1000 * this.rate)
    this.last = t
  }
}
