/**
 * `meshdoc gateway`: an always-on peer. Persistent identity and fs storage in
 * --data, TCP and WebSocket listeners, bootstrap peers and mDNS, a circuit
 * relay for browsers, grants (owners it trusts, grants it holds, revocations),
 * and a local admin port (/healthz, /metrics, /status, /docs, /grants, POST /revocations,
 * and the HTTP document API: /docs/ID, /docs/ID/update; a token required off loopback).
 * SIGTERM or SIGINT: flush every document, say BYE to peers, exit 0.
 */
import { logger } from '../../log.js'
import type { MeshNode, MeshNodeOptions } from '../../mesh-node.js'
import { DATA_OPTION, MESH_KEY_OPTION } from '../args.js'
import type { CommandSpec } from '../option-spec.js'
import { AdminServer, parseHostPort, type HeldGrantInfo, type HostPort, type RevocationInfo } from '../admin-server.js'
import { adminTokenFrom, isLoopbackHost } from '../admin-auth.js'
import { nodeDocStore } from '../doc-api-store.js'
import { list, note, str, type CliIO, type CommandContext } from '../context.js'
import { cachedStoredDocs } from '../stored-docs.js'
import { dataDirFrom, dataDirIsOpen, identityIn, openStore, storedDocCounter } from '../data-dir.js'
import { CliError, UsageError } from '../errors.js'
import { checkHeldGrants, checkRevocations, readEntries, trustedOwners, type HeldGrant } from '../grant-inputs.js'
import { bootstrapAddrs, DEFAULT_LISTEN, DEFAULT_WS_PORT, listenAddrs } from '../listen.js'
import { NodeMetrics } from '../metrics.js'
import { NodeView } from '../node-view.js'
import { meshKeyFrom, policyFrom, swarmKeyFrom } from '../node-inputs.js'
import { checkPeerIds } from '../../policy/rules.js'
import { formatBytes, Progress } from '../progress.js'
import { timeCommits } from '../timed-storage.js'
import { version } from '../version.js'
import { WRITER_OPTIONS, writerOptions } from '../writers.js'
import { FLEET_OPTIONS, fleetOptions } from '../fleet-limits.js'
import { YWS_OPTIONS, ywsOptions } from '../yws-options.js'
import { startWebhooks, WEBHOOK_OPTIONS, webhookOptions } from '../webhook-options.js'
import { changeStream } from '../change-stream.js'
import type { Webhooks } from '../../feed/webhooks.js'
import type { YwsBridge } from '../../yws-bridge.js'
import { GrantError, type Grant } from '../../grants/grant.js'

const log = logger('gateway')

const SHUTDOWN_TIMEOUT_MS = 20_000

