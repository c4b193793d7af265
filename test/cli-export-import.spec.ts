/**
 * `meshdoc import` and `meshdoc export`: a Yjs update goes in, the same
 * document comes out as JSON (every root type, typed by its content) and as
 * update bytes; bad input changes nothing and exits 1.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as Y from 'yjs'
import { CliProcesses } from './helpers/cli-process.js'
import { runInProcess } from './helpers/cli-inprocess.js'
import { sameState } from './helpers/mesh-nodes.js'

/** A document with one of each kind of root type, some of it deleted. */
function sampleDoc (): { doc: Y.Doc, json: Record<string, unknown> } {
  const doc = new Y.Doc()
  doc.getText('body').insert(0, 'hello, brave new world')
  doc.getText('body').delete(5, 7) // minus ", brave"
  const meta = doc.getMap('meta')
  meta.set('title', 'notes')
  const nested = new Y.Map()
  nested.set('n', 3)
  meta.set('nested', nested)
  doc.getArray('list').push(['a', 1, { deep: [true, null] }])
  const frag = doc.getXmlFragment('xml')
  const p = new Y.XmlElement('p')
  p.insert(0, [new Y.XmlText('para')])
  frag.insert(0, [p])
  doc.getArray('emptied').push([1])
  doc.getArray('emptied').delete(0, 1)
  return {
    doc,
    json: {
      body: 'hello new world',
      emptied: [],
      list: ['a', 1, { deep: [true, null] }],
      meta: { title: 'notes', nested: { n: 3 } },
      xml: '<p>para</p>'
    }
  }
}

