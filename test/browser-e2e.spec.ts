/**
 * An end-to-end encrypted doc with a browser member (issue 16, test 6): a
 * page in real Chromium (the browser preset with `encryptedDocs()` from
 * `meshdoc/e2e`, IndexedDB, WebSockets) and a Node member sync it through a
 * blind `meshdoc gateway` (its own process, fs storage). Each reads what the
 * other wrote; the gateway's data directory holds none of a marker written
 * into the doc; the page, reloaded offline, reads the doc from its own
 * IndexedDB. The added gzipped size of `meshdoc/e2e` is in
 * test/browser-bundle.spec.ts. Skipped, with the reason printed, where no
 * Chromium is installed.
 */
import assert from 'node:assert/strict'
import type { Server } from 'node:http'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { FsStorageAdapter } from '../adapters/fs-storage/index.js'
import { createMeshNode, type NodeMeshNode } from '../adapters/presets/node.js'
import { chromiumPath, launchChromium, serveTestPages } from './helpers/chromium.js'
import { CliProcesses, freePort } from './helpers/cli-process.js'
import { filesContaining } from './helpers/files.js'
import { eventually } from './helpers/wait.js'

const MARKER = 'okapi-lantern-5150'
const DOC = 'vault/shared-notes'

type Mesh = Window['mesh']

describe('an encrypted doc with a browser member, through a blind gateway (Chromium)', function () {
  this.timeout(120_000)
  let browser: Browser
  let server: Server
  let origin: string
  const cli = new CliProcesses()
  const contexts: BrowserContext[] = []
  const nodes: NodeMeshNode[] = []

  before(async function () {
    if (chromiumPath() === undefined) {
      console.log('      skipped: no Chromium (apt-get install chromium, or set MESHDOC_CHROMIUM)')
      this.skip()
    }
    ({ origin, server } = await serveTestPages())
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    server?.close()
  })
  afterEach(async () => {
    await Promise.allSettled(contexts.splice(0).map(async c => { await c.close() }))
    await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() }))
    await cli.killAll()
  })

  async function loadPage (context: BrowserContext): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', err => { console.log(`      page error: ${err.message}`) })
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => window.mesh !== undefined)
    return page
  }

  const call = async <K extends keyof Mesh>(page: Page, fn: K, ...args: unknown[]): Promise<Awaited<ReturnType<Mesh[K] extends (...a: never[]) => unknown ? Mesh[K] : never>>> =>
    await page.evaluate(async ([fn, args]) => await (window.mesh[fn as keyof Mesh] as (...a: unknown[]) => unknown)(...(args as unknown[])), [fn, args] as const) as never

  it('a browser member and a Node member each read what the other wrote; the gateway holds none of it in clear; the page reads it offline after a reload', async () => {
    const gwDir = await cli.tempDir()
    const gw = cli.gatewayAt(gwDir, { tcp: await freePort(), ws: await freePort() })
    const { peerId: gwPeer, ws, tcp } = await gw.ready()

    // the browser member: its key is the page's libp2p identity, kept in IndexedDB
    const context = await browser.newContext()
    contexts.push(context)
    const page = await loadPage(context)
    const { peerId: pagePeer } = await call(page, 'start', { bootstrap: [ws], encrypted: true })

    // the Node member creates the doc with the page as a writer, writes, and the gateway stores it
    const nodeMember = await createMeshNode({ storage: new FsStorageAdapter(await cli.tempDir()), bootstrap: [tcp] })
    nodes.push(nodeMember)
    const h = await nodeMember.open(DOC, { encrypted: { members: [{ peerId: pagePeer, access: 'write' }] } })
    h.doc.getText('t').insert(0, `from node ${MARKER}.`)
    await h.whenStored({ peer: gwPeer, timeout: 15_000 })

    // the page opens it as a member: it reads the Node member's text, and writes back
    assert.deepEqual(await call(page, 'openEncrypted', DOC), { access: 'write' })
    assert.equal(await call(page, 'isEncrypted', DOC), true)
    await eventually(async () => (await call(page, 'encryptedText', DOC)).includes(MARKER), { what: 'the Node member\'s text in the page', timeout: 20_000 })
    await call(page, 'encryptedInsert', DOC, ` from the browser ${MARKER}.`)
    await call(page, 'encryptedStored', DOC, gwPeer)
    const both = `from node ${MARKER}. from the browser ${MARKER}.`
    await eventually(() => h.doc.getText('t').toString() === both, { what: 'the page\'s text at the Node member', timeout: 20_000 })
    assert.equal(await call(page, 'encryptedText', DOC), both)

    // blind: nothing of it in clear in the gateway's data directory
    assert.deepEqual(await filesContaining(gwDir, MARKER), [], 'plaintext in the gateway\'s data directory')

    // the page reloaded, offline: the doc comes back from its IndexedDB (envelopes and its key), readable
    await call(page, 'stop')
    await page.close()
    const again = await loadPage(context)
    await call(again, 'start', { encrypted: true })
    assert.deepEqual(await call(again, 'openEncrypted', DOC), { access: 'write' })
    assert.equal(await call(again, 'encryptedText', DOC), both)
  })
})
