/**
 * The browser notes app in one command, on 127.0.0.1:
 *
 *   node_modules/.bin/node --import tsx examples/browser-app/serve.ts [--port 8090] [--data DIR] [--owner-key FILE]
 *
 * 1. loads the owner key (--owner-key, made there if missing) and starts the
 *    gateway (gateway.ts, in this process: fs storage in --data, a WebSocket
 *    listener for browsers, a circuit relay so browsers can reach each other
 *    over WebRTC, which app.ts opts in to), which trusts that key;
 * 2. bundles app.ts for browsers with rollup (into examples/browser-app/.build);
 * 3. serves index.html, the bundle, /config.json (the gateway's WebSocket
 *    multiaddr, the owner's PeerId, the doc's name and who is logged in) and
 *    the login bridge (login.ts: /login, /logout, /grant), and prints the URL.
 *
 * While it runs, type `stop` + Enter to stop the gateway (the pages go
 * offline and keep working), `start` + Enter to bring it back at the same
 * address. Ctrl-C or SIGTERM stops the gateway (it flushes and says BYE),
 * closes the server and exits 0.
 *
 * `startBrowserApp()` does the same for tests and returns { url, gatewayWs, stop, … }.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { bundleForBrowser } from '../../bench/core/browser-bundle.js'
import type { MeshNode } from '../../adapters/presets/node.js'
import { startGateway, webSocketAddr } from './gateway.js'
import { loadOwnerKey, LoginBridge, type IssuedGrant } from './login.js'

const HERE = fileURLToPath(new URL('.', import.meta.url))
export const BUILD_DIR = join(HERE, '.build')
const WWW_DIR = join(BUILD_DIR, 'www')
/** a grant's life (the gateway accepts it this long; the page renews it well before) */
const GRANT_LIFETIME_MS = 10 * 60_000

export interface BrowserAppOptions {
  /** HTTP port for the page (0: any free port) */
  port?: number
  /** the gateway's data directory (its identity and the documents it stores) */
  dataDir?: string
  /** the owner key that signs grants and that the gateway trusts (made if missing; default .build/owner.key) */
  ownerKeyFile?: string
  /** how long the gateway accepts a grant the login bridge hands out (default 10 minutes) */
  grantLifetimeMs?: number
  /** the gateway's WebSocket port (0: a free one, fixed for this run so the gateway can be restarted at the same address) */
  wsPort?: number
  /** the notes' doc name: each user edits `notes/<user>/<doc>` (default 'main') */
  doc?: string
  /** minify the bundle */
  minify?: boolean
  /** print what the gateway and the login bridge do */
  echo?: boolean
}

export interface BrowserApp {
  /** the page, e.g. http://127.0.0.1:8090/ */
  url: string
  /** the gateway's WebSocket multiaddr (what the page dials) */
  gatewayWs: string
  gatewayPeerId: string
  /** the owner the gateway trusts (its PeerId) */
  ownerId: string
  /** the running gateway (undefined while stopped) */
  gateway: () => MeshNode | undefined
  /** the grants the login bridge handed out, oldest first */
  issuedGrants: readonly IssuedGrant[]
  /** stop the gateway only (it flushes and says BYE); the page keeps being served */
  stopGateway: () => Promise<void>
  /** start it again, same data, same address */
  startGateway: () => Promise<void>
  /** stop the gateway and close the HTTP server */
  stop: () => Promise<void>
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createNetServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => { resolve(port) })
    })
  })
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.map': 'application/json', '.html': 'text/html; charset=utf-8', '.json': 'application/json' }

