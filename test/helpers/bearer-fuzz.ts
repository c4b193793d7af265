/**
 * Hostile bearer tokens for fuzzing (test/grants-bearer.spec.ts, the
 * bridge's in test/yws-bridge-bearer.spec.ts): from a valid `mdb1.` token,
 * truncated, bit-flipped and random envelopes, and random printable text.
 */
import { BEARER_PREFIX } from '../../lib/grants/grant.js'

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')

/** The `i`th hostile variant of `valid`, drawn with `rnd`. */
export function hostileBearer (valid: string, i: number, rnd: () => number): string {
  const raw = Buffer.from(valid.slice(BEARER_PREFIX.length), 'base64url')
  const kind = i % 5
  if (kind === 0) return BEARER_PREFIX + b64(raw.subarray(0, Math.floor(rnd() * raw.length)))
  if (kind === 1 || kind === 2) {
    const b = Buffer.from(raw)
    for (let f = 0; f < 1 + Math.floor(rnd() * 4); f++) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8)
    return BEARER_PREFIX + b64(b)
  }
  if (kind === 3) return BEARER_PREFIX + b64(new Uint8Array(Array.from({ length: Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 256))))
  return String.fromCharCode(...Array.from({ length: Math.floor(rnd() * 60) }, () => 32 + Math.floor(rnd() * 95)))
}
