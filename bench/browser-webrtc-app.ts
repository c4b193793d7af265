/**
 * What a browser app that opts in to WebRTC bundles: meshdoc's browser entry
 * and `meshdoc/webrtc` (with @libp2p/webrtc, an optional peer dependency of
 * meshdoc that only that module imports). Not run: bench/bundle-size.ts
 * bundles it to measure the WebRTC stack next to the WebSockets-only one.
 */
export * from '../adapters/presets/browser.js'
export { webrtc } from '../adapters/libp2p/webrtc.js'
