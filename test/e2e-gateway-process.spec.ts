/**
 * Issue 16, test 1, with the gateway as an operator runs it: `meshdoc
 * gateway` in its own process (fs storage, fsync). Two members who are never
 * online together converge through it; a search of its whole data directory
 * and of a heap snapshot of its process finds none of a marker string
 * written into the encrypted doc. A control marker written into a doc in
 * clear through the same gateway is found by the same searches, so they can
 * fail. The gateway is then killed (SIGKILL) and restarted: what it
 * acknowledged is still there for a member who comes later.
 */
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { CliProcesses, freePort } from './helpers/cli-process.js'
import { filesContaining } from './helpers/files.js'
import { waitFor } from './helpers/mesh-nodes.js'

const SECRET = 'marker-okapi-5521'
const CONTROL = 'control-lynx-9034'

describe('encrypted docs through `meshdoc gateway` in its own process', function () {
  this.timeout(120_000)
  const cli = new CliProcesses()
  const nodes: MeshNode[] = []
  after(async () => {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await cli.killAll()
  })

  it('members converge through it; its data directory and heap hold no plaintext; it keeps what it acknowledged across a SIGKILL', async () => {
    const data = await cli.tempDir()
    const cwd = await cli.tempDir()
    const ports = { tcp: await freePort(), ws: await freePort() }
    const opts = { cwd, env: { NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' } }
    let gw = cli.gatewayAt(data, ports, [], opts)
    let { peerId, tcp } = await gw.ready()
    const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const member = async (key: typeof ka): Promise<MeshNode> => {
      const n = await createMeshNode({ privateKey: key, storage: new FsStorageAdapter(await cli.tempDir()) })
      nodes.push(n)
      await n.dial(tcp)
      await waitFor(() => n.peers.includes(peerId), { what: 'a session with the gateway' })
      return n
    }

    const a = await member(ka)
    const ha = await a.open('field/notes', { encrypted: { members: [{ peerId: peerIdFromPrivateKey(kb).toString(), access: 'write' }] } })
    for (let i = 0; i < 20; i++) ha.doc.getText('body').insert(ha.doc.getText('body').length, `${SECRET} line ${i}\n`)
    await ha.whenStored({ peer: peerId, timeout: 15_000 })
    // the control: a doc in clear through the same gateway
    const hc = await a.open('field/control')
    hc.doc.getText('body').insert(0, CONTROL)
    await hc.whenSynced({ peer: peerId, timeout: 15_000 })
    await a.stop()

    const b = await member(kb)
    const hb = await b.open('field/notes', { encrypted: true })
    await hb.whenReady({ timeout: 15_000 })
    await waitFor(() => hb.doc.getText('body').toString().includes(`${SECRET} line 19`), { what: 'A\'s lines at B', timeout: 15_000 })
    hb.doc.getText('body').insert(0, `B: ${SECRET}\n`)
    await hb.whenStored({ peer: peerId, timeout: 15_000 })
    await b.stop()

    // the searches: the data directory, and a heap snapshot of the running gateway
    assert.deepEqual(await filesContaining(data, SECRET), [], 'the encrypted doc\'s marker on the gateway\'s disk')
    assert.notDeepEqual(await filesContaining(data, CONTROL), [], 'the control marker is on its disk: the search works')
    gw.proc.kill('SIGUSR2')
    const snapshot = await waitForFile(cwd, /\.heapsnapshot$/)
    const heap = await readFile(join(cwd, snapshot))
    assert.equal(heap.includes(Buffer.from(SECRET)), false, 'the encrypted doc\'s marker in the gateway\'s heap')
    assert.equal(heap.includes(Buffer.from(CONTROL)), true, 'the control marker is in its heap: the search works')

    // SIGKILL and restart: a member who comes later still gets everything acknowledged
    await gw.kill()
    gw = cli.gatewayAt(data, ports, [], opts);
    ({ peerId, tcp } = await gw.ready())
    const a2 = await member(ka)
    const ha2 = await a2.open('field/notes', { encrypted: true })
    await waitFor(() => ha2.doc.getText('body').toString().startsWith(`B: ${SECRET}\n${SECRET} line 0`), {
      what: 'B\'s edit at A through the restarted gateway', timeout: 15_000, detail: () => ha2.doc.getText('body').toString().slice(0, 80)
    })
    assert.equal(ha2.doc.getText('body').toString().split('\n').filter(l => l.includes(SECRET)).length, 21)
  })
})

/** The name of the first file in `dir` matching `re` whose size stopped changing. */
async function waitForFile (dir: string, re: RegExp, timeout = 60_000): Promise<string> {
  const until = Date.now() + timeout
  let last = -1
  for (;;) {
    const name = (await readdir(dir)).find(n => re.test(n))
    if (name !== undefined) {
      const size = (await readFile(join(dir, name))).length
      if (size > 0 && size === last) return name
      last = size
    }
    if (Date.now() > until) throw new Error(`no ${re} in ${dir} within ${timeout} ms`)
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}
