/**
 * What a browser app that opts in to encrypted documents bundles: meshdoc's
 * browser entry and `meshdoc/e2e`. Not run: bench/bundle-size.ts bundles it
 * to measure what encrypted documents add to a browser app.
 */
export * from '../adapters/presets/browser.js'
export { encryptedDocs } from '../lib/e2e/entry.js'
