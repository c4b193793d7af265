/**
 * meshdoc in real Chromium (Debian's, driven by playwright-core): the browser
 * preset's IndexedDB, WebSockets to a `meshdoc gateway` started by the test,
 * WebRTC between browsers found through the gateway, and edits that survive
 * reloads and closed pages. Skipped, with the reason printed, where no
 * Chromium is installed (`.ci/run` installs it). WebRTC is an opt-in (the
 * app passes `webRTC` from @libp2p/webrtc); what the browser preset says to
 * an option it cannot use is checked in Node, with no browser.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { browserLibp2pPreset, createMeshNode as createBrowserNode, type BrowserMeshNodeOptions } from '../adapters/presets/browser.js'
import { MemoryStorageAdapter } from '../adapters/memory-storage/index.js'
import { webrtc } from '../adapters/libp2p/webrtc.js'
import { createMeshNode, type MeshNode } from '../adapters/presets/node.js'
import { chromiumPath, launchChromium, launchPersistentChromium, serveTestPages } from './helpers/chromium.js'
import { CliProcesses, freePort, type GatewayProcess } from './helpers/cli-process.js'
import { eventually } from './helpers/wait.js'

type Mesh = Window['mesh']

/** PIDs of the processes whose command line contains `needle` (from /proc). */
function processesWith (needle: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) pids.push(Number(entry))
    } catch {}
  }
  return pids
}

