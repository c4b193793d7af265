/**
 * The browser notes app in one command, on 127.0.0.1:
 *
 *   node_modules/.bin/node --import tsx examples/browser-app/serve.ts [--port 8090] [--data DIR]
 *
 * 1. starts `meshdoc gateway` (a child process: fs storage in --data, a
 *    WebSocket listener for browsers, a circuit relay so browsers can reach
 *    each other over WebRTC, which app.ts opts in to);
 * 2. bundles app.ts for browsers with rollup (into examples/browser-app/.build);
 * 3. serves index.html, the bundle and /config.json (the gateway's WebSocket
 *    multiaddr and the document id) and prints the URL.
 *
 * While it runs, type `stop` + Enter to stop the gateway (the pages go
 * offline and keep working), `start` + Enter to bring it back at the same
 * address. Ctrl-C or SIGTERM stops the gateway (it flushes and says BYE),
 * closes the server and exits 0.
 *
 * `startBrowserApp()` does the same for tests and returns { url, gatewayWs, stop }.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { extname, join, normalize, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { bundleForBrowser } from '../../bench/core/browser-bundle.js'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const ROOT = resolve(HERE, '../..')
export const BUILD_DIR = join(HERE, '.build')
const WWW_DIR = join(BUILD_DIR, 'www')
const CLI = join(ROOT, 'bin', 'meshdoc.ts')
const TSX = import.meta.resolve('tsx')
/** the project's Node 24 when it is installed (libp2p needs Node 22 or newer) */
const NODE = existsSync(join(ROOT, 'node_modules/.bin/node')) ? join(ROOT, 'node_modules/.bin/node') : process.execPath

export interface BrowserAppOptions {
  /** HTTP port for the page (0: any free port) */
  port?: number
  /** the gateway's data directory (its identity and the documents it stores) */
  dataDir?: string
  /** the gateway's WebSocket port (0: a free one, fixed for this run so the gateway can be restarted at the same address) */
  wsPort?: number
  /** the shared document's id */
  docId?: string
  /** minify the bundle */
  minify?: boolean
  /** print the gateway's output (prefixed) */
  echo?: boolean
}

export interface BrowserApp {
  /** the page, e.g. http://127.0.0.1:8090/ */
  url: string
  /** the gateway's WebSocket multiaddr (what the page dials) */
  gatewayWs: string
  gatewayPeerId: string
  /** stop the gateway only (SIGTERM: it flushes and says BYE); the page keeps being served */
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

interface Gateway { proc: ChildProcess, exited: Promise<void>, peerId: string, ws: string }

/** Start `meshdoc gateway` and wait for its startup lines (PeerId and WebSocket address, on stderr). */
async function startGateway (dataDir: string, ports: { tcp: number, ws: number }, echo: boolean): Promise<Gateway> {
  const args = ['--import', TSX, CLI, 'gateway', '--data', dataDir,
    '--listen', `/ip4/127.0.0.1/tcp/${ports.tcp}`, '--ws-port', String(ports.ws), '--admin', 'none']
  const proc = spawn(NODE, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  const exited = new Promise<void>(resolve => { proc.once('close', () => { resolve() }) })
  proc.stdout!.resume()
  proc.stderr!.setEncoding('utf8')
  return await new Promise<Gateway>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`the gateway did not start within 30 s:\n${err}`)) }, 30_000)
    let started = false
    proc.stderr!.on('data', (chunk: string) => {
      err += chunk
      if (echo) for (const line of chunk.split('\n')) if (line !== '') console.log(`  gateway | ${line}`)
      if (started) return
      const peerId = /gateway (\S+) \(data/.exec(err)?.[1]
      const ws = /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/\S+)/.exec(err)?.[1]
      if (peerId !== undefined && ws !== undefined) {
        started = true
        clearTimeout(timer)
        resolve({ proc, exited, peerId, ws })
      }
    })
    void exited.then(() => {
      if (started) return
      clearTimeout(timer)
      reject(new Error(`the gateway exited (code ${proc.exitCode}) before it was up:\n${err}`))
    })
  })
}

async function stopProcess (g: Gateway): Promise<void> {
  if (g.proc.exitCode !== null || g.proc.signalCode !== null) return
  g.proc.kill('SIGTERM')
  const timer = setTimeout(() => { g.proc.kill('SIGKILL') }, 25_000)
  await g.exited
  clearTimeout(timer)
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.map': 'application/json', '.html': 'text/html; charset=utf-8', '.json': 'application/json' }

/** Gateway, bundle and HTTP server; see the file comment. */
export async function startBrowserApp (opts: BrowserAppOptions = {}): Promise<BrowserApp> {
  const dataDir = resolve(opts.dataDir ?? join(BUILD_DIR, 'gateway-data'))
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const docId = opts.docId ?? 'notes/shared'
  const echo = opts.echo === true
  const ports = { tcp: await freePort(), ws: opts.wsPort !== undefined && opts.wsPort !== 0 ? opts.wsPort : await freePort() }

  const [first] = await Promise.all([
    startGateway(dataDir, ports, echo),
    bundleForBrowser({ input: { app: join(HERE, 'app.ts') }, outDir: WWW_DIR, minify: opts.minify === true, sourcemap: true })
  ])
  let gateway: Gateway | undefined = first
  const { peerId, ws } = first

  const config = JSON.stringify({ gateway: ws, docId })
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/config.json') { res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store' }).end(config); return }
    const file = path === '/' || path === '/index.html' ? join(HERE, 'index.html') : join(WWW_DIR, normalize(path).replace(/^(\.\.[/\\])+/, ''))
    if (!file.startsWith(HERE)) { res.writeHead(404).end(); return }
    readFile(file).then(body => {
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' }).end(body)
    }, () => { res.writeHead(404).end('not found') })
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 0, '127.0.0.1', resolve)
    })
  } catch (err) {
    await stopProcess(first)
    throw new Error(`cannot listen on 127.0.0.1:${opts.port ?? 0}: ${(err as { code?: string }).code ?? (err as Error).message} (use --port)`)
  }
  const port = (server.address() as { port: number }).port

  const stopGateway = async (): Promise<void> => {
    const g = gateway
    gateway = undefined
    if (g !== undefined) await stopProcess(g)
  }
  let stopped: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}/`,
    gatewayWs: ws,
    gatewayPeerId: peerId,
    stopGateway,
    startGateway: async () => {
      if (gateway !== undefined) return
      gateway = await startGateway(dataDir, ports, echo)
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
      doc: { type: 'string', default: 'notes/shared' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    console.log('usage: node_modules/.bin/node --import tsx examples/browser-app/serve.ts [--port 8090] [--ws-port PORT] [--data DIR] [--doc ID]')
    return
  }
  console.log('starting the gateway and bundling the app…')
  const app = await startBrowserApp({
    port: Number(values.port),
    wsPort: Number(values['ws-port']),
    docId: values.doc,
    echo: true,
    ...(values.data !== undefined ? { dataDir: values.data } : {})
  })
  console.log(`
  meshdoc notes: open ${app.url}
  in two browsers (or a normal and a private window): each is its own device.

  gateway ${app.gatewayPeerId}
    at ${app.gatewayWs}
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
