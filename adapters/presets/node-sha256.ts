/**
 * SHA-256 from node:crypto for delete-set digests and fingerprints: the same
 * bytes as the portable @noble/hashes one, with no cold-start cost in a fresh
 * process (docs/BENCHMARKS.md, "cold answers").
 */
import { createHash } from 'node:crypto'

export function nodeSha256 (data: Uint8Array): Uint8Array {
  const d = createHash('sha256').update(data).digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}
