/**
 * TEMPORARY: the Node entry moved to `adapters/presets/node.ts` (lib/ imports
 * no adapter). This re-export only keeps test/mesh-50.spec.ts, which still
 * imports `lib/index.js`, compiling until it imports
 * `adapters/presets/node.js`; then delete this file.
 */
export * from '../adapters/presets/node.js'
