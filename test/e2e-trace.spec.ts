/**
 * Issue 16, test 2: the concurrent trace `friendsforever` (two authors,
 * 26,078 transactions) replayed by two members of an encrypted doc whose
 * only link is a blind gateway (real libp2p, fs storage). Both replicas end
 * with exactly the trace's `endContent`; the method is the plaintext
 * replay's (test/helpers/trace-replay.ts). The editors type under each
 * member's own derived clientID (a member may write under no other).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { writerClientIds } from '../lib/e2e/admit.js'
import { ownRawKey } from '../lib/e2e/keys.js'
import { docKeyFor } from '../lib/protocol/doc-key.js'
import { findTrace, FRIENDSFOREVER_URL, loadConcurrentTrace, type ConcurrentTrace } from './helpers/editing-trace.js'
import { connect, NodePool } from './helpers/mesh-nodes.js'
import { replayTrace, type ReplayReplica } from './helpers/trace-replay.js'

const DOC = 'traces/friendsforever-e2e'

describe('replaying friendsforever through a blind gateway, end-to-end encrypted', function () {
  this.timeout(180_000)
  const pool = new NodePool()
  const dirs: string[] = []
  let trace: ConcurrentTrace | undefined

  before(function () {
    const path = findTrace(FRIENDSFOREVER_URL)
    if (path === undefined) throw new Error(`trace not found at ${FRIENDSFOREVER_URL.pathname}, in MESHDOC_TRACES nor in test/fixtures/traces`)
    trace = loadConcurrentTrace(path)
  })

  after(async () => {
    await pool.stopAll()
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  it('two members replay it through the gateway and both end with exactly endContent', async () => {
    const docKey = docKeyFor(DOC)
    const own = (k: PrivateKey): number => writerClientIds(ownRawKey(k), docKey)[0]
    // Yjs orders concurrent inserts at one place by clientID: endContent has agent 0's text first
    let [k0, k1] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    if (own(k0) > own(k1)) [k0, k1] = [k1, k0]
    const dir = async (): Promise<string> => { const d = await mkdtemp(join(tmpdir(), 'meshdoc-e2e-trace-')); dirs.push(d); return d }
    const gw = await pool.create({ storage: new FsStorageAdapter(await dir()), serveAllDocs: true })
    const nodes = [await pool.create({ privateKey: k0, storage: new FsStorageAdapter(await dir()) }), await pool.create({ privateKey: k1, storage: new FsStorageAdapter(await dir()) })]
    for (const n of nodes) await connect(n, gw)
    const h0 = await nodes[0].open(DOC, { encrypted: { members: [{ peerId: peerIdFromPrivateKey(k1).toString(), access: 'write' }] } })
    const h1 = await nodes[1].open(DOC, { encrypted: true })
    await h1.whenReady({ timeout: 10_000 })
    const handles = [h0, h1]
    const r = await replayTrace(trace!, [0, 1].map(agent => ({
      doc: handles[agent].doc,
      clientID: own([k0, k1][agent]),
      whenSynced: async () => { await handles[agent].whenStored({ peer: gw.peerId, timeout: 30_000 }) },
      describe: () => `rejected ${JSON.stringify(nodes[agent].stats.rejected)}, gateway rejected ${JSON.stringify(gw.stats.rejected)}`
    })) as [ReplayReplica, ReplayReplica])
    for (const n of [gw, ...nodes]) assert.deepEqual(Object.keys(n.stats.rejected).filter(k => k.startsWith('e2e_')), [], 'nothing refused anywhere')
    console.log(`      replayed ${trace!.txns.length} txns (${r.made[0]} + ${r.made[1]}) through a blind gateway in ${r.elapsedMs.toFixed(0)} ms; ${r.waits} waits for the network; ` +
      `frames out ${nodes[0].stats.framesOut} / ${nodes[1].stats.framesOut} / gateway ${gw.stats.framesOut}`)
  })
})
