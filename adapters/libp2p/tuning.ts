/**
 * Noise and yamux as meshdoc's presets run them. Both are the stock modules
 * with per-connection changes that cut what each small frame costs (bench P2):
 * - Noise: one socket write per message (coalesce-writes.ts) and no exception
 *   per read (noise-reads.ts);
 * - yamux: window updates once half the window is used, not after every data
 *   frame (yamux-window.ts).
 * Apps that bring their own libp2p can use these in its config.
 */
import { noise, type NoiseInit } from '@chainsafe/libp2p-noise'
import { yamux, type YamuxMuxerInit } from '@chainsafe/libp2p-yamux'
import { coalesceWrites } from './coalesce-writes.js'
import { quietShortReads } from './noise-reads.js'
import { halfWindowUpdates } from './yamux-window.js'

/** `noise()` with one write per message and no exception per read. */
export function meshNoise (init?: NoiseInit): ReturnType<typeof noise> {
  return quietShortReads(coalesceWrites(noise(init)))
}

/**
 * `noise()` with one write per message, as the browser preset runs it: the
 * writes are what a gateway serving many browsers pays for (each one is a
 * WebSocket message it reads), while the exception per read costs only the
 * browser's own CPU, on a browser's few frames, so browser bundles leave
 * `quietShortReads` out.
 */
export function browserNoise (init?: NoiseInit): ReturnType<typeof noise> {
  return coalesceWrites(noise(init))
}

/** `yamux()` with window updates at half a window. */
export function meshYamux (init?: YamuxMuxerInit): ReturnType<typeof yamux> {
  return halfWindowUpdates(yamux(init))
}