/** Owner key, gateway, bundle, login bridge and HTTP server; see the file comment. */
export async function startBrowserApp (opts: BrowserAppOptions = {}): Promise<BrowserApp> {
  const dataDir = resolve(opts.dataDir ?? join(BUILD_DIR, 'gateway-data'))
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const doc = opts.doc ?? 'main'
  const logTo = (who: string): ((line: string) => void) | undefined =>
    opts.echo === true ? (line) => { console.log(`  ${who.padEnd(7)} | ${line}`) } : undefined
  const ports = { tcp: await freePort(), ws: opts.wsPort !== undefined && opts.wsPort !== 0 ? opts.wsPort : await freePort() }
  const ownerKeyFile = resolve(opts.ownerKeyFile ?? join(BUILD_DIR, 'owner.key'))
  const { key: owner, created } = await loadOwnerKey(ownerKeyFile)
  const ownerId = peerIdFromPrivateKey(owner).toString()
  logTo('owner')?.(`${created ? 'made a new' : 'using the'} owner key ${ownerKeyFile}: ${ownerId}`)
  const login = new LoginBridge({ owner, lifetimeMs: opts.grantLifetimeMs ?? GRANT_LIFETIME_MS, log: logTo('login') })
  const launch = async (): Promise<MeshNode> => await startGateway({ dataDir, ports, owner, log: logTo('gateway') })

  const launching = launch()
  launching.catch(() => {}) // awaited below, after the bundle: not an unhandled rejection meanwhile
  try {
    await bundleForBrowser({ input: { app: join(HERE, 'app.ts') }, outDir: WWW_DIR, minify: opts.minify === true, sourcemap: true })
  } catch (err) {
    await (await launching.catch(() => undefined))?.stop()
    throw err
  }
  const first = await launching
  let gateway: MeshNode | undefined = first
  const ws = webSocketAddr(first)

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/config.json') {
      const config = { gateway: ws, owner: ownerId, doc, user: login.userOf(req) ?? null }
      res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store' }).end(JSON.stringify(config))
      return
    }
    login.handle(req, res, path).then(answered => {
      if (answered) return
      const file = path === '/' || path === '/index.html' ? join(HERE, 'index.html') : join(WWW_DIR, normalize(path).replace(/^(\.\.[/\\])+/, ''))
      if (!file.startsWith(HERE)) { res.writeHead(404).end(); return }
      readFile(file).then(body => {
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' }).end(body)
      }, () => { res.writeHead(404).end('not found') })
    }, (err: Error) => { res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message) })
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 0, '127.0.0.1', resolve)
    })
  } catch (err) {
    await first.stop()
    throw new Error(`cannot listen on 127.0.0.1:${opts.port ?? 0}: ${(err as { code?: string }).code ?? (err as Error).message} (use --port)`)
  }
  const port = (server.address() as { port: number }).port

  const stopGateway = async (): Promise<void> => {
    const g = gateway
    gateway = undefined
    await g?.stop()
  }
  let stopped: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}/`,
    gatewayWs: ws,
    gatewayPeerId: first.peerId,
    ownerId,
    gateway: () => gateway,
    issuedGrants: login.issued,
    stopGateway,
    startGateway: async () => {
      if (gateway !== undefined) return
      gateway = await launch()
    },
    stop: async () => {
      stopped ??= (async () => {
        server.closeAllConnections()
        await Promise.all([
          stopGateway(),
          new Promise<void>(resolve => { server.close(() => { resolve() }) })
        ])
      })()
      await stopped
    }
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8090' },
      'ws-port': { type: 'string', default: '0' },
      data: { type: 'string' },
      'owner-key': { type: 'string' },
      'grant-seconds': { type: 'string', default: String(GRANT_LIFETIME_MS / 1000) },
      doc: { type: 'string', default: 'main' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    console.log('usage: node_modules/.bin/node --import tsx examples/browser-app/serve.ts [--port 8090] [--ws-port PORT] [--data DIR]\n' +
      '         [--owner-key FILE] [--grant-seconds 600] [--doc NAME]')
    return
  }
  const grantSeconds = Number(values['grant-seconds'])
  if (!(grantSeconds >= 1)) throw new Error(`--grant-seconds must be a number of seconds, 1 or more, not "${values['grant-seconds']}"`)
  console.log('starting the gateway and bundling the app…')
  const app = await startBrowserApp({
    port: Number(values.port),
    wsPort: Number(values['ws-port']),
    doc: values.doc,
    grantLifetimeMs: grantSeconds * 1000,
    echo: true,
    ...(values.data !== undefined ? { dataDir: values.data } : {}),
    ...(values['owner-key'] !== undefined ? { ownerKeyFile: values['owner-key'] } : {})
  })
  console.log(`
  meshdoc notes: open ${app.url}
  and log in with any user name (no password: a real app plugs its own login into login.ts).
  Two browsers (or a normal and a private window) are two devices; log in as the
  same user in both to share that user's notes.

  gateway ${app.gatewayPeerId}
    at ${app.gatewayWs}
    trusts the owner ${app.ownerId}
  type "stop" + Enter to stop the gateway, "start" + Enter to start it again; Ctrl-C quits.
`)
  let quitting = false
  const quit = (sig: string): void => {
    if (quitting) return
    quitting = true
    console.log(`\n${sig}: stopping the gateway and the server…`)
    void app.stop().then(() => { process.exit(0) }, (err: Error) => { console.error(err); process.exit(1) })
  }
  process.on('SIGINT', () => { quit('SIGINT') })
  process.on('SIGTERM', () => { quit('SIGTERM') })
  if (process.stdin.readable) {
    const rl = createInterface({ input: process.stdin })
    rl.on('line', (line) => {
      const cmd = line.trim()
      if (cmd === 'stop') void app.stopGateway().then(() => { console.log('gateway stopped: the pages are offline now and keep working') })
      else if (cmd === 'start') void app.startGateway().then(() => { console.log('gateway started again: the pages reconnect within a few seconds') }, (err: Error) => { console.error(err.message) })
      else if (cmd !== '') console.log('commands: stop, start (the gateway); Ctrl-C quits')
    })
    // stdin closed (e.g. < /dev/null): keep serving until a signal
    rl.on('close', () => {})
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: Error) => {
    console.error(`browser-app: ${err.message}`)
    process.exit(1)
  })
}
