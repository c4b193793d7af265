/**
 * Policy rules on a node that serves documents by key (a gateway): a doc it
 * never opened by id reaches the policy as `key:<hex>`. Rules whose answer for
 * such a doc could be more than for the same doc by id are refused; globs that
 * grant access but never match one are warned about; exact ids keep working.
 */
import assert from 'node:assert/strict'
import { checkRulesForKeyServing, KeyServingPolicyError, keyServingPolicyFromRules } from '../lib/policy/key-serving.js'
import { policyFromRules, type PolicyRules } from '../lib/policy/rules.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { createMeshNode } from '../adapters/presets/node.js'

/** PeerIds of the peers these rules name (policy rules take real PeerIds: a typo is an error) */
const ALICE = '12D3KooWJB9KSr4WmFYoHL9YEdGrvDFF5N7SwsK82eo8nx7r7LzP'
const BOB = '12D3KooWEYjm6UMnYfmzeRYA9bMuoPA9e9ncRU6gyFq43GJDhXs1'
const MALLORY = '12D3KooWAHzSMie55RahGy4S3LLMT5RKDUNjxVVQdJudrEv712xJ'
const GW = '12D3KooW9tBv7aNBpkBqCHsEVaoj7pSNJZzfKMcyju481g4qntan'
const WRITER = '12D3KooWF77E18v3KjNkis7KrMJqHPLQTVR1bGzucMbGhqYeNPzq'
const DASHBOARD = '12D3KooWKCRo5GhnbiT2mHmTnxpjigjGMqDMhhyAb4zgw3sbn34v'
const SENSOR = '12D3KooWBSeaqHF64dgbtrgESoJ5Rw3Rmi89aQZ6XKX6wyfveXMQ'

const keyOf = (docId: string, meshKey?: string): string =>
  `key:${docKeyHex(docKeyFor(docId, meshKey !== undefined ? new TextEncoder().encode(meshKey) : undefined))}`

function refused (config: PolicyRules): KeyServingPolicyError {
  try {
    keyServingPolicyFromRules(config)
  } catch (err) {
    assert.ok(err instanceof KeyServingPolicyError, String(err))
    return err
  }
  assert.fail(`not refused: ${JSON.stringify(config)}`)
}

