/**
 * The browser example (examples/browser-app) in real Chromium: two windows,
 * each its own device (browser context, so its own IndexedDB), log in as the
 * same user and type into that user's notes at the same time; both must show
 * the merged text, the status bar must say the gateway stored it, and
 * `meshdoc export` must find it in the gateway's data directory. Then the gateway goes away and comes back: an
 * edit made meanwhile is "saved locally" first and "stored on the gateway"
 * once the page has redialled it. Writes the two windows side by side to
 * examples/browser-app/.build/screenshots/two-windows.png, and to
 * docs/images/browser-app-two-windows.png with MESHDOC_UPDATE_SCREENSHOT=1
 * (so a test run leaves the tracked image alone). Logging in and grants:
 * test/browser-grants.spec.ts.
 * Skipped, with the reason printed, where no Chromium is installed.
 */
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { startBrowserApp, BUILD_DIR, type BrowserApp } from '../examples/browser-app/serve.js'
import { chromiumPath, launchChromium } from './helpers/chromium.js'
import { CliProcesses, REPO_ROOT } from './helpers/cli-process.js'

const DOCS_SCREENSHOT = join(REPO_ROOT, 'docs/images/browser-app-two-windows.png')
const VIEWPORT = { width: 620, height: 430 }

describe('examples/browser-app in Chromium', function () {
  this.timeout(60_000)
  let browser: Browser | undefined
  let app: BrowserApp | undefined
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

  /** A new device (browser context), logged in as `user` (the login form posts, the page comes back with the editor). */
  async function openWindow (url: string, user: string): Promise<Page> {
    const context = await browser!.newContext({ viewport: VIEWPORT })
    contexts.push(context)
    const page = await context.newPage()
    page.on('pageerror', err => { console.log(`      page error: ${err.message}`) })
    await page.goto(url)
    await page.fill('#login-user', user)
    await page.click('#login button[type=submit]')
    await page.waitForSelector('#editor:not([disabled])', { timeout: 15_000 })
    return page
  }

  const state = async (page: Page, id: string): Promise<string | undefined> =>
    await page.locator(`#${id}`).getAttribute('data-state') ?? undefined
  const text = async (page: Page, id: string): Promise<string> => (await page.locator(`#${id}`).textContent()) ?? ''

  async function waitForState (page: Page, id: string, want: string, timeout = 15_000): Promise<void> {
    try {
      await page.waitForSelector(`#${id}[data-state="${want}"]`, { timeout })
    } catch {
      assert.fail(`#${id} did not reach "${want}" within ${timeout} ms: it says "${await text(page, id)}" (${await state(page, id)})`)
    }
  }

  async function waitForEditor (page: Page, want: string, timeout = 15_000): Promise<void> {
    try {
      await page.waitForFunction((w) => (document.getElementById('editor') as HTMLTextAreaElement).value === w, want, { timeout })
    } catch {
      assert.fail(`the editor did not show ${JSON.stringify(want)} within ${timeout} ms: it shows ${JSON.stringify(await page.inputValue('#editor'))}`)
    }
  }

  it('two windows of one user type at once, both show the merge, and the gateway stores it (offline edits too)', async () => {
    const dataDir = await cli.tempDir('meshdoc-browser-app-')
    // a fresh gateway data dir, owner key and browser profiles: nothing else shares it
    app = await startBrowserApp({ dataDir, ownerKeyFile: join(await cli.tempDir('meshdoc-owner-'), 'owner.key') })
    const docId = 'notes/alice/main'
    const gwShort = app.gatewayPeerId.slice(-6)
    const a = await openWindow(app.url, 'alice')
    const b = await openWindow(app.url, 'alice')
    for (const page of [a, b]) {
      await waitForState(page, 'status-online', 'online')
      assert.match(await text(page, 'status-online'), new RegExp(`online · gateway …${gwShort} connected`))
      assert.match(await text(page, 'status-peers'), new RegExp(`gateway …${gwShort}`))
      assert.equal(await state(page, 'status-saved'), 'idle')
    }

    // A starts the list; B sees it
    const first = 'Shopping list:\n'
    await a.click('#editor')
    await a.keyboard.type(first)
    await waitForEditor(b, first)

    // both type at once, A at the end and B at the start: a minimal-diff
    // binding merges both; replacing the whole text would lose one of them
    await b.click('#editor')
    await Promise.all([
      (async () => { await a.keyboard.press('Control+End'); await a.keyboard.type('- milk (from A)\n', { delay: 15 }) })(),
      (async () => { await b.keyboard.press('Control+Home'); await b.keyboard.type('Our notes. ', { delay: 15 }) })()
    ])
    const merged = 'Our notes. Shopping list:\n- milk (from A)\n'
    await waitForEditor(a, merged)
    await waitForEditor(b, merged)
    for (const page of [a, b]) {
      await waitForState(page, 'status-saved', 'stored')
      assert.equal(await text(page, 'status-saved'), 'saved locally · stored on the gateway')
      assert.equal(await state(page, 'status-online'), 'online')
    }
    assert.equal(await a.inputValue('#editor'), merged)
    assert.equal(await b.inputValue('#editor'), merged)

    // "stored on the gateway" is true: the gateway's data directory has it
    const exported = await cli.run(['export', docId, '--data', dataDir])
    assert.equal(exported.code, 0, exported.stderr)
    assert.equal((JSON.parse(exported.stdout) as { notes: string }).notes, merged)

    await screenshotSideBySide(a, b)

    // the gateway goes away: the pages say offline, an edit is saved locally only
    await app.stopGateway()
    await waitForState(a, 'status-online', 'offline')
    await a.click('#editor')
    await a.keyboard.press('Control+End')
    await a.keyboard.type('- eggs (offline)\n')
    await waitForState(a, 'status-saved', 'saved')
    assert.equal(await text(a, 'status-saved'), 'saved locally · waiting for the gateway')
    // it comes back at the same address: the page redials, the edit reaches it
    await app.startGateway()
    await waitForState(a, 'status-online', 'online', 20_000)
    await waitForState(a, 'status-saved', 'stored')
    const withOffline = merged + '- eggs (offline)\n'
    await waitForEditor(b, withOffline)
    assert.equal(await a.inputValue('#editor'), withOffline)
  })

  /** One PNG per window, and both side by side (composed in a third page). */
  async function screenshotSideBySide (a: Page, b: Page): Promise<void> {
    const shotDir = join(BUILD_DIR, 'screenshots')
    await mkdir(shotDir, { recursive: true })
    const [pa, pb] = await Promise.all([a.screenshot(), b.screenshot()])
    await writeFile(join(shotDir, 'window-a.png'), pa)
    await writeFile(join(shotDir, 'window-b.png'), pb)
    const page = await browser!.newPage({ viewport: { width: VIEWPORT.width * 2 + 36, height: VIEWPORT.height + 56 } })
    try {
      const img = (png: Buffer, label: string): string =>
        `<figure><figcaption>${label}</figcaption><img src="data:image/png;base64,${png.toString('base64')}"></figure>`
      await page.setContent('<!doctype html><style>body{margin:0;padding:8px;background:#2b2f36;display:flex;gap:12px;font:13px system-ui,sans-serif;color:#e8eaee}' +
        'figure{margin:0}figcaption{padding:2px 2px 6px}img{display:block;border:1px solid #555;border-radius:4px}</style>' +
        img(pa, 'window A (its own browser profile)') + img(pb, 'window B (its own browser profile)'))
      await page.waitForFunction(() => Array.from(document.images).every(i => i.complete && i.naturalWidth > 0))
      const png = await page.screenshot({ path: join(shotDir, 'two-windows.png'), fullPage: true })
      if (process.env.MESHDOC_UPDATE_SCREENSHOT === '1') {
        await mkdir(join(REPO_ROOT, 'docs/images'), { recursive: true })
        await writeFile(DOCS_SCREENSHOT, png)
      }
    } finally {
      await page.close()
    }
  }
})
