/**
 * The browser example's login bridge (examples/browser-app: login.ts, the
 * page's `grantProvider` with `grantSupport()` from `meshdoc/grants`) in real
 * Chromium, against its gateway, which trusts the owner key that signs the
 * grants. A page not logged in gets the login form; logged in, it syncs its
 * own notes with the gateway, and a doc outside its grant is refused. With
 * grants the gateway accepts for a few seconds only, the page renews them in
 * time and its session never drops; logged out, renewals fail and its
 * session ends when its last grant does. The gateway's own doc status is
 * the witness: it lists the peers in session on a doc.
 * Skipped, with the reason printed, where no Chromium is installed.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { docKeyFor, docKeyHex, type MeshNode } from '../adapters/presets/node.js'
import { startBrowserApp, type BrowserApp } from '../examples/browser-app/serve.js'
import { chromiumPath, launchChromium } from './helpers/chromium.js'
import { CliProcesses } from './helpers/cli-process.js'
import { waitFor } from './helpers/mesh-nodes.js'

/** how long the gateway accepts each grant, in the short-grant test */
const SHORT_GRANT_MS = 4000

/** What the page puts on `window.meshdocApp` (app.ts). */
interface PageApp { meshdocApp: { node: MeshNode } }

interface Device { context: BrowserContext, page: Page, peer: string }

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, Math.max(0, ms))) }

