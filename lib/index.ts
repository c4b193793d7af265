/**
 * meshdoc: offline-first, peer-to-peer sync of Yjs documents over libp2p.
 *
 * ```ts
 * import { createMeshNode } from 'meshdoc'
 * const node = await createMeshNode({ listen: ['/ip4/127.0.0.1/tcp/0'] })
 * const handle = await node.open('notes/2026-11-22')
 * handle.doc.getText('body').insert(0, 'hello')
 * ```
 *
 * This is the Node.js entry; bundlers building for browsers resolve
 * `meshdoc` to `lib/browser.ts` (the `browser` export condition).
 */
export * from './core.js'
export { createMeshNode } from './node.js'
