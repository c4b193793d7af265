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
 * This is the Node.js entry (built to `dist/index.js`): `createMeshNode` on
 * the Node preset, libp2p over TCP and WebSockets (listening as well as
 * dialling), optional mDNS and circuit-relay server, and node:crypto's
 * SHA-256. Bundlers building for browsers resolve `meshdoc` to
 * `adapters/presets/browser.ts` (the `browser` export condition).
 */
import type { Stream } from '@libp2p/interface'
import { startMeshNode, type MeshNetwork, type MeshNetworkInput, type MeshNodeOptions, type PlatformPreset, type StartOptions } from '../../lib/mesh-node.js'
import { WatchedStreamLink } from '../libp2p/stall-watch.js'
import type { ReceiveProgress } from '../libp2p/stream-link.js'
import { nodeLibp2pPreset } from '../libp2p/create-libp2p.js'
import { libp2pNetwork } from '../libp2p/network.js'
import { AnswerDialer } from '../libp2p/answer-dialer.js'
import { nodeSha256 } from './node-sha256.js'
import { nodeE2ePrimitives } from './node-e2e-primitives.js'
import { PendingCharges } from '../../lib/security/pending-charges.js'
import { addsNothing } from '../../lib/security/read-only.js'
import { checkPeerIds } from '../../lib/policy/rules.js'
import { serveByKey } from '../../lib/serving-repo.js'
import { QuotaLedger } from '../../lib/security/quota.js'
import { AuthorBook } from '../../lib/security/author-book.js'
import { closingFirst } from '../../lib/storage/close-first.js'
import { MemoryStorageAdapter } from '../../lib/storage/memory-adapter.js'
import { DocNames, readDocNames } from '../../lib/storage/doc-names.js'
import { ChangeFeed } from '../../lib/feed/change-feed.js'
import { authorRegistries } from '../../lib/security/authorship.js'
import { flatStructWriter } from '../../lib/yjs/flat-struct-writer.js'

export * from '../../lib/core.js'
// in browsers: `meshdoc/adapters/memory-storage`
export { MemoryStorageAdapter } from '../../lib/storage/memory-adapter.js'
// policy rules (glob files, the gateway's config); a browser passes a policy function
export { policyFromRules } from '../../lib/policy/rules.js'
// grants: made and checked offline; a node checks them with `trust` and presents its own (`grants`, `grantProvider`)
export { issueGrant, verifyGrant, decodeGrant, grantAllows, GrantError, GRANT_LIMITS, BEARER_PREFIX, CLOCK_SKEW_MS, type Grant, type GrantFields, type GrantAccess, type GrantRefusal, type IssueGrantOptions, type VerifyGrantOptions } from '../../lib/grants/grant.js'
export { revokeGrant, verifyRevocation, revocationBytes, type Revocation, type RevokeOptions } from '../../lib/grants/revocation.js'
export type { GrantRefused } from '../../lib/grants/grant-exchange.js'
export { grantSupport } from '../../lib/grants/support.js'
import { grantSupport } from '../../lib/grants/support.js'
import { e2eSupport } from '../../lib/e2e/support.js'
import { NodeMeshNode } from '../../lib/e2e/node.js'
export { NodeMeshNode } from '../../lib/e2e/node.js'
// bearer tokens: a grant its audience signed over, for clients that cannot prove their PeerId (y-websocket); Node only
export { issueBearer, verifyBearer, decodeBearer, BEARER_LIMITS, type Bearer, type IssueBearerOptions, type VerifyBearerOptions } from '../../lib/grants/bearer.js'
import { verifyBearer } from '../../lib/grants/bearer.js'
// gateways only (a browser never serves docs by key): kept out of the browser entry
export { keyServingPolicyFromRules, checkRulesForKeyServing, KeyServingPolicyError, type KeyServingPolicyOptions, type KeyServingCheck } from '../../lib/policy/key-serving.js'
import { KeyServingPolicyError, keyServingProblems } from '../../lib/policy/key-serving.js'

