/**
 * `meshdoc gateway` for the F1 fleet bench (bench/scenarios/gateway-fleet.ts):
 * the real CLI, same flags, data directory and signals: this checkout's
 * (bin/meshdoc.ts), or with MESHDOC_BENCH_BUILD=DIR a build's
 * (DIR/dist/cli/meshdoc.js; DIR holds that build's package.json, so that
 * `meshdoc` resolves to it).
 *
 * MESHDOC_BENCH_OWN_HOSTS=1: every inbound connection counts as a host of its
 * own, as devices on their own addresses would (every bench device dials from
 * 127.0.0.1): a loader hook wraps libp2p's `createLibp2p` so that meshdoc's
 * connection gater sees a distinct remote address per connection (its
 * per-host limits: 128 open, 4 in their handshake), and libp2p's per-host
 * rate (`inboundConnectionThreshold`) is lifted. What stays: the handshakes
 * at once in all (--max-handshakes) and --max-connections. Nothing of
 * meshdoc's code is changed, in either build.
 *
 *   [MESHDOC_BENCH_OWN_HOSTS=1] node --max-semi-space-size=2 --import tsx bench/fleet-gateway.ts gateway --data DIR …
 *   MESHDOC_BENCH_BUILD=DIR [MESHDOC_BENCH_OWN_HOSTS=1] node --max-semi-space-size=2 bench/fleet-gateway.mjs gateway …
 *
 * Plain JavaScript, so that a build's gateway runs as users run it: no tsx
 * and no type stripping (each costs the process 16–35 MB of RSS: tsx a
 * hooks thread, Node's stripping its compiler); bench/fleet-gateway.ts is
 * the same under tsx, for this checkout's sources.
 *
 * (--max-semi-space-size=2: what bin/meshdoc.js gives a gateway it launches.)
 */
import * as nodeModule from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

if (process.env.MESHDOC_BENCH_OWN_HOSTS === '1') {
  const libp2p = import.meta.resolve('libp2p')
  const multiaddr = import.meta.resolve('@multiformats/multiaddr')
  const shim = 'meshdoc-bench:libp2p-own-hosts'
  const source = `
import * as real from ${JSON.stringify(libp2p)}
import { multiaddr } from ${JSON.stringify(multiaddr)}
export * from ${JSON.stringify(libp2p)}
const fakes = new WeakMap()
let seq = 0
function own (maConn) {
  let f = fakes.get(maConn)
  if (f !== undefined) return f
  const n = ++seq
  const addr = multiaddr('/ip4/10.' + ((n >> 16) & 255) + '.' + ((n >> 8) & 255) + '.' + (n & 255) + '/tcp/1')
  f = new Proxy(maConn, { get (t, k) { if (k === 'remoteAddr') return addr; const v = Reflect.get(t, k, t); return typeof v === 'function' ? v.bind(t) : v } })
  fakes.set(maConn, f)
  return f
}
export async function createLibp2p (opts = {}) {
  const g = opts.connectionGater ?? {}
  const gater = { ...g }
  if (g.denyInboundConnection !== undefined) gater.denyInboundConnection = (c) => g.denyInboundConnection(own(c))
  if (g.denyInboundUpgradedConnection !== undefined) gater.denyInboundUpgradedConnection = (p, c) => g.denyInboundUpgradedConnection(p, own(c))
  return await real.createLibp2p({ ...opts, connectionGater: gater, connectionManager: { ...opts.connectionManager, inboundConnectionThreshold: 1_000_000 } })
}`
  const hooks = `
const SHIM = ${JSON.stringify(shim)}
export async function resolve (specifier, context, next) {
  if (specifier === 'libp2p' && context.parentURL !== SHIM) return { url: SHIM, shortCircuit: true }
  return await next(specifier, context)
}
export async function load (url, context, next) {
  if (url === SHIM) return { format: 'module', source: ${JSON.stringify(source)}, shortCircuit: true }
  return await next(url, context)
}`
  const registerHooks = nodeModule.registerHooks
  if (process.env.MESHDOC_BENCH_BUILD !== undefined && registerHooks !== undefined) {
    // a build runs without tsx: the same hooks in this thread (`register` starts a hooks
    // thread, some 35 MB of RSS a real gateway does not have)
    registerHooks({
      resolve: (specifier, context, next) =>
        specifier === 'libp2p' && context.parentURL !== shim ? { url: shim, shortCircuit: true } : next(specifier, context),
      load: (url, context, next) =>
        url === shim ? { format: 'module', source, shortCircuit: true } : next(url, context)
    })
  } else {
    nodeModule.register(`data:text/javascript,${encodeURIComponent(hooks)}`)
  }
  process.stderr.write('meshdoc bench: every inbound connection counted as its own host; libp2p inboundConnectionThreshold 1,000,000/s\n')
}

const build = process.env.MESHDOC_BENCH_BUILD
// by URL: bin/meshdoc.js is the plain-JS launcher, not the CLI
await import(build !== undefined && build !== '' ? pathToFileURL(join(build, 'dist', 'cli', 'meshdoc.js')).href : new URL('../bin/meshdoc.ts', import.meta.url).href)