describe('policy rules on a node that serves documents by key', () => {
  it('a deny glob followed by a broader grant is refused: it would give secret/ documents served by key to anyone', () => {
    const config: PolicyRules = { rules: [{ peers: '*', docs: 'secret/**', access: 'none' }, { peers: '*', docs: '**', access: 'read' }] }
    // the hole, as it is without the option: by id the doc is denied, by key it is readable
    const plain = policyFromRules(config)
    assert.equal(plain('anyone', 'secret/plan'), 'none')
    assert.equal(plain('anyone', keyOf('secret/plan')), 'read')

    const err = refused(config)
    assert.match(err.message, /rule 0 \("secret\/\*\*": none\) never matches a document served by key \(seen as key:<hex>\), so such a document falls through to rule 1 \("\*\*": read\) and gets read access instead of none/)
    assert.match(err.message, /name the documents such a rule covers by exact id/)
    assert.equal(err.problems.length, 1)
  })

  it('the other shapes of the same hole are refused too', () => {
    // a deny glob, then a default that grants
    assert.match(refused({ default: 'read', rules: [{ peers: '*', docs: 'secret/**', access: 'none' }] }).message,
      /rule 0 .* falls through to the default \(read\)/)
    // a read-only glob, then write for everything: key forms would be writable
    assert.match(refused({ rules: [{ peers: '*', docs: 'archive/**', access: 'read' }, { peers: '*', docs: '**', access: 'write' }] }).message,
      /gets write access instead of read/)
    // "*" (one segment) matches every key form, "key:<hex>" has no "/": it would grant a/b by key
    assert.match(refused({ default: 'none', rules: [{ peers: '*', docs: '*', access: 'read' }] }).message,
      /rule 0 \("\*": read\) also matches documents served by key/)
    assert.match(refused({ rules: [{ peers: '*', docs: '*', access: 'write' }, { peers: '*', docs: 'secret/**', access: 'none' }] }).message,
      /gives write access to documents that rule 1 \("secret\/\*\*": none\) gives none/)
    // a deny glob for one peer, a grant for everyone after it: that peer's class is refused
    assert.match(refused({ rules: [{ peers: [MALLORY], docs: 'secret/**', access: 'none' }, { peers: '*', docs: '**', access: 'read' }] }).message,
      /rule 0 .* falls through to rule 1/)
  })

  it('rules that read the same for a doc served by key are accepted', () => {
    const ok = (config: PolicyRules): void => {
      assert.deepEqual(checkRulesForKeyServing(config).refused, [], JSON.stringify(config))
      keyServingPolicyFromRules(config)
    }
    // exact ids: they also match their key form
    ok({ rules: [{ peers: '*', docs: ['secret/plan', 'secret/keys'], access: 'none' }, { peers: '*', docs: '**', access: 'read' }] })
    // a glob that only ever narrows further: default none after a read glob
    ok({ default: 'none', rules: [{ peers: '*', docs: 'public/**', access: 'read' }] })
    // rules for disjoint peers do not meet
    ok({ rules: [{ peers: [ALICE], docs: 'secret/**', access: 'none' }, { peers: [BOB], docs: '**', access: 'read' }] })
    // a deny glob after "**" is never reached
    ok({ rules: [{ peers: '*', docs: '**', access: 'read' }, { peers: '*', docs: 'secret/**', access: 'none' }] })
    // "key:*" names documents served by key on purpose
    ok({ default: 'none', rules: [{ peers: [GW], docs: '**', access: 'write' }, { peers: '*', docs: 'key:*', access: 'read' }] })
  })

  it('exact ids match their key form (with the mesh key) and a deny by exact id holds for a doc served by key', () => {
    const policy = keyServingPolicyFromRules({
      default: 'none',
      rules: [
        { peers: '*', docs: 'secret/plan', access: 'none' },
        { peers: [WRITER], docs: 'notes/today', access: 'write' },
        { peers: '*', docs: '**', access: 'read' }
      ]
    }, { meshKey: 'fleet secret' })
    assert.equal(policy('anyone', keyOf('secret/plan', 'fleet secret')), 'none')
    assert.equal(policy('anyone', keyOf('secret/other', 'fleet secret')), 'read')
    assert.equal(policy(WRITER, keyOf('notes/today', 'fleet secret')), 'write')
    assert.equal(policy(WRITER, keyOf('notes/today')), 'read', 'the key form depends on the mesh key')
    assert.equal(policy('anyone', 'secret/plan'), 'none', 'by id, as before')
  })

  it('a glob that grants access but can never match a doc served by key is a warning that says what works', () => {
    const warnings: string[] = []
    const policy = keyServingPolicyFromRules({
      default: 'none',
      rules: [
        { peers: [DASHBOARD], docs: ['sensors/dev-1', 'public/**'], access: 'read' },
        { peers: [SENSOR], docs: 'sensors/*', access: 'write' },
        { peers: '*', docs: 'trash/**', access: 'none' }
      ]
    }, { warn: w => warnings.push(w) })
    assert.deepEqual(warnings, [
      'rule 0 ("public/**": read) never matches a document served by key (seen as key:<hex>), only documents opened by id; list exact doc ids instead (each also matches its key form), or "**" for every document',
      'rule 1 ("sensors/*": write) never matches a document served by key (seen as key:<hex>), only documents opened by id; list exact doc ids instead (each also matches its key form), or "**" for every document'
    ])
    assert.equal(policy(DASHBOARD, keyOf('sensors/dev-1')), 'read')
    assert.equal(policy(DASHBOARD, 'public/x'), 'read', 'documents opened by id still match the glob')
    assert.deepEqual(checkRulesForKeyServing({ rules: [{ peers: '*', docs: '**', access: 'write' }] }), { refused: [], warnings: [] })
  })

  it('no silent failure by default: warnings go to console.warn, and a node serving by key warns of a policyFromRules policy that cannot match there', async () => {
    const printed: string[] = []
    const original = console.warn
    console.warn = (...args: unknown[]) => { printed.push(args.join(' ')) }
    const nodes: Array<{ stop: () => Promise<void> }> = []
    try {
      keyServingPolicyFromRules({ rules: [{ peers: [SENSOR], docs: 'sensors/*', access: 'write' }] })
      assert.equal(printed.length, 1)
      assert.match(printed[0], /^meshdoc: warning: rule 0 \("sensors\/\*": write\) never matches a document served by key/)

      printed.length = 0
      const rules: PolicyRules = { default: 'none', rules: [{ peers: [SENSOR], docs: ['sensors/dev-1'], access: 'write' }, { peers: '*', docs: '**', access: 'read' }] }
      nodes.push(await createMeshNode({ serveAllDocs: true, policy: policyFromRules(rules) }))
      assert.equal(printed.length, 1, printed.join('\n'))
      assert.match(printed[0], /^meshdoc: warning: with serveAllDocs, .*rule 0 \("sensors\/dev-1"\) never grant access to them; make the policy with keyServingPolicyFromRules/)
      printed.length = 0
      nodes.push(await createMeshNode({ serveAllDocs: true, policy: keyServingPolicyFromRules(rules) }))
      nodes.push(await createMeshNode({ policy: policyFromRules(rules) })) // opens by id only: the rules fit
      nodes.push(await createMeshNode({ serveAllDocs: true, policy: () => 'read' })) // the app's own function
      // a deny by id that docs served by key slip past (to the default, or a "**" grant) starts nothing
      for (const leaky of [
        { default: 'read' as const, rules: [{ peers: '*' as const, docs: ['private/report', 'secret/**'], access: 'none' as const }] },
        { default: 'none' as const, rules: [{ peers: '*' as const, docs: 'secret/**', access: 'none' as const }, { peers: '*' as const, docs: '**', access: 'write' as const }] }
      ]) {
        await assert.rejects(createMeshNode({ serveAllDocs: true, policy: policyFromRules(leaky) }), (err: Error) =>
          err instanceof KeyServingPolicyError && /rule 0 \("(private\/report|secret\/\*\*)"\).* never deny them/.test(err.message))
      }
      // a deny under a "none" default changes nothing for docs served by key: fine
      nodes.push(await createMeshNode({ serveAllDocs: true, policy: policyFromRules({ default: 'none', rules: [{ peers: '*', docs: 'secret/**', access: 'none' }] }) }))
      assert.deepEqual(printed, [])
    } finally {
      console.warn = original
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  })

  it('"**" in a rule covers ids with line breaks too: a deny is not slipped past with one', () => {
    const policy = policyFromRules({ default: 'write', rules: [{ peers: '*', docs: 'secret/**', access: 'none' }] })
    for (const id of ['secret/a', 'secret/a\nb', 'secret/\u2028', 'secret/x\r\ny']) assert.equal(policy(SENSOR, id), 'none', JSON.stringify(id))
    assert.equal(policy(SENSOR, 'public/a\nb'), 'write')
  })
})