/** links that close a peer which reads nothing, after the node's `limits.writeStallMs` */
function nodeNetwork (input: MeshNetworkInput): MeshNetwork {
  const stallMs = input.options.limits?.writeStallMs
  return libp2pNetwork(input, class extends WatchedStreamLink {
    constructor (stream: Stream, maxFrameBytes: number, onProgress?: ReceiveProgress) { super(stream, maxFrameBytes, onProgress, stallMs) }
  }, AnswerDialer)
}

const nodePreset: PlatformPreset = {
  libp2p: nodeLibp2pPreset,
  network: nodeNetwork,
  sha256: nodeSha256,
  serving: (opts) => opts.serveAllDocs === true ? serveByKey() : undefined,
  grants: grantSupport({ bearer: verifyBearer }),
  e2e: e2eSupport({ primitives: nodeE2ePrimitives }),
  Node: NodeMeshNode
}

/** The oldest Node.js meshdoc runs on: libp2p 3 needs 22 (on 20 it imports, then every connection fails). */
const MIN_NODE_MAJOR = 22

/** Throw one clear error on a Node.js too old for meshdoc, instead of failing every connection later. */
function assertSupportedNode (version = process.versions.node): void {
  const major = Number(version.split('.')[0])
  if (major < MIN_NODE_MAJOR) {
    throw new Error(`meshdoc needs Node.js ${MIN_NODE_MAJOR} or newer (libp2p 3 does); this is Node ${version}. Install Node.js ${MIN_NODE_MAJOR} or newer (https://nodejs.org/, or nvm install ${MIN_NODE_MAJOR})`)
  }
}

/** Create and start a meshdoc node. */
export async function createMeshNode (opts: MeshNodeOptions = {}): Promise<NodeMeshNode> {
  assertSupportedNode()
  if (opts.allowPeers !== undefined) checkPeerIds(opts.allowPeers, 'allowPeers')
  // rules that can never match on a node serving by key: said at start-up, not found out later
  if (opts.serveAllDocs === true && opts.policy !== undefined) {
    const { refused, warnings } = keyServingProblems(opts.policy)
    if (refused.length > 0) throw new KeyServingPolicyError(refused)
    for (const w of warnings) console.warn(`meshdoc: warning: ${w}`)
  }
  const given = opts.storage ?? new MemoryStorageAdapter()
  // the Node entry's own engine parts: authorship, the flat V1 writer for cold answers (browsers use Yjs'),
  // closing the peer that fills a doc's pending structs, and acknowledging a reader's answers that add nothing
  const engine: NonNullable<StartOptions['engine']> = { structWriter: flatStructWriter, pendingCharges: new PendingCharges(), addsNothing }
  // what lives in the node's storage and is written when it closes: author bindings, the write quota ledger
  const closeFirst: Array<() => Promise<void>> = []
  if (opts.authorship !== undefined) {
    const book = new AuthorBook(given)
    await book.load()
    engine.authors = authorRegistries(opts.authorship, book)
    closeFirst.push(async () => { await book.close() })
  }
  if (opts.quota !== undefined) {
    const ledger = new QuotaLedger(opts.quota, given)
    await ledger.load()
    engine.quota = ledger
    closeFirst.push(async () => { await ledger.close() })
  }
  // the ids of docs opened by id are kept in storage, for `meshdoc ls`
  const names = opts.keepDocIds !== false ? { names: new DocNames(given) } : {}
  // the `change` event; a gateway names the docs it serves by key from the ids its store keeps
  const feed = new ChangeFeed(opts.serveAllDocs === true ? await readDocNames(given) : undefined)
  // the Node preset's class (`Node`): it opens encrypted docs
  const node = await startMeshNode({ ...opts, storage: closingFirst(given, closeFirst) }, nodePreset, { engine, repo: { ...names, opened: feed.opened } }) as NodeMeshNode
  feed.attach(node)
  return node
}