describe('meshdoc in Chromium', function () {
  this.timeout(120_000)
  let browser: Browser
  let server: Server
  let origin: string
  const cli = new CliProcesses()
  const contexts: BrowserContext[] = []
  const nodes: MeshNode[] = []

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

  /** A new device: its own browser context, so its own IndexedDB. */
  async function device (): Promise<{ context: BrowserContext, page: Page }> {
    const context = await browser.newContext()
    contexts.push(context)
    return { context, page: await loadPage(context) }
  }

  async function loadPage (context: BrowserContext): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', err => { console.log(`      page error: ${err.message}`) })
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => window.mesh !== undefined)
    return page
  }

  const call = async <K extends keyof Mesh>(page: Page, fn: K, ...args: unknown[]): Promise<Awaited<ReturnType<Mesh[K] extends (...a: never[]) => unknown ? Mesh[K] : never>>> =>
    await page.evaluate(async ([fn, args]) => await (window.mesh[fn as keyof Mesh] as (...a: unknown[]) => unknown)(...(args as unknown[])), [fn, args] as const) as never

  /** A gateway on fixed ports (so it can be restarted at the same address) with its own data dir. */
  async function gateway (dir?: string, ports?: { tcp: number, ws: number }): Promise<{ g: GatewayProcess, dir: string, ports: { tcp: number, ws: number }, peerId: string, ws: string, tcp: string }> {
    dir ??= await cli.tempDir()
    ports ??= { tcp: await freePort(), ws: await freePort() }
    const g = cli.gatewayAt(dir, ports)
    const r = await g.ready()
    assert.notEqual(r.ws, '', 'the gateway listens on WebSockets')
    return { g, dir, ports, ...r }
  }

  it('IndexedDbStorageAdapter passes the storage compliance suite inside Chromium', async () => {
    const page = await browser.newPage()
    try {
      await page.goto(`${origin}/compliance.html`)
      await page.waitForFunction(() => (window as unknown as { results?: unknown }).results !== undefined, null, { timeout: 100_000 })
      const results = await page.evaluate(() => (window as unknown as { results: { passes: number, failures: string[], total: number } }).results)
      assert.deepEqual(results.failures, [])
      assert.ok(results.total >= 17, `the whole suite ran (${results.total} tests)`)
      assert.equal(results.passes, results.total)
    } finally {
      await page.close()
    }
  })

  it('a page whose gateway comes back redials at once on `online`, and when it is visible again after a long sleep, not after its backoff', async () => {
    const dir = await cli.tempDir()
    const id = (await cli.run(['id', '--create', '--data', dir])).stdout.trim()
    const ports = { tcp: await freePort(), ws: await freePort() }
    const a = await device()
    // a backoff of 30-60 s: only a wake-up can connect it within seconds
    await call(a.page, 'start', { bootstrap: [`/ip4/127.0.0.1/tcp/${ports.ws}/ws/p2p/${id}`], bootstrapBackoff: { minDelayMs: 60_000, maxDelayMs: 60_000 } })
    await new Promise(resolve => setTimeout(resolve, 500)) // its first dial found nothing
    const gw = await gateway(dir, ports)
    const connected = async (): Promise<boolean> => (await call(a.page, 'peers')).includes(id)
    assert.equal(await connected(), false)
    await a.context.setOffline(true)
    await a.context.setOffline(false) // the browser fires `online`
    await eventually(connected, { what: 'the page to redial the gateway on `online`', timeout: 5000 })

    // the gateway goes away and comes back while the page is hidden; it is shown again a minute later
    await gw.g.stop('SIGTERM')
    await eventually(async () => !(await connected()), { what: 'the page to see the gateway go' })
    await gateway(dir, ports)
    // a string, not a function: the test's transpiler would wrap named functions in a helper the page lacks
    await a.page.evaluate(`(() => {
      const setHidden = (hidden) => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden })
        document.dispatchEvent(new Event('visibilitychange'))
      }
      setHidden(true)
      const now = Date.now
      Date.now = () => now() + 61000 // a minute asleep
      try { setHidden(false) } finally { Date.now = now }
    })()`)
    await eventually(connected, { what: 'the page to redial when visible again after a long sleep', timeout: 5000 })
  })

  it('two pages sync through a gateway over WebSockets, and the gateway stores it', async () => {
    const gw = await gateway()
    const a = await device()
    const b = await device()
    await call(a.page, 'start', { bootstrap: [gw.ws] })
    await call(b.page, 'start', { bootstrap: [gw.ws] })
    const doc = 'notes/through-gateway'
    await call(a.page, 'insert', doc, 'from A. ')
    await call(b.page, 'insert', doc, 'from B. ')
    const settled = async (): Promise<boolean> => {
      const [ta, tb] = await Promise.all([call(a.page, 'text', doc), call(b.page, 'text', doc)])
      return ta === tb && ta.includes('from A.') && ta.includes('from B.')
    }
    await eventually(settled, { what: 'A and B to converge through the gateway', timeout: 20_000 })
    // acknowledged by the gateway means stored there: a fresh Node device gets it from the gateway alone
    await call(a.page, 'whenSynced', doc, gw.peerId)
    await call(b.page, 'whenSynced', doc, gw.peerId)
    const device3 = await createMeshNode({ bootstrap: [gw.tcp] })
    nodes.push(device3)
    const h = await device3.open(doc)
    const want = await call(a.page, 'text', doc)
    await eventually(() => h.doc.getText('t').toString() === want, { what: 'a Node device to read what the pages wrote', timeout: 15_000 })
    const peers = await call(a.page, 'peers')
    assert.ok(peers.includes(gw.peerId))
    // WebRTC is an opt-in: without it a page listens on nothing (no relay reservation, no /webrtc) and reaches the other page through the gateway only
    assert.deepEqual(await call(a.page, 'multiaddrs'), [])
    assert.ok((await call(a.page, 'connections')).every(c => c.peer === gw.peerId), 'A is connected to the gateway only')
  })

  it('offline: edits survive a reload without the gateway, then page B and a Node device converge with A', async () => {
    const doc = 'notes/offline'
    const gw = await gateway()
    const a = await device()
    const b = await device()
    await call(a.page, 'start', { bootstrap: [gw.ws] })
    await call(b.page, 'start', { bootstrap: [gw.ws] })
    await call(a.page, 'insert', doc, 'online. ')
    await call(a.page, 'whenSynced', doc, gw.peerId)
    await eventually(async () => (await call(b.page, 'text', doc)) === 'online. ', { what: 'B to get the online edit' })

    // the gateway goes away; A keeps editing, and its edits are saved locally
    assert.equal((await gw.g.stop('SIGTERM')).code, 0)
    await eventually(async () => !(await call(a.page, 'peers')).includes(gw.peerId), { what: 'A to notice the gateway is gone' })
    await call(a.page, 'insert', doc, 'offline edit. ')
    await call(a.page, 'flush', doc)

    // reload A: the edits come back from IndexedDB
    await a.page.reload()
    await a.page.waitForFunction(() => window.mesh !== undefined)
    await call(a.page, 'start', { bootstrap: [gw.ws] })
    assert.equal(await call(a.page, 'text', doc), 'online. offline edit. ')

    // the gateway comes back at the same address; a Node device joins too
    const again = await gateway(gw.dir, gw.ports)
    assert.equal(again.peerId, gw.peerId, 'the gateway kept its identity')
    const nodeDevice = await createMeshNode({ bootstrap: [again.tcp] })
    nodes.push(nodeDevice)
    const h = await nodeDevice.open(doc)
    const want = 'online. offline edit. '
    await eventually(async () => (await call(b.page, 'text', doc)) === want, { what: 'B to converge with A after the gateway returned', timeout: 30_000 })
    await eventually(() => h.doc.getText('t').toString() === want, { what: 'the Node device to converge with A', timeout: 30_000 })
  })

  it('browser to browser over WebRTC: found through the gateway, then edits flow with the gateway gone', async () => {
    const gw = await gateway()
    const a = await device()
    const b = await device()
    // the page passes webrtc() from meshdoc/webrtc, as an app opts in
    const { peerId: pa } = await call(a.page, 'start', { bootstrap: [gw.ws], webrtc: { peerExchangeIntervalMs: 500 } })
    const { peerId: pb } = await call(b.page, 'start', { bootstrap: [gw.ws], webrtc: { peerExchangeIntervalMs: 500 } })
    // peer exchange: each learns the other from the gateway and dials /p2p-circuit/webrtc
    const direct = async (page: Page, other: string): Promise<boolean> =>
      (await call(page, 'connections')).some(c => c.peer === other && !c.limited && c.addr.includes('/webrtc'))
    await eventually(async () => await direct(a.page, pb) || await direct(b.page, pa), { what: 'a direct WebRTC connection between A and B', timeout: 30_000 })
    // under load (CI runs Chromium beside other specs) the data channel and its first stream can take seconds more
    await eventually(async () => (await call(a.page, 'peers')).includes(pb) && (await call(b.page, 'peers')).includes(pa), { what: 'a sync session on the WebRTC connection', timeout: 30_000 })

    // no gateway, no relay: what still flows, flows on the direct connection
    assert.equal((await gw.g.stop('SIGTERM')).code, 0)
    await eventually(async () => !(await call(a.page, 'peers')).includes(gw.peerId), { what: 'A to notice the gateway is gone' })
    const conns = await call(a.page, 'connections')
    assert.ok(conns.every(c => c.peer !== gw.peerId), 'nothing left to the gateway')
    const webrtc = conns.filter(c => c.peer === pb)
    assert.ok(webrtc.length > 0 && webrtc.every(c => !c.limited && c.addr.includes('/webrtc')), JSON.stringify(conns))

    const doc = 'notes/webrtc'
    const before = await call(b.page, 'stats') as { framesIn: number }
    await call(a.page, 'insert', doc, 'straight from A')
    await eventually(async () => (await call(b.page, 'text', doc)) === 'straight from A', { what: 'the edit to reach B over WebRTC', timeout: 15_000 })
    await call(b.page, 'insert', doc, ', and back')
    await eventually(async () => (await call(a.page, 'text', doc)) === 'straight from A, and back', { what: 'the reply to reach A over WebRTC', timeout: 15_000 })
    const after = await call(b.page, 'stats') as { framesIn: number }
    assert.ok(after.framesIn > before.framesIn)
  })

  it('a page closed in the middle of a burst keeps every edit whose flush() resolved', async () => {
    const doc = 'notes/burst'
    const { context, page } = await device()
    const flushed: number[] = []
    await context.exposeFunction('reportFlushed', (i: number) => { flushed.push(i) })
    await call(page, 'start')
    const burst = page.evaluate(async (doc) => { await window.mesh.burst(doc, 100_000) }, doc).catch(() => 'closed')
    await eventually(() => flushed.length >= 150, { what: '150 acknowledged edits', timeout: 30_000 })
    await page.close()
    assert.equal(await burst, 'closed', 'the page was closed mid-burst')
    const acked = flushed.length
    assert.ok(acked < 100_000)

    const reopened = await loadPage(context)
    await call(reopened, 'start')
    const arr = await call(reopened, 'array', doc)
    console.log(`      page closed: ${acked} edits acknowledged before the close, ${arr.length} stored after reopening`)
    assert.ok(arr.length >= acked, `every acknowledged edit is back: ${arr.length} stored >= ${acked} acknowledged`)
    // edits were made one after another: what is stored is exactly 0..n-1
    assert.deepEqual(arr, Array.from({ length: arr.length }, (_, i) => i))
  })

  it('a browser killed with SIGKILL in the middle of a burst keeps every edit whose flush() resolved', async () => {
    const doc = 'notes/crash'
    const profile = await cli.tempDir()
    const first = await launchPersistentChromium(profile)
    const flushed: number[] = []
    try {
      await first.exposeFunction('reportFlushed', (i: number) => { flushed.push(i) })
      const page = await loadPage(first)
      await call(page, 'start')
      void page.evaluate(async (doc) => { await window.mesh.burst(doc, 100_000) }, doc).catch(() => {})
      await eventually(() => flushed.length >= 150, { what: '150 acknowledged edits', timeout: 30_000 })
      // every Chromium process of this profile, at once: a crash, not a close
      const pids = processesWith(`--user-data-dir=${profile}`)
      assert.ok(pids.length > 0)
      for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
    } finally {
      await first.close().catch(() => {})
    }
    const acked = flushed.length
    const second = await launchPersistentChromium(profile)
    contexts.push(second)
    const page = await loadPage(second)
    await call(page, 'start')
    const arr = await call(page, 'array', doc)
    console.log(`      SIGKILL: ${acked} edits acknowledged before the kill, ${arr.length} stored after restart`)
    assert.ok(arr.length >= acked, `every acknowledged edit survived the crash: ${arr.length} stored >= ${acked} acknowledged`)
    assert.deepEqual(arr, Array.from({ length: arr.length }, (_, i) => i))
  })

  it('two tabs of one app sync over BroadcastChannel with no gateway at all', async () => {
    const { context, page: tab1 } = await device()
    const tab2 = await loadPage(context)
    const { peerId: p1 } = await call(tab1, 'start')
    const { peerId: p2 } = await call(tab2, 'start')
    assert.notEqual(p1, p2, 'each tab is its own peer (its own identity slot)')
    const doc = 'notes/tabs'
    await call(tab1, 'insert', doc, 'tab one. ')
    await call(tab2, 'insert', doc, 'tab two. ')
    const same = async (): Promise<boolean> => {
      const [t1, t2] = await Promise.all([call(tab1, 'text', doc), call(tab2, 'text', doc)])
      return t1 === t2 && t1.includes('tab one.') && t1.includes('tab two.')
    }
    await eventually(same, { what: 'the two tabs to converge', timeout: 15_000 })
    // a reload of the first tab takes the first identity slot again
    await tab1.reload()
    await tab1.waitForFunction(() => window.mesh !== undefined)
    const { peerId: again } = await call(tab1, 'start')
    assert.equal(again, p1, 'a reloaded tab keeps its PeerId')
  })
})

