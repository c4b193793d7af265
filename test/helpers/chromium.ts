/**
 * Real-browser tests: Debian's Chromium driven by playwright-core, pages
 * served from 127.0.0.1 and bundled by rollup the way an app would bundle
 * meshdoc (bench/core/browser-bundle.ts). `chromiumPath()` tells whether a
 * Chromium is installed (`.ci/run` installs one with apt-get).
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { chromium, type Browser, type BrowserContext } from 'playwright-core'
import { bundleForBrowser, REPO_ROOT } from '../../bench/core/browser-bundle.js'

export const BUILD_DIR = join(REPO_ROOT, 'test/browser/.build')

/** The Chromium binary, or undefined when none is installed. */
export function chromiumPath (): string | undefined {
  for (const p of [process.env.MESHDOC_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p !== undefined && p !== '' && existsSync(p)) return p
  }
  return undefined
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run',
  // WebRTC on a machine without a LAN: offer plain host addresses (loopback
  // included) instead of mDNS names, which need a multicast resolver
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection'
]

let built: Promise<void> | undefined

/** Bundle the test pages once per test process. */
export async function buildTestPages (): Promise<void> {
  built ??= bundleForBrowser({
    input: {
      page: join(REPO_ROOT, 'test/browser/page.ts'),
      compliance: join(REPO_ROOT, 'test/browser/compliance-page.ts')
    },
    outDir: BUILD_DIR,
    sourcemap: true
  }).then(() => {})
  await built
}

const PAGES: Record<string, string> = {
  '/': '<!doctype html><meta charset="utf-8"><title>meshdoc</title><script type="module" src="/page.js"></script>',
  '/compliance.html': '<!doctype html><meta charset="utf-8"><title>compliance</title><div id="mocha"></div>' +
    '<script src="/mocha.js"></script>' +
    '<script>mocha.setup({ ui: "bdd", timeout: 30000 }); window.results = undefined</script>' +
    '<script type="module">await import("/compliance.js"); const failures = []; let passes = 0;' +
    'const runner = mocha.run(); runner.on("pass", () => { passes++ }).on("fail", (t, err) => { failures.push(t.fullTitle() + ": " + err.message) })' +
    '.on("end", () => { window.results = { passes, failures, total: runner.total } })</script>'
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.map': 'application/json', '.html': 'text/html' }

/** Serve the test pages on 127.0.0.1; returns the origin. */
export async function serveTestPages (): Promise<{ origin: string, server: Server }> {
  await buildTestPages()
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const page = PAGES[path]
    if (page !== undefined) { res.writeHead(200, { 'content-type': 'text/html' }).end(page); return }
    const file = path === '/mocha.js' ? join(REPO_ROOT, 'node_modules/mocha/mocha.js') : join(BUILD_DIR, normalize(path).replace(/^(\.\.[/\\])+/, ''))
    readFile(file).then(body => {
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body)
    }, () => { res.writeHead(404).end() })
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as { port: number }
  return { origin: `http://127.0.0.1:${port}`, server }
}

export async function launchChromium (): Promise<Browser> {
  return await chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS })
}

/** A browser profile kept in `userDataDir`, so IndexedDB outlives the browser process. */
export async function launchPersistentChromium (userDataDir: string): Promise<BrowserContext> {
  return await chromium.launchPersistentContext(userDataDir, { executablePath: chromiumPath(), args: CHROMIUM_ARGS })
}