export const spec: CommandSpec = {
  name: 'gateway',
  summary: 'Run an always-on peer that stores and serves every document its policy allows.',
  positionals: [],
  options: {
    data: DATA_OPTION,
    listen: { type: 'string', multiple: true, valueName: 'MULTIADDR', default: DEFAULT_LISTEN, description: 'TCP address to listen on' },
    'ws-port': { type: 'string', valueName: 'PORT', default: DEFAULT_WS_PORT, description: 'WebSocket port (for browsers) on the first --listen host; "none" disables' },
    bootstrap: { type: 'string', multiple: true, valueName: 'MULTIADDR', description: 'peer to stay connected to (redialled with backoff)' },
    mdns: { type: 'boolean', description: 'find peers on the local network by mDNS' },
    'mdns-tag': { type: 'string', valueName: 'NAME', description: 'mDNS service name, so that fleets sharing a LAN find only their own (default: meshdoc\'s)' },
    'no-relay': { type: 'boolean', description: 'do not run a circuit-relay server for browsers' },
    'no-peer-exchange': { type: 'boolean', description: 'do not tell peers which browsers hold a relay reservation (they then cannot find each other for WebRTC)' },
    admin: { type: 'string', valueName: 'HOST:PORT', default: '127.0.0.1:9464', description: 'admin HTTP port (/healthz /metrics /status /docs /grants, POST /revocations, the document API /docs/ID); "none" disables' },
    'admin-token-file': { type: 'string', valueName: 'FILE', path: true, description: 'every admin request but /healthz must send this token (Authorization: Bearer …); required when --admin is not loopback' },
    allow: { type: 'string', multiple: true, valueName: 'PEERID', description: 'only these peers may connect (every transport)' },
    policy: { type: 'string', valueName: 'FILE', path: true, description: 'per-document access rules (JSON, see examples/iot-gateway)' },
    open: { type: 'string', multiple: true, valueName: 'DOC', description: 'keep this document loaded at all times' },
    'mesh-key-file': MESH_KEY_OPTION,
    'swarm-key-file': { type: 'string', valueName: 'FILE', path: true, description: 'libp2p private-network swarm key file (an extra layer; use --allow too)' },
    'trust-owner': { type: 'string', multiple: true, valueName: 'PEERID', description: 'honour grants from this owner (meshdoc keys new prints its id): a peer then gets what its grants allow, within --policy' },
    'grant-file': { type: 'string', multiple: true, valueName: 'FILE', path: true, description: 'grants to this gateway (mdg1.…, one a line), presented to peers that check grants' },
    'revocation-file': { type: 'string', multiple: true, valueName: 'FILE', path: true, description: 'revocations to put in force (mdr1.…, one a line; meshdoc revoke prints them)' },
    ...WRITER_OPTIONS,
    ...FLEET_OPTIONS,
    ...YWS_OPTIONS,
    ...WEBHOOK_OPTIONS
  },
  details: [
    'Startup lines (PeerId, addresses, admin URL) go to stderr; nothing is written to stdout.',
    'SIGTERM or SIGINT flushes every document, says goodbye to peers and exits 0;',
    'a second signal, a second or more after the first, exits at once.',
    'Writers are held to a storage quota each (bytes of edits stored, documents created; kept in --data,',
    "so it survives restarts), and may not write under another peer's clientID; see docs/SECURITY.md.",
    'With --trust-owner, a peer needs a valid grant from an owner (meshdoc grant) to sync anything, and gets',
    'no more than its grants and --policy both allow; an owner itself gets what --policy allows.',
    'Grants and revocations given (files, or POST /revocations on the admin port: meshdoc revoke --admin)',
    'are kept in --data: they stay in force after a restart, also once the file is gone.',
    'The admin port also serves the HTTP document API (GET /docs/ID, GET and POST /docs/ID/update): it reads and',
    "writes documents as the gateway itself, within what --policy gives the gateway's own PeerId; bound off",
    'loopback it needs --admin-token-file (README, "HTTP document API"; docs/SECURITY.md).',
    'A fleet behind one NAT shares one host\'s limits: raise --connections-per-host and --handshakes-per-host',
    '(and --max-connections past about 1,000 devices); README, "A fleet on one gateway".',
    'With --webhook, each document\'s changes are POSTed at least once and in order (signed with --webhook-secret-file,',
    'kept in --data until the receiver answers 2xx, so a restart resends only what it had not taken); README, "Get data out".',
    'With --yws, y-websocket clients (an unchanged WebsocketProvider) join at ws://HOST:PORT/<room>, the room',
    'being the doc id; a bearer token as ?token= (meshdoc grant --bearer; a plain grant is refused) gives them',
    'what its grant allows, else they get what --policy gives any peer; README, "Use it with existing Yjs apps".'
  ],
  examples: [
    'meshdoc gateway --data /var/lib/meshdoc',
    'meshdoc gateway --config /etc/meshdoc/gateway.json',
    'MESHDOC_DATA=./data MESHDOC_LISTEN=/ip4/127.0.0.1/tcp/4001 meshdoc gateway --mdns',
    'meshdoc gateway --trust-owner 12D3KooW… --grant-file gateway.grants'
  ]
}