describe('the browser preset\'s WebRTC options', () => {
  // all of these throw before the preset touches IndexedDB, so they run in Node
  const rejects = async (opts: unknown, message: RegExp): Promise<void> => {
    await assert.rejects(createBrowserNode(opts as BrowserMeshNodeOptions), (err: Error) => err instanceof TypeError && message.test(err.message))
  }

  it('webrtc: true (WebRTC was on by default before it became an opt-in) says what to pass instead', async () => {
    // @ts-expect-error the old boolean is a type error too
    const old: BrowserMeshNodeOptions = { webrtc: true }
    await rejects(old, /^webrtc: true: WebRTC is opt-in: import \{ webrtc \} from 'meshdoc\/webrtc' and pass webrtc: webrtc\(\)/)
    await rejects({ webrtc: 'on' }, /^webrtc: on: WebRTC is opt-in/)
    await rejects({ webrtc: (): void => {} }, /^webrtc: .*WebRTC is opt-in/) // @libp2p/webrtc's own webRTC, passed as is
  })

  it('WebRTC\'s options given to createMeshNode are an error rather than silently no WebRTC; webrtc: false is off', async () => {
    await rejects({ rtcConfiguration: { iceServers: [] } }, /^rtcConfiguration goes to webrtc\(\{ rtcConfiguration \}\) from 'meshdoc\/webrtc'/)
    await rejects({ webrtc: webrtc(), peerExchangeIntervalMs: 500 }, /^peerExchangeIntervalMs goes to webrtc/)
    // off, or opted in with its options where they belong: no TypeError (checked before libp2p is built)
    for (const opts of [{}, { webrtc: false as const }, { webrtc: webrtc({ rtcConfiguration: {}, peerExchangeIntervalMs: 0 }) }]) {
      assert.equal(typeof browserLibp2pPreset(opts), 'function')
    }
    // and a node with WebRTC off listens on nothing (no relay reservation, no /webrtc): it runs in Node too
    const node = await createBrowserNode({ storage: new MemoryStorageAdapter(), tabs: false, webrtc: false })
    try {
      assert.deepEqual(node.libp2p.getMultiaddrs(), [])
    } finally {
      await node.stop()
    }
  })
})