describe('examples/browser-app: login and grants in Chromium', function () {
  this.timeout(90_000)
  let browser: Browser | undefined
  let app: BrowserApp | undefined
  let dataDir = ''
  const contexts: BrowserContext[] = []
  const cli = new CliProcesses()

  before(async function () {
    if (chromiumPath() === undefined) {
      console.log('      skipped: no Chromium (apt-get install chromium, or set MESHDOC_CHROMIUM)')
      this.skip()
    }
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
  })
  afterEach(async () => {
    await Promise.allSettled(contexts.splice(0).map(async c => { await c.close() }))
    await app?.stop()
    app = undefined
    await cli.killAll()
  })

  async function start (grantLifetimeMs?: number): Promise<BrowserApp> {
    dataDir = await cli.tempDir('meshdoc-browser-grants-')
    app = await startBrowserApp({ dataDir, ownerKeyFile: join(await cli.tempDir('meshdoc-owner-'), 'owner.key'), grantLifetimeMs })
    return app
  }

  const state = async (page: Page, id: string): Promise<string | undefined> => await page.locator(`#${id}`).getAttribute('data-state') ?? undefined
  const text = async (page: Page, id: string): Promise<string> => (await page.locator(`#${id}`).textContent()) ?? ''

  async function waitForState (page: Page, id: string, want: string, timeout = 15_000): Promise<void> {
    try {
      await page.waitForSelector(`#${id}[data-state="${want}"]`, { timeout })
    } catch {
      assert.fail(`#${id} did not reach "${want}" within ${timeout} ms: it says "${await text(page, id)}" (${await state(page, id)})`)
    }
  }

  /** A new device (browser context) with the page open, not logged in. */
  async function openPage (): Promise<{ context: BrowserContext, page: Page }> {
    const context = await browser!.newContext()
    contexts.push(context)
    const page = await context.newPage()
    page.on('pageerror', err => { console.log(`      page error: ${err.message}`) })
    await page.goto(app!.url)
    return { context, page }
  }

  /** Log in with the page's form; resolves once the page is online with the gateway. */
  async function logIn (page: Page, user: string): Promise<string> {
    await page.fill('#login-user', user)
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#editor:not([disabled])', { timeout: 15_000 })
    await waitForState(page, 'status-online', 'online')
    return await page.evaluate(() => (window as unknown as PageApp).meshdocApp.node.peerId)
  }

  async function device (user: string): Promise<Device> {
    const { context, page } = await openPage()
    return { context, page, peer: await logIn(page, user) }
  }

  async function type (page: Page, line: string): Promise<void> {
    await page.click('#editor')
    await page.keyboard.press('Control+End')
    await page.keyboard.type(line)
  }

  /** The gateway lists `peer` among the peers in session on `docId`. */
  function inSession (peer: string, docId: string): boolean {
    const keyHex = docKeyHex(docKeyFor(docId))
    return app?.gateway()?.docStatuses().some(d => d.keyHex === keyHex && d.status.peers.some(p => p.peer === peer)) ?? false
  }

  /** What the gateway stored of `docId` (its `notes` text), read by `meshdoc export`; undefined when it stored nothing. */
  async function stored (docId: string): Promise<string | undefined> {
    const out = await cli.run(['export', docId, '--data', dataDir])
    if (out.code !== 0) return undefined
    return (JSON.parse(out.stdout) as { notes?: string }).notes
  }

  /** The grants the login bridge handed `peer`, oldest first. */
  const grantsOf = (peer: string): BrowserApp['issuedGrants'] => app!.issuedGrants.filter(g => g.peer === peer)

  it('a page not logged in gets the login form; logged in, it syncs its own notes, and a doc outside its grant is refused', async () => {
    await start()
    const { page } = await openPage()
    await page.waitForSelector('#login:not([hidden])')
    assert.equal(await page.locator('#editor').isDisabled(), true, 'no notes before logging in')
    assert.equal(await state(page, 'status-access'), 'denied')

    const peer = await logIn(page, 'alice')
    await waitForState(page, 'status-access', 'granted')
    assert.match(await text(page, 'status-access'), /^alice · write on notes\/alice\/\*\* · renewed /)
    assert.deepEqual(grantsOf(peer).map(g => g.user), ['alice'], 'one grant, for alice, for this page\'s PeerId')

    await type(page, 'alice was here\n')
    await waitForState(page, 'status-saved', 'stored')
    assert.ok(inSession(peer, 'notes/alice/main'), 'the gateway is in session with the page on its notes')
    assert.equal(await stored('notes/alice/main'), 'alice was here\n')

    // bob's notes: outside alice's grant, so the gateway refuses the doc
    const outcome = await page.evaluate(async (gateway) => {
      const bobs = await (window as unknown as PageApp).meshdocApp.node.open('notes/bob/main')
      bobs.doc.getText('notes').insert(0, 'alice writing into bob\'s notes')
      try {
        await bobs.whenSynced({ peer: gateway, timeout: 5000 })
        return 'synced'
      } catch (err) {
        return (err as Error).name
      }
    }, app!.gatewayPeerId)
    assert.equal(outcome, 'DeniedError')
    assert.equal(inSession(peer, 'notes/bob/main'), false)
    assert.equal(await stored('notes/bob/main'), undefined, 'the gateway stored nothing of it')
    // and its own notes go on syncing
    await type(page, 'still here\n')
    await waitForState(page, 'status-saved', 'stored')
  })

  it(`grants accepted for ${SHORT_GRANT_MS / 1000} s: renewed in time, the session never drops; logged out, it ends with the last grant`, async () => {
    await start(SHORT_GRANT_MS)

    // alice stays logged in: her page renews its grant before each one ends
    const alice = await device('alice')
    const aliceDoc = 'notes/alice/main'
    await waitFor(() => inSession(alice.peer, aliceDoc), { what: 'alice\'s session on her notes' })
    const first = grantsOf(alice.peer)[0]
    const drops: number[] = []
    const watch = setInterval(() => { if (!inSession(alice.peer, aliceDoc)) drops.push(Date.now()) }, 20)
    try {
      // past the end of her first grant: an edit still reaches the gateway
      await sleep(first.acceptedUntil + 500 - Date.now())
      await type(alice.page, 'after the first grant ended\n')
      await waitForState(alice.page, 'status-saved', 'stored', 5000)
      // and past the end of the grant that renewed it: the session outlives two grants
      const second = grantsOf(alice.peer).find(g => g.issuedAt > first.issuedAt)
      assert.ok(second !== undefined && second.issuedAt < first.acceptedUntil, 'the first grant was renewed before it ended')
      await sleep(second.acceptedUntil + 500 - Date.now())
    } finally {
      clearInterval(watch)
    }
    const renewals = grantsOf(alice.peer).filter(g => g.issuedAt > first.issuedAt)
    assert.ok(renewals.length >= 2, `renewed at least twice across two grants' lives (${renewals.length} times)`)
    assert.deepEqual(drops, [], 'the gateway kept alice\'s session the whole time')
    assert.equal(await state(alice.page, 'status-access'), 'granted')
    await alice.context.close()
    assert.equal(await stored(aliceDoc), 'after the first grant ended\n')

    // bob logs out (in another tab, say) after his first edit: his page's next renewal gets 401
    const bob = await device('bob')
    const bobDoc = 'notes/bob/main'
    await type(bob.page, 'before logging out\n')
    await waitForState(bob.page, 'status-saved', 'stored')
    const out = await bob.context.request.post(`${app!.url}logout`, { maxRedirects: 0 })
    assert.equal(out.status(), 303)
    await waitForState(bob.page, 'status-access', 'ending', SHORT_GRANT_MS)
    assert.match(await text(bob.page, 'status-access'), /grant not renewed: logged out \(HTTP 401\)/)
    assert.ok(inSession(bob.peer, bobDoc), 'his last grant still counts')
    // his session ends when his last grant does, not before
    const lastEnd = (): number => Math.max(...grantsOf(bob.peer).map(g => g.acceptedUntil))
    await waitFor(() => !inSession(bob.peer, bobDoc), { timeout: SHORT_GRANT_MS + 5000, what: 'bob\'s session to end with his grant' })
    const endedAt = Date.now()
    assert.ok(endedAt >= lastEnd() - 50, `ended ${lastEnd() - endedAt} ms before his last grant did`)
    await waitForState(bob.page, 'status-access', 'denied')
    // what he types now stays in his browser
    await type(bob.page, 'after the grant ended\n')
    await sleep(1500)
    assert.ok(['saved', 'error'].includes(await state(bob.page, 'status-saved') ?? ''), `not stored on the gateway: "${await text(bob.page, 'status-saved')}"`)
    assert.equal(inSession(bob.peer, bobDoc), false, 'and the session did not come back')
    assert.equal(await stored(bobDoc), 'before logging out\n')
  })
})
