/**
 * Issue 17, test 2: an existing Yjs app in real Chromium, its
 * `WebsocketProvider` (the `y-websocket` package, on the browser's own
 * WebSocket) pointed at `meshdoc gateway --yws`, and a meshdoc browser peer
 * (the browser preset, WebSockets to the same gateway) on the same doc. They
 * type at once and converge; each sees the other's presence; the provider's
 * presence leaves the meshdoc page when the provider's page closes. The page
 * (test/browser/yws-page.ts) is bundled by rollup as an app would bundle it.
 * Skipped, with the reason printed, where no Chromium is installed.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { extname, join, normalize } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { bundleForBrowser, REPO_ROOT } from '../bench/core/browser-bundle.js'
import { BUILD_DIR, chromiumPath, launchChromium } from './helpers/chromium.js'
import { CliProcesses } from './helpers/cli-process.js'

const OUT = join(BUILD_DIR, 'yws')
const HTML = '<!doctype html><meta charset="utf-8"><title>yws</title><script type="module" src="/yws-page.js"></script>'
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.map': 'application/json' }

/** Bundle test/browser/yws-page.ts and serve it on 127.0.0.1 (`/` is the page). */
async function servePage (): Promise<{ origin: string, server: Server }> {
  await bundleForBrowser({ input: { 'yws-page': join(REPO_ROOT, 'test/browser/yws-page.ts') }, outDir: OUT, sourcemap: true })
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/') { res.writeHead(200, { 'content-type': 'text/html' }).end(HTML); return }
    const file = join(OUT, normalize(path).replace(/^(\.\.[/\\])+/, ''))
    readFile(file).then(body => {
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body)
    }, () => { res.writeHead(404).end() })
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  return { origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }
}

type Api = Window['yws']

/** Poll `cond` until it holds, or fail saying what we waited for (`what` read at the end, so it can show the last state). */
async function waitFor (cond: () => Promise<boolean>, opts: { what: string | (() => string), timeout?: number }): Promise<void> {
  const deadline = Date.now() + (opts.timeout ?? 5000)
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeout ?? 5000} ms waiting for ${typeof opts.what === 'function' ? opts.what() : opts.what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

describe('a y-websocket app and a meshdoc page in Chromium, through one gateway --yws', function () {
  this.timeout(60_000)
  let browser: Browser | undefined
  let server: Server | undefined
  let origin: string
  /** one gateway for the file, started while the page is bundled: its libp2p WebSocket address and its y-websocket URL */
  let gw: { ws: string, url: string }
  const cli = new CliProcesses()
  const contexts: BrowserContext[] = []

  before(async function () {
    if (chromiumPath() === undefined) {
      console.log('      skipped: no Chromium (apt-get install chromium, or set MESHDOC_CHROMIUM)')
      this.skip()
    }
    const gateway = async (): Promise<{ ws: string, url: string }> => {
      const g = cli.gateway(await cli.tempDir(), ['--yws', '127.0.0.1:0'])
      const { ws } = await g.ready()
      return { ws, url: (await g.waitForStderr(/y-websocket (ws:\/\/127\.0\.0\.1:\d+) /, 5000))[1] }
    }
    ;[{ origin, server }, browser, gw] = await Promise.all([servePage(), launchChromium(), gateway()])
  })
  after(async () => {
    await browser?.close()
    server?.close()
    await cli.killAll()
  })
  afterEach(async () => {
    await Promise.allSettled(contexts.splice(0).map(async c => { await c.close() }))
  })

  /** A page in a context of its own (its own IndexedDB and BroadcastChannel): one device. */
  async function open (): Promise<{ context: BrowserContext, page: Page }> {
    const context = await browser!.newContext()
    contexts.push(context)
    const page = await context.newPage()
    page.on('pageerror', err => { console.log(`      page error: ${err.message}`) })
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => window.yws !== undefined)
    return { context, page }
  }

  const call = async <K extends keyof Api>(page: Page, fn: K, ...args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> =>
    await page.evaluate(async ([fn, args]) => await (window.yws[fn] as (...a: unknown[]) => unknown)(...args), [fn, args] as const) as never

  it('they type at once and converge, see each other\'s presence, and the provider\'s presence leaves with its page', async () => {
    const [app, mesh] = await Promise.all([open(), open()])
    const { ws, url } = gw
    const room = 'notes/from-the-browser'

    // the existing app: the room in the URL is the meshdoc doc id
    await call(app.page, 'provider', url, room)
    await call(mesh.page, 'mesh', ws, room)
    await waitFor(async () => await call(app.page, 'synced'), { what: 'the provider to sync with the gateway' })

    // at once, each at the end of what it sees: upper case from the app, lower case from the meshdoc page
    const upper = 'YWEBSOCKETPROVIDERTYPES'
    const lower = 'meshdocpagetypesthis'
    await Promise.all([call(app.page, 'type', upper, 15), call(mesh.page, 'type', lower, 15)])
    let texts: string[] = []
    await waitFor(async () => {
      texts = await Promise.all([call(app.page, 'text'), call(mesh.page, 'text')])
      return texts[0] === texts[1] && texts[0].length === upper.length + lower.length
    }, { what: () => `both pages to show the same text (they show ${JSON.stringify(texts)})`, timeout: 10_000 })
    // every keystroke is there once, each page's in the order it typed them
    assert.equal(texts[0].replace(/[^A-Z]/g, ''), upper)
    assert.equal(texts[0].replace(/[^a-z]/g, ''), lower)

    // presence, both ways through the gateway
    await call(app.page, 'setUser', 'ada (y-websocket)')
    await call(mesh.page, 'setUser', 'bo (meshdoc)')
    const appClient = await call(app.page, 'clientID')
    const meshClient = await call(mesh.page, 'clientID')
    await waitFor(async () => (await call(mesh.page, 'users'))[appClient] === 'ada (y-websocket)', { what: "the provider's presence on the meshdoc page" })
    await waitFor(async () => (await call(app.page, 'users'))[meshClient] === 'bo (meshdoc)', { what: "the meshdoc page's presence at the provider" })

    // the app's page closes: its socket goes, and with it its presence, everywhere
    await app.page.close()
    await waitFor(async () => (await call(mesh.page, 'users'))[appClient] === undefined, { what: "the closed page's presence to leave the meshdoc page" })
    assert.deepEqual(await call(mesh.page, 'users'), { [meshClient]: 'bo (meshdoc)' })
    assert.equal(await call(mesh.page, 'text'), texts[0], 'what the app wrote stays')
  })
})
