/**
 * `meshdoc gateway --policy` on a gateway, which serves documents by key and
 * sees a document it never opened by id as `key:<hex>`: a policy file that
 * would read differently for such a document is refused at start-up (exit 2,
 * nothing listens), a glob that can never match one is a warning, and exact
 * ids work (each also matches its key form).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { policyFromRules } from '../lib/policy/rules.js'
import { CliProcesses } from './helpers/cli-process.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { waitFor } from './helpers/mesh-nodes.js'

describe('meshdoc gateway --policy on a gateway that serves by key', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  let clients: MeshNode[] = []

  afterEach(async () => {
    const cs = clients
    clients = []
    await Promise.allSettled(cs.map(async c => { await c.stop() }))
    await cli.killAll()
  })

  async function policyFile (dir: string, policy: unknown): Promise<string> {
    const file = join(dir, 'policy.json')
    await writeFile(file, JSON.stringify(policy))
    return file
  }

  it('a deny glob before a broader grant ("secret/**" none, "**" read) is refused with a clear error, exit 2, and nothing starts', async () => {
    const dir = await cli.tempDir()
    const file = await policyFile(dir, { rules: [{ peers: '*', docs: 'secret/**', access: 'none' }, { peers: '*', docs: '**', access: 'read' }] })
    const r = await cli.run(['gateway', '--data', join(dir, 'data'), '--policy', file, '--listen', '/ip4/127.0.0.1/tcp/0', '--ws-port', 'none', '--admin', 'none'])
    assert.equal(r.code, 2, r.stderr)
    assert.equal(r.stdout, '')
    assert.ok(r.stderr.startsWith(`meshdoc gateway: policy file ${file}: rule 0 ("secret/**": none) never matches a document served by key (seen as key:<hex>), so such a document falls through to rule 1 ("**": read) and gets read access instead of none.`), r.stderr)
    assert.match(r.stderr, /name the documents such a rule covers by exact id \(an exact id also matches its key form\)/)
    assert.doesNotMatch(r.stderr, /listening on|gateway 12D3/, 'nothing was started')

    // the same through the config file's "policy" and in-process: the same error, before any identity is created
    const cfg = join(dir, 'gateway.json')
    await writeFile(cfg, JSON.stringify({ policy: 'policy.json', admin: 'none', listen: '/ip4/127.0.0.1/tcp/0', wsPort: 'none' }))
    const again = await runInProcess(['gateway', '--data', join(dir, 'data'), '--config', cfg])
    assert.equal(again.code, 2, again.stderr)
    assert.match(again.stderr, /policy file .*policy\.json: rule 0 \("secret\/\*\*": none\) never matches a document served by key/)
    assert.doesNotMatch(again.stderr, /created a new identity/)
  })

  it('a PeerId with a typo, in a policy file, in --allow or in the library\'s options, is an error naming it, not a rule that silently matches nobody', async () => {
    const dir = await cli.tempDir()
    const good = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const typo = good.slice(0, -1) + (good.endsWith('a') ? 'b' : 'a') + 'x'
    const file = await policyFile(dir, { rules: [{ peers: [good, typo], docs: '**', access: 'write' }] })
    const r = await runInProcess(['gateway', '--data', join(dir, 'data'), '--policy', file, '--listen', '/ip4/127.0.0.1/tcp/0', '--ws-port', 'none', '--admin', 'none'])
    assert.equal(r.code, 2, r.stderr)
    assert.ok(r.stderr.includes(`rule 0: "${typo}" is not a PeerId`), r.stderr)
    const allow = await runInProcess(['gateway', '--data', join(dir, 'data'), '--allow', good, '--allow', 'not-a-peer-id', '--listen', '/ip4/127.0.0.1/tcp/0', '--ws-port', 'none', '--admin', 'none'])
    assert.equal(allow.code, 2, allow.stderr)
    assert.match(allow.stderr, /--allow: "not-a-peer-id" is not a PeerId/)
    assert.throws(() => policyFromRules({ rules: [{ peers: ['12D3KooWtypo'], docs: '**', access: 'read' }] }), /rule 0: "12D3KooWtypo" is not a PeerId/)
    await assert.rejects(createMeshNode({ allowPeers: [good, 'QmNotReally'] }), /allowPeers: "QmNotReally" is not a PeerId/)
  })

  /** writer: everything; reader: "sensors/**" (a glob); everyone: not secret/plan (exact), public/notes and secret/other (exact) */
  async function fleetPolicy (dir: string): Promise<{ file: string, writerKey: PrivateKey, readerKey: PrivateKey }> {
    const writerKey = await generateKeyPair('Ed25519')
    const readerKey = await generateKeyPair('Ed25519')
    const file = await policyFile(dir, {
      default: 'none',
      rules: [
        { peers: [peerIdFromPrivateKey(writerKey).toString()], docs: '**', access: 'write' },
        { peers: [peerIdFromPrivateKey(readerKey).toString()], docs: 'sensors/**', access: 'read' },
        { peers: '*', docs: 'secret/plan', access: 'none' },
        { peers: '*', docs: ['public/notes', 'secret/other'], access: 'read' }
      ]
    })
    return { file, writerKey, readerKey }
  }

  it('a glob that grants access but never matches a document served by key is a start-up warning naming the rule', async () => {
    const dir = await cli.tempDir()
    const { file } = await fleetPolicy(dir)
    const gw = cli.gateway(join(dir, 'gw'), ['--policy', file])
    await gw.ready()
    assert.ok(gw.stderr.includes(`meshdoc: warning: policy file ${file}: rule 1 ("sensors/**": read) never matches a document served by key (seen as key:<hex>), only documents opened by id; list exact doc ids instead (each also matches its key form), or "**" for every document\n`), gw.stderr)
    assert.equal(gw.stderr.match(/warning: policy file/g)?.length, 1, 'only the glob that grants access is warned about')
    assert.deepEqual(await gw.stop('SIGTERM'), { code: 0, signal: null })
  })

  it('exact ids decide for documents served by key, as before: denied by exact id, readable by exact id', async () => {
    const dir = await cli.tempDir()
    const { file, writerKey, readerKey } = await fleetPolicy(dir)
    const gw = cli.gateway(join(dir, 'gw'), ['--policy', file])
    const { peerId, tcp } = await gw.ready()

    const start = async (privateKey: PrivateKey): Promise<MeshNode> => {
      const c = await createMeshNode({ privateKey, antiEntropyIntervalMs: 0 })
      clients.push(c)
      await c.dial(tcp)
      await waitFor(() => c.peers.includes(peerId), { what: 'a sync session with the gateway' })
      return c
    }
    const writer = await start(writerKey)
    for (const id of ['secret/plan', 'public/notes', 'sensors/dev-1']) {
      const h = await writer.open(id)
      h.doc.getText('t').insert(0, `in ${id}`)
      await h.whenSynced({ peer: peerId, timeout: 15_000 })
      await h.close()
    }
    await writer.stop()

    const reader = await start(readerKey)
    const denied = new Map<string, string>()
    for (const id of ['public/notes', 'secret/plan', 'sensors/dev-1']) {
      const h = await reader.open(id)
      h.on('denied', (_peer, reason) => { denied.set(id, reason) })
    }
    const text = async (id: string): Promise<string> => (await reader.open(id)).doc.getText('t').toString()
    await waitFor(() => denied.has('secret/plan') && denied.has('sensors/dev-1'), { what: 'DENIED for secret/plan and sensors/dev-1' })
    assert.equal(denied.get('secret/plan'), 'unavailable', 'denied by its exact id, served by key')
    assert.equal(denied.get('sensors/dev-1'), 'unavailable', 'the glob does not match a document served by key (as the warning says)')
    assert.equal(await text('secret/plan'), '')
    assert.equal(await text('sensors/dev-1'), '')
    const h = await reader.open('public/notes')
    await waitFor(() => h.doc.getText('t').toString() === 'in public/notes', { what: 'public/notes readable by its exact id' })
    assert.notEqual(denied.get('public/notes'), 'unavailable')
  })
})
