/**
 * Issue 16, test 4: compaction on a blind gateway. One member types 100,000
 * small edits (each its own transaction: inserts and deletes at random
 * places) into an encrypted doc, a second member online with it; members
 * seal snapshots on their own (every SNAPSHOT_EVERY envelopes or so), the
 * other attests each, and the gateway drops what an attested snapshot
 * covers. At the end the gateway's store for the doc (every record,
 * envelope and attestation it holds, live bytes) is within 2x the size of
 * one encrypted snapshot of the doc, and the second member holds exactly the
 * first's doc.
 *
 * MESHDOC_E2E_EDITS (default 100,000), MESHDOC_SEED replays the edits.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { decodeEnvelope } from '../lib/e2e/envelope.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { connect, NodePool, seededRandom, testSeed, waitFor } from './helpers/mesh-nodes.js'

const EDITS = Number(process.env.MESHDOC_E2E_EDITS ?? 100_000)
const DOC = 'notes/long-lived'

describe('encrypted docs: a blind gateway\'s store stays bounded by snapshots', function () {
  this.timeout(180_000)
  const pool = new NodePool()
  const dirs: string[] = []
  after(async () => {
    await pool.stopAll()
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  it(`after ${EDITS.toLocaleString('en')} small edits the gateway holds at most 2x one encrypted snapshot of the doc`, async () => {
    const seed = testSeed()
    const rand = seededRandom(seed)
    const dir = async (): Promise<string> => { const d = await mkdtemp(join(tmpdir(), 'meshdoc-e2e-compact-')); dirs.push(d); return d }
    const gwStore = new FsStorageAdapter(await dir())
    const gw = await pool.create({ storage: gwStore, serveAllDocs: true })
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const a = await pool.create({ privateKey: ka, storage: new FsStorageAdapter(await dir()) })
    const b = await pool.create({ privateKey: kb, storage: new FsStorageAdapter(await dir()) })
    for (const n of [a, b]) await connect(n, gw)
    const ha = await a.open(DOC, { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    const hb = await b.open(DOC, { encrypted: true })
    await hb.whenReady({ timeout: 10_000 })

    const text = ha.doc.getText('body')
    const t0 = performance.now()
    // a note rewritten over and over: about 2,000 characters live, inserts and deletes at random places, so that
    // what was written (the envelopes) grows with the edits while the doc does not
    for (let i = 0; i < EDITS; i++) {
      const len = text.length
      if (len > 2000 && rand() < 0.5) text.delete(Math.floor(rand() * (len - 5)), 1 + Math.floor(rand() * 4))
      else text.insert(Math.floor(rand() * (len + 1)), String.fromCharCode(97 + Math.floor(rand() * 26)))
      if (i % 50 === 49) await new Promise(resolve => setTimeout(resolve, 1))
    }
    await ha.whenStored({ peer: gw.peerId, timeout: 60_000 })
    // what the member sealed in all (its own envelopes, snapshots included): what the gateway would hold without compaction
    const written = a.stats.bytesOut
    await waitFor(() => hb.doc.getText('body').toString() === text.toString(), { timeout: 60_000, what: `B holds A's doc (seed ${seed})` })
    const typedMs = performance.now() - t0

    const bucket = `_e2e.${docKeyHex(docKeyFor(DOC))}`
    const measure = async (): Promise<{ live: number, envelopes: number, snapshots: number, newest: number, attestations: number }> => {
      const chunks = await gwStore.loadRange([bucket])
      let newest = 0
      let newestSeq = -1
      let snapshots = 0
      for (const c of chunks) {
        if (c.key[1] !== 'e') continue
        const env = decodeEnvelope(c.data)
        if (env.header.kind !== 'snapshot') continue
        snapshots++
        // the newest: the most covered
        const covered = env.header.cover.reduce((n, m) => n + m.seq, 0)
        if (covered > newestSeq) { newestSeq = covered; newest = c.data.length }
      }
      return { live: chunks.reduce((n, c) => n + c.data.length, 0), envelopes: chunks.filter(c => c.key[1] === 'e').length, snapshots, newest, attestations: chunks.filter(c => c.key[1] === 'a').length }
    }
    // one encrypted snapshot of the doc as it is: its plaintext is the whole doc, plus the envelope's header,
    // nonce, tag and signature (its cover names 2 writers)
    const snapshotSize = Y.encodeStateAsUpdate(ha.doc).length + 512
    // the last attestations may still be on their way
    let m = await measure()
    for (const until = Date.now() + 20_000; (m.snapshots === 0 || m.live > 2 * snapshotSize) && Date.now() < until;) {
      await new Promise(resolve => setTimeout(resolve, 200))
      m = await measure()
    }
    console.log(`      ${EDITS} edits in ${(typedMs / 1000).toFixed(1)} s; ${written} bytes of envelopes written in all; the gateway holds ${m.envelopes} envelopes (${m.snapshots} snapshot(s), the newest ${m.newest} bytes; ${m.attestations} attestation(s)), ` +
      `${m.live} live bytes; a snapshot of the doc now: ${snapshotSize} bytes; ratio ${(m.live / snapshotSize).toFixed(2)} (seed ${seed})`)
    // without compaction the gateway would hold about what was written: over the bound, so the bound shows compaction
    assert.ok(written > 2 * snapshotSize, `the edits wrote ${written} bytes of envelopes: not enough to need compaction (seed ${seed})`)
    assert.ok(m.snapshots >= 1, `no snapshot on the gateway (seed ${seed})`)
    assert.ok(m.live <= 2 * snapshotSize, `the gateway holds ${m.live} bytes for the doc, over 2x a snapshot of it (${snapshotSize}; seed ${seed})`)
    // the attestations of the snapshots dropped go with them (at most 4 kept per snapshot)
    assert.ok(m.attestations <= 4 * m.snapshots, `${m.attestations} attestations kept for ${m.snapshots} snapshot(s) (seed ${seed})`)
    assert.equal(hb.doc.getText('body').toString(), text.toString())
  })
})
