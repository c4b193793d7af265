/** Small statistics helpers: medians and percentiles over plain number arrays. */

export function percentile (xs: number[], p: number): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const rank = (p / 100) * (v.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return v[lo] + (v[hi] - v[lo]) * (rank - lo)
}

export const median = (xs: number[]): number => percentile(xs, 50)

/** Median of one numeric field over runs (ignores runs lacking it). */
export function medianOf<T> (runs: T[], f: (r: T) => number | undefined): number {
  return median(runs.map(f).filter((x): x is number => typeof x === 'number'))
}