export async function run ({ values, io, platform }: CommandContext): Promise<number> {
  // everything that can be a usage or config error is checked before anything starts
  const dataDir = dataDirFrom(values.data, io.env, io.cwd)
  const listen = listenAddrs(list(values.listen), str(values['ws-port']))
  const bootstrap = bootstrapAddrs(list(values.bootstrap))
  const adminArg = str(values.admin) ?? 'none'
  const adminAt = adminArg === 'none' ? undefined : parseHostPort(adminArg)
  const adminToken = typeof values['admin-token-file'] === 'string' ? adminTokenFrom(values['admin-token-file']) : undefined
  if (adminAt !== undefined && adminToken === undefined && !isLoopbackHost(adminAt.host)) {
    throw new UsageError(`--admin ${adminArg} is not a loopback address: anyone who reaches it could read and write documents; give --admin-token-file FILE (requests then send Authorization: Bearer TOKEN), or bind it to 127.0.0.1`, 'gateway')
  }
  const allow = list(values.allow)
  const meshKey = meshKeyFrom(values['mesh-key-file'], io.env)
  const policy = policyFrom(values.policy, meshKey, line => { note(io, `warning: ${line}`) })
  const swarmKey = swarmKeyFrom(values['swarm-key-file'])
  const writers = writerOptions(values)
  const fleet = fleetOptions(values)
  const yws = ywsOptions(values)
  const hookOptions = webhookOptions(values, io)
  const startBridge = platform.ywsBridge
  if (yws !== undefined && startBridge === undefined) throw new UsageError('--yws: this platform has no y-websocket endpoint', 'gateway')
  const owners = trustedOwners(list(values['trust-owner']), 'gateway')
  const grantEntries = readEntries(list(values['grant-file']), 'grant')
  const revocations = await checkRevocations(readEntries(list(values['revocation-file']), 'revocation'), owners)

  const metrics = new NodeMetrics({ version })
  const storage = timeCommits(await openStore(platform, dataDir), metrics.observeCommit)
  const identity = await identityIn(storage)
  let held: HeldGrant[]
  try {
    held = checkHeldGrants(grantEntries, identity.peerId)
  } catch (err) {
    await storage.close?.()
    throw err
  }
  if (identity.created) note(io, `created a new identity in ${dataDir}`)
  if (await dataDirIsOpen(dataDir)) note(io, `warning: other users can read ${dataDir}, which holds the node's private key; run chmod 700 ${dataDir}`)
  try {
    checkPeerIds(allow, '--allow')
  } catch (err) {
    throw new UsageError((err as Error).message, 'gateway')
  }
  if (allow.length > 0) {
    for (const p of bootstrap.peers) if (!allow.includes(p)) note(io, `warning: bootstrap peer ${p} is not in --allow; it will be refused`)
  }

  const opts: MeshNodeOptions = {
    storage,
    listen,
    bootstrap: bootstrap.addrs,
    privateKey: identity.privateKey,
    serveAllDocs: true,
    relay: values['no-relay'] !== true,
    peerExchange: values['no-peer-exchange'] !== true,
    mdns: values.mdns === true ? (str(values['mdns-tag']) !== undefined ? { serviceTag: str(values['mdns-tag']) } : true) : false,
    ...writers,
    ...fleet,
    ...(policy !== undefined ? { policy } : {}),
    ...(allow.length > 0 ? { allowPeers: allow } : {}),
    ...(meshKey !== undefined ? { meshKey } : {}),
    ...(swarmKey !== undefined ? { swarmKey } : {}),
    ...(owners.length > 0 ? { trust: { owners } } : {}),
    ...(held.length > 0 ? { grants: held.map(h => h.text) } : {}),
    ...(revocations.length > 0 ? { revocations } : {})
  }
  let node: MeshNode
  try {
    node = await platform.createMeshNode(opts)
  } catch (err) {
    await storage.close?.()
    throw new CliError(`cannot start the node on ${listen.join(', ')}: ${listenFailure((err as Error).message)}`)
  }
  node.on('peer:connect', (p) => { log('peer connected %s', p) })
  node.on('peer:disconnect', (p) => { log('peer disconnected %s', p) })
  node.on('grant:refused', (r) => { log('refused a grant from %s: %s: %s', r.peer, r.reason, r.message) })
  node.on('revoked', (r) => { note(io, `revocation ${r.id} in force: ${r.kind === 'grant' ? `grant ${r.target}` : `every grant to ${r.target}`}`) })

  let healthy = true
  let bridge: YwsBridge | undefined
  const view = new NodeView(node, storedDocCounter(dataDir), () => bridge?.stats)
  const admin = new AdminServer({
    snapshot: async () => await view.snapshot(),
    docs: cachedStoredDocs(dataDir, storage),
    grants: () => node.grants.map(grantInfo),
    revoke: revokeAt(node, owners),
    metrics,
    healthy: () => healthy,
    docApi: nodeDocStore(node, policy),
    changes: changeStream(node, meshKey),
    ...(adminToken !== undefined ? { token: adminToken } : {})
  })
  let adminBound: HostPort | undefined
  let stopSync = (): void => {}
  let webhooks: Webhooks | undefined
  try {
    // after the node (they follow its changes), before the docs it keeps open
    webhooks = await startWebhooks(hookOptions, { node, storage, dataDir, metrics })
    for (const doc of list(values.open)) {
      const h = await node.open(doc)
      h.on('error', (err) => { note(io, `document ${doc}: ${err.message}`) })
    }
    if (adminAt !== undefined) {
      try {
        adminBound = await admin.listen(adminAt)
      } catch (err) {
        throw new CliError(`cannot open the admin port ${adminArg}: ${(err as { code?: string }).code ?? (err as Error).message} (use --admin HOST:PORT or --admin none)`)
      }
      // a name (localhost) that resolved off loopback: refused as an address would have been
      if (adminToken === undefined && !isLoopbackHost(adminBound.host)) throw new UsageError(`--admin ${adminArg} bound ${adminBound.host}, not a loopback address: give --admin-token-file FILE`, 'gateway')
    }
    if (yws !== undefined && startBridge !== undefined) {
      try {
        bridge = await startBridge(node, { host: yws.at.host, port: yws.at.port, prefix: yws.prefix, meshKey, maxConnections: fleet.maxConnections, maxConnectionsPerHost: fleet.inboundConnectionsPerHost })
      } catch (err) {
        throw new CliError(`cannot open the y-websocket port ${str(values.yws) ?? ''}: ${(err as { code?: string }).code ?? (err as Error).message} (use --yws HOST:PORT)`)
      }
    }
    note(io, `gateway ${node.peerId} (data ${dataDir})`)
    for (const a of node.multiaddrs) note(io, `listening on ${a}`)
    // the node starts without a grant a revocation it keeps voids (offline first): say which line of which file
    const holds = new Set(node.grants.map(g => g.id))
    for (const h of held) if (!holds.has(h.grant.id)) note(io, `warning: grant file ${h.file} line ${h.line}: grant ${h.grant.id} is revoked here; running without it`)
    note(io, `grants: trusting ${owners.length} owner(s)${owners.length > 0 ? ' (a peer needs a grant from one to sync)' : " (peers' grants are not checked)"}, holding ${node.grants.length} grant(s)${revocations.length > 0 ? `, ${revocations.length} revocation(s) from files` : ''}`)
    if (adminBound !== undefined) note(io, `admin http://${adminBound.host.includes(':') ? `[${adminBound.host}]` : adminBound.host}:${adminBound.port} (/healthz /metrics /status /docs /grants /docs/ID${adminToken !== undefined ? '; token required' : ''})`)
    for (const h of webhooks?.hooks ?? []) note(io, `webhook ${h.label}${h.pendingDocs > 0 ? `: ${h.pendingDocs} document(s) still to deliver` : ''}`)
    if (bridge !== undefined) note(io, `y-websocket ${bridge.url} (new WebsocketProvider(url, room, doc): the room is the doc id${owners.length > 0 ? '; a bearer token (meshdoc grant --bearer) as ?token= required' : ''})`)
    if (bootstrap.addrs.length > 0 || values.mdns === true) stopSync = showInitialSync(node, io)

    const signal = await new Promise<string>(resolve => {
      const off = io.onStopSignal(sig => { off(); resolve(sig) })
    })
    note(io, `${signal}: flushing documents and saying goodbye to ${node.peers.length} peer(s)`)
  } finally {
    stopSync()
    healthy = false
    // y-websocket clients first (told to come back later, 1001); what they wrote and the node applied is flushed with the node
    await bridge?.close()
    // before the node: they write to its storage (what is not delivered by then is after the restart)
    await webhooks?.stop()
    await shutdown(node, view, admin, metrics)
  }
  note(io, 'stopped')
  return 0
}

