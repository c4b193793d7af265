/**
 * Issue 16, test 3: `meshdoc gateway` (blind: it holds no key) killed with
 * SIGKILL at random moments while a member writes an encrypted doc through
 * it, and restarted on the same data directory and port each time. An edit
 * counts as acknowledged when `whenStored({ peer: gateway })` resolved (the
 * gateway said STORED: on its disk). At the end the member goes offline and
 * a second member, who only ever talks to the last gateway, must find every
 * acknowledged edit.
 *
 * MESHDOC_E2E_KILLS (default 20 in `npm test`; `npm run test:e2e-crash`: 200),
 * MESHDOC_SEED to replay the kill times; a failure names its seed.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { CliProcesses, freePort, type GatewayProcess } from './helpers/cli-process.js'
import { seededRandom, testSeed, waitFor } from './helpers/mesh-nodes.js'

const KILLS = Number(process.env.MESHDOC_E2E_KILLS ?? 20)
const DOC = 'plant/e2e-crash'

describe(`encrypted docs: a blind gateway killed (SIGKILL) ${KILLS} times while a member writes`, function () {
  this.timeout(60_000 + KILLS * 5_000)
  const cli = new CliProcesses()
  const nodes: MeshNode[] = []
  after(async () => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await cli.killAll()
  })

  it('loses no acknowledged edit', async () => {
    const seed = testSeed()
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
      await waitFor(() => n.peers.includes(peerId), { what: 'a session with the gateway', timeout: 15_000 })
    }
    await a.dial(tcp)
    await connected(a)
    const h = await a.open(DOC, { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    const items = h.doc.getMap<number>('m')
    const acked = new Set<number>()
    let n = 0

    for (let k = 0; k < KILLS; k++) {
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
    await waitFor(() => m.get('last') === -1, { what: `the last edit at the second member (seed ${seed})`, timeout: 30_000 })
    const lost = [...acked].filter(i => m.get(`k${i}`) !== i)
    console.log(`      ${KILLS} SIGKILLs of the blind gateway; ${n} edits, ${acked.size} acknowledged, ${m.size - 1} at the second member; ${lost.length} lost (seed ${seed})`)
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged edits lost (seed ${seed})`)
    assert.ok(acked.size > KILLS, `the member got edits acknowledged between kills (${acked.size}; seed ${seed})`)
  })
})
