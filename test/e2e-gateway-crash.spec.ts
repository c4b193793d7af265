/**
 * Issue 16, test 3: `meshdoc gateway` (blind: it holds no key) killed with
 * SIGKILL at random moments while a member writes an encrypted doc through
 * it, and restarted on the same data directory and port each time. An edit
 * counts as acknowledged when `whenStored({ peer: gateway })` resolved (the
 * gateway said STORED: on its disk). At the end the member goes offline and
 * a second member, who only ever talks to the last gateway, must find every
 * acknowledged edit.
 *
 * The kills run in MESHDOC_E2E_LANES lanes at once (default 4): each lane its
 * own gateway process (data directory, ports), members and seed, so that 200
 * kills fit in `npm test` (a gateway takes about 0.75 s to start; the lanes
 * overlap those starts on the machine's cores).
 *
 * MESHDOC_E2E_KILLS (default 200; `npm run test:e2e-crash`: 1,000),
 * MESHDOC_SEED to replay the kill times (lane i uses seed + i); a failure
 * names its seed and lane.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { CliProcesses, freePort, type GatewayProcess } from './helpers/cli-process.js'
import { seededRandom, testSeed, waitFor } from './helpers/mesh-nodes.js'

const KILLS = Number(process.env.MESHDOC_E2E_KILLS ?? 200)
const LANES = Math.max(1, Math.min(KILLS, Number(process.env.MESHDOC_E2E_LANES ?? 4)))
const DOC = 'plant/e2e-crash'

interface LaneResult { lane: number, seed: number, kills: number, edits: number, acked: number, atSecond: number, lost: number[] }

describe(`encrypted docs: a blind gateway killed (SIGKILL) ${KILLS} times while a member writes (${LANES} lanes)`, function () {
  this.timeout(60_000 + Math.ceil(KILLS / LANES) * 6_000)
  const cli = new CliProcesses()
  const nodes: MeshNode[] = []
  after(async () => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await cli.killAll()
  })

  /** One gateway killed `kills` times while member A writes through it; then member B reads what the last gateway holds. */
  async function lane (lane: number, kills: number, seed: number): Promise<LaneResult> {
    const rand = seededRandom(seed)
    const data = await cli.tempDir()
    const ports = { tcp: await freePort(), ws: await freePort() }
    const start = async (): Promise<{ gw: GatewayProcess, peerId: string, tcp: string }> => {
      const gw = cli.gatewayAt(data, ports)
      const { peerId, tcp } = await gw.ready()
      return { gw, peerId, tcp }
    }
    let { gw, peerId, tcp } = await start()
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const a = await createMeshNode({ privateKey: ka, storage: new FsStorageAdapter(await cli.tempDir()) })
    nodes.push(a)
    const connected = async (n: MeshNode): Promise<void> => {
      await waitFor(() => n.peers.includes(peerId), { what: `lane ${lane}: a session with the gateway (seed ${seed})`, timeout: 15_000 })
    }
    await a.dial(tcp)
    await connected(a)
    const h = await a.open(DOC, { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    const items = h.doc.getMap<number>('m')
    const acked = new Set<number>()
    let n = 0

    for (let k = 0; k < kills; k++) {
      // write for a random while, each edit waiting (briefly) for the gateway's STORED; then SIGKILL
      const until = Date.now() + 100 + rand() * 400
      const writes: Array<Promise<void>> = []
      while (Date.now() < until) {
        const i = n++
        items.set(`k${i}`, i)
        writes.push(h.whenStored({ peer: peerId, timeout: 5_000 }).then(() => { acked.add(i) }, () => {}))
        await new Promise(resolve => setTimeout(resolve, rand() * 20))
      }
      // an edit in flight when the gateway dies counts only if the restarted gateway later says it has it on disk
      await gw.kill()
      ;({ gw, peerId, tcp } = await start())
      await a.dial(tcp).catch(() => {})
      await connected(a)
      await Promise.allSettled(writes)
    }
    // the last writes acknowledged by the last gateway, then the member goes away
    items.set('last', -1)
    await h.whenStored({ peer: peerId, timeout: 15_000 })
    await a.stop()

    const b = await createMeshNode({ privateKey: kb, storage: new FsStorageAdapter(await cli.tempDir()) })
    nodes.push(b)
    await b.dial(tcp)
    await connected(b)
    const hb = await b.open(DOC, { encrypted: true })
    await hb.whenReady({ timeout: 15_000 })
    const m = hb.doc.getMap<number>('m')
    await waitFor(() => m.get('last') === -1, { what: `lane ${lane}: the last edit at the second member (seed ${seed})`, timeout: 30_000 })
    const lost = [...acked].filter(i => m.get(`k${i}`) !== i)
    await b.stop()
    await gw.kill()
    return { lane, seed, kills, edits: n, acked: acked.size, atSecond: m.size - 1, lost }
  }

  it('loses no acknowledged edit', async () => {
    const seed = testSeed()
    const per = Array.from({ length: LANES }, (_, i) => Math.floor(KILLS / LANES) + (i < KILLS % LANES ? 1 : 0))
    const results = await Promise.all(per.map(async (kills, i) => await lane(i, kills, seed + i)))
    const sum = (f: (r: LaneResult) => number): number => results.reduce((t, r) => t + f(r), 0)
    console.log(`      ${sum(r => r.kills)} SIGKILLs of the blind gateway in ${LANES} lanes; ${sum(r => r.edits)} edits, ${sum(r => r.acked)} acknowledged, ${sum(r => r.atSecond)} at the second members; ${sum(r => r.lost.length)} lost (seed ${seed})`)
    for (const r of results) {
      assert.deepEqual(r.lost.slice(0, 10), [], `lane ${r.lane}: ${r.lost.length} acknowledged edits lost (seed ${r.seed})`)
      assert.ok(r.acked > r.kills, `lane ${r.lane}: the member got edits acknowledged between kills (${r.acked}; seed ${r.seed})`)
    }
  })
})