/** POST /revocations: the node's addRevocation; a GrantError (the admin port's 400) says why it was refused. */
function revokeAt (node: MeshNode, owners: readonly string[]): (record: string) => Promise<RevocationInfo> {
  return async (record) => {
    try {
      const r = await node.addRevocation(record)
      return { id: r.id, kind: r.kind, target: r.target }
    } catch (err) {
      if (err instanceof GrantError && err.reason === 'unknown_owner' && owners.length === 0) throw new GrantError(err.reason, `${err.message} (this gateway trusts no owner: start it with --trust-owner)`)
      throw err
    }
  }
}

function grantInfo (g: Grant): HeldGrantInfo {
  return { id: g.id, issuer: g.issuer, access: g.access, docs: g.docs, notBefore: new Date(g.notBefore).toISOString(), expiresAt: new Date(g.expiresAt).toISOString(), delegate: g.delegate }
}

/** libp2p's listen error, without its stack traces: "ADDR: address already in use (EADDRINUSE)" per address. */
function listenFailure (message: string): string {
  const per = [...message.matchAll(/^\s*(\/\S+): Error: (?:listen )?([A-Z]+): ([^\n]*?)(?: [0-9a-f.:[\]]+:\d+)?$/gm)].map(m => `${m[1]}: ${m[3]} (${m[2]})`)
  return per.length > 0 ? per.join('; ') : message.split('\n')[0]
}

