/** A token bucket: `take(n)` fails once more than `burst` tokens are spent faster than `rate` per second refills them. */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor (private readonly rate: number, private readonly burst: number, private readonly now: () => number = () => performance.now()) {
    this.tokens = burst
    this.last = now()
  }

  take (n: number): boolean {
    const t = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (t - this.last) / 1000 * this.rate)
    this.last = t
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }
}