describe('meshdoc export / import', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  afterEach(async () => { await cli.killAll() })

  it('round trip through real processes: import an update, export it as JSON and as an update', async () => {
    const dir = await cli.tempDir()
    const data = join(dir, 'data')
    const { doc, json } = sampleDoc()
    const file = join(dir, 'in.yjs')
    await writeFile(file, Y.encodeStateAsUpdate(doc))

    const imp = await cli.run(['import', 'notes/round-trip', file, '--data', data])
    assert.equal(imp.code, 0, imp.stderr)
    assert.equal(imp.stdout, '')
    assert.match(imp.stderr, /^meshdoc: imported .* from .*in\.yjs into notes\/round-trip \(state vector \+\d+\), saved$/m)
    // eslint-disable-next-line no-control-regex -- the progress bar's ESC [K (erase line) is what is tested
    assert.doesNotMatch(imp.stderr, /\r|\x1b\[/, 'no progress bar when stderr is not a terminal')

    const out = join(dir, 'out.yjs')
    const [asJson, toFile, toPipe] = await Promise.all([
      cli.run(['export', 'notes/round-trip', '--data', data]),
      cli.run(['export', 'notes/round-trip', '--data', data, '--update', '--out', out]),
      cli.run(['export', 'notes/round-trip', '--data', data, '--update'])
    ])
    assert.equal(asJson.code, 0, asJson.stderr)
    assert.deepEqual(JSON.parse(asJson.stdout), json)
    assert.equal(toFile.code, 0, toFile.stderr)
    const fromFile = new Y.Doc()
    Y.applyUpdate(fromFile, await readFile(out))
    assert.ok(sameState(fromFile, doc), 'export --update --out holds the whole document')
    assert.equal(toPipe.code, 0, toPipe.stderr)
    const fromPipe = new Y.Doc()
    Y.applyUpdate(fromPipe, new Uint8Array(toPipe.stdoutBytes))
    assert.ok(sameState(fromPipe, doc), 'export --update to a pipe holds the whole document')
  })

  it('importing twice is harmless, and a second update merges into the document', async () => {
    const dir = await cli.tempDir()
    const { doc } = sampleDoc()
    const first = Y.encodeStateAsUpdate(doc)
    const sv = Y.encodeStateVector(doc)
    doc.getArray('list').push(['more'])
    const second = Y.encodeStateAsUpdate(doc, sv)
    await writeFile(join(dir, '1.yjs'), first)
    await writeFile(join(dir, '2.yjs'), second)
    for (const f of ['1.yjs', '1.yjs', '2.yjs']) {
      const r = await runInProcess(['import', 'd', join(dir, f), '--data', dir])
      assert.equal(r.code, 0, r.stderr)
    }
    const r = await runInProcess(['export', 'd', '--data', dir])
    assert.deepEqual((JSON.parse(r.stdout) as { list: unknown[] }).list, ['a', 1, { deep: [true, null] }, 'more'])
  })

  it('a file that is not a Yjs update changes nothing and exits 1; so do an unknown doc and a missing file', async () => {
    const dir = await cli.tempDir()
    const { doc, json } = sampleDoc()
    await writeFile(join(dir, 'ok.yjs'), Y.encodeStateAsUpdate(doc))
    assert.equal((await runInProcess(['import', 'd', join(dir, 'ok.yjs'), '--data', dir])).code, 0)

    const garbage = join(dir, 'garbage.yjs')
    await writeFile(garbage, Buffer.from('neither a Yjs update nor JSON'))
    const bad = await runInProcess(['import', 'd', garbage, '--data', dir])
    assert.equal(bad.code, 1)
    assert.ok(bad.stderr.startsWith(`meshdoc import: ${garbage} is not a valid Yjs V1 update: `), bad.stderr)
    const after = await runInProcess(['export', 'd', '--data', dir])
    assert.deepEqual(JSON.parse(after.stdout), json, 'the document is unchanged')

    const missing = await runInProcess(['export', 'never/written', '--data', dir])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no document "never\/written"/)
    assert.equal(missing.stdout, '')

    const noFile = await runInProcess(['import', 'd', join(dir, 'nope.yjs'), '--data', dir])
    assert.equal(noFile.code, 1)
    assert.match(noFile.stderr, /cannot read .*nope\.yjs: ENOENT/)

    const noData = await runInProcess(['export', 'd', '--data', join(dir, 'empty')])
    assert.equal(noData.code, 1)
    assert.match(noData.stderr, /holds no documents/)
  })

  it('import takes the JSON that export writes: a new document gets the same JSON back; one that holds data refuses it and is unchanged', async () => {
    const dir = await cli.tempDir()
    const { doc } = sampleDoc()
    await writeFile(join(dir, 'src.yjs'), Y.encodeStateAsUpdate(doc))
    assert.equal((await runInProcess(['import', 'src', join(dir, 'src.yjs'), '--data', dir])).code, 0)
    const exported = await runInProcess(['export', 'src', '--data', dir])
    // XML has no JSON form export could read back (it is written as its string form): left out here
    const json = JSON.parse(exported.stdout) as Record<string, unknown>
    delete json.xml
    await writeFile(join(dir, 'src.json'), JSON.stringify(json, null, 2) + '\n')

    const other = join(dir, 'other-data')
    const imp = await runInProcess(['import', 'copy', join(dir, 'src.json'), '--data', other])
    assert.equal(imp.code, 0, imp.stderr)
    assert.match(imp.stderr, /of JSON/)
    const back = await runInProcess(['export', 'copy', '--data', other])
    // an empty root (the emptied list) has nothing to store, so Yjs has nothing to bring back
    assert.deepEqual(json.emptied, [])
    delete json.emptied
    assert.deepEqual(JSON.parse(back.stdout), json, 'the same JSON')

    const again = await runInProcess(['import', 'copy', join(dir, 'src.json'), '--data', other])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already holds data: JSON fills a new document/)
    assert.equal((await runInProcess(['export', 'copy', '--data', other])).stdout, back.stdout, 'unchanged')
  })

  it('a failed import into a data directory that did not exist leaves none behind', async () => {
    const dir = await cli.tempDir()
    const fresh = join(dir, 'fresh-data')
    await writeFile(join(dir, 'bad.yjs'), Buffer.from([0x01, 0xff, 0xff, 0xff]))
    const r = await runInProcess(['import', 'd', join(dir, 'bad.yjs'), '--data', fresh])
    assert.equal(r.code, 1)
    assert.equal(existsSync(fresh), false, 'no half-made data directory')
    await writeFile(join(dir, 'bad.json'), '{ "title": 42 }\n')
    const j = await runInProcess(['import', 'd', join(dir, 'bad.json'), '--data', fresh])
    assert.equal(j.code, 1)
    assert.match(j.stderr, /root "title" is a number/)
    assert.equal(existsSync(fresh), false)
  })

  it('import reads stdin with "-", draws progress on a terminal, and a different mesh key sees a different document', async () => {
    const dir = await cli.tempDir()
    const { doc, json } = sampleDoc()
    const keyFile = join(dir, 'mesh.key')
    await writeFile(keyFile, 'fleet secret\n')
    const r = await runInProcess(['import', 'd', '-', '--data', dir, '--mesh-key-file', keyFile], { stdin: Y.encodeStateAsUpdate(doc), stderrTTY: true })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /\rimport d {2}validating {2}\[#+\] 100%/, 'the progress bar shows the phases')
    // eslint-disable-next-line no-control-regex -- the progress bar's ESC [K (erase line) is what is tested
    assert.match(r.stderr, /\r\x1b\[Kmeshdoc: imported/, 'and is erased before the summary')
    const withKey = await runInProcess(['export', 'd', '--data', dir], { env: { MESHDOC_MESH_KEY: 'fleet secret' } })
    assert.deepEqual(JSON.parse(withKey.stdout), json)
    const withoutKey = await runInProcess(['export', 'd', '--data', dir])
    assert.equal(withoutKey.code, 1, 'doc ids are keyed by the mesh key in storage too')
  })

  it('refuses to write update bytes to a terminal', async () => {
    const dir = await cli.tempDir()
    const r = await runInProcess(['export', 'd', '--update', '--data', dir], { stdoutTTY: true })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /refusing to write binary update bytes to a terminal: use --out FILE or a pipe/)
    assert.equal(r.stdout, '')
  })
})