async function shutdown (node: MeshNode, view: NodeView, admin: AdminServer, metrics: NodeMetrics): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new CliError(`shutdown did not finish within ${SHUTDOWN_TIMEOUT_MS / 1000} s; changes not yet committed may be lost`)) }, SHUTDOWN_TIMEOUT_MS)
  })
  try {
    view.close()
    metrics.stop()
    await Promise.race([node.stop(), timeout])
  } finally {
    clearTimeout(timer)
    await admin.close()
  }
}

/**
 * While the first sync after start-up runs (bytes keep arriving), draw bytes
 * received and documents open on stderr; it ends after 2 s without traffic.
 * Draws nothing when stderr is not a terminal. Returns a function that stops it.
 */
function showInitialSync (node: MeshNode, io: CliIO): () => void {
  const progress = new Progress(io.stderr, { label: 'initial sync' })
  if (!progress.enabled) return () => {}
  const start = node.stats.bytesIn
  let last = start
  let idleSince = Date.now()
  const timer = setInterval(() => {
    const s = node.stats
    if (s.bytesIn !== last) { last = s.bytesIn; idleSince = Date.now() }
    progress.update({ bytes: s.bytesIn - start, docs: node.openDocs.length + node.servedDocCount, phase: `${node.peers.length} peer(s)` })
    if (last > start && Date.now() - idleSince > 2000) {
      stop()
      progress.done(`meshdoc: initial sync: ${formatBytes(last - start)} received, ${node.openDocs.length + node.servedDocCount} document(s) open`)
    }
  }, 200)
  timer.unref()
  const stop = (): void => { clearInterval(timer) }
  return () => { stop(); progress.done() }
}
