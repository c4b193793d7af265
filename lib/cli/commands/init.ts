/**
 * `meshdoc init`: set up a data directory for a gateway or a device: the
 * store and identity key (0700), and for a gateway a commented config file
 * and policy skeleton beside them; then print the next steps.
 */
import { existsSync } from 'node:fs'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DATA_OPTION } from '../args.js'
import type { CommandSpec } from '../option-spec.js'
import { note, type CommandContext } from '../context.js'
import { dataDirFrom, identityIn, openStore } from '../data-dir.js'
import { UsageError } from '../errors.js'
import { DEFAULT_LISTEN, DEFAULT_WS_PORT } from '../listen.js'
import { packageRoot } from '../version.js'

export const spec: CommandSpec = {
  name: 'init',
  summary: 'Set up a data directory for a gateway (identity, config file, policy skeleton) or a device (identity), and print the next steps.',
  positionals: [{ name: 'KIND', required: false, description: '"gateway" (default) or "device"' }],
  options: {
    data: DATA_OPTION,
    force: { type: 'boolean', noEnv: true, noConfig: true, description: 'overwrite gateway.json and policy.json if they exist (the identity is never replaced)' }
  },
  details: [
    'Creates the data directory (mode 0700) and the node\'s identity key, unless it has one.',
    'For a gateway, also writes gateway.json (for --config) and policy.json (access rules) in it;',
    'existing files are kept unless --force. Running init again changes nothing and prints the steps again.'
  ],
  examples: ['meshdoc init --data /var/lib/meshdoc', 'meshdoc init device --data ./dev-a']
}

export async function run ({ values, positionals, io, platform }: CommandContext): Promise<number> {
  const kind = positionals[0] ?? 'gateway'
  if (kind !== 'gateway' && kind !== 'device') throw new UsageError(`KIND must be "gateway" or "device", not "${kind}"`, 'init')
  const dataDir = dataDirFrom(values.data, io.env, io.cwd)
  const storage = await openStore(platform, dataDir)
  let peerId: string
  try {
    const id = await identityIn(storage)
    peerId = id.peerId
    note(io, id.created ? `created ${dataDir} with a new identity ${peerId}` : `${dataDir} already has an identity (${peerId}); kept`)
  } finally {
    await storage.close?.()
  }
  const steps = kind === 'gateway'
    ? gatewaySteps(dataDir, peerId, await writeGatewayFiles(dataDir, values.force === true, io))
    : deviceSteps(dataDir, peerId)
  io.stdout.write(steps.join('\n') + '\n')
  return 0
}

async function writeGatewayFiles (dataDir: string, force: boolean, io: CommandContext['io']): Promise<string> {
  const config = join(dataDir, 'gateway.json')
  const files: Array<[string, unknown]> = [
    [config, {
      '//': 'meshdoc gateway --config gateway.json. Keys are the flag names of `meshdoc gateway --help`; relative paths are relative to this file; flags and MESHDOC_* variables override them.',
      data: '.',
      listen: DEFAULT_LISTEN,
      '//ws-port': 'WebSocket port for browsers, on the first listen host; "none" turns it off',
      'ws-port': Number(DEFAULT_WS_PORT),
      '//admin': 'local HTTP port: /healthz, /metrics (Prometheus), /status, /docs',
      admin: '127.0.0.1:9464',
      '//allow': 'only these PeerIds may connect at all (every transport); empty: anyone who can reach the ports. A device prints its id with `meshdoc id --data DIR`',
      allow: [],
      policy: 'policy.json',
      '//bootstrap': 'other gateways to stay connected to: /ip4/<host>/tcp/4001/p2p/<their PeerId>',
      bootstrap: [],
      mdns: false,
      '//quota': 'what each writer may store: bytes of edits and number of documents',
      'quota-bytes': '1GiB',
      'quota-docs': 10000
    }],
    [join(dataDir, 'policy.json'), {
      '//': 'Who may read or write which document: the first rule that matches the peer and the doc wins; "default" applies when none does. access: none, read or write. As written, nobody may read or write anything: add rules.',
      '//docs': 'A gateway serves documents by key and never learns their ids: list exact ids ("sensors/dev-1") or "**". A glob such as "sensors/**" cannot match a document served by key (meshdoc warns at start-up).',
      '//example': { peers: ['<a dashboard\'s PeerId>'], docs: ['sensors/dev-1', 'sensors/dev-2'], access: 'read' },
      default: 'none',
      rules: []
    }]
  ]
  for (const [file, content] of files) {
    const text = JSON.stringify(content, null, 2) + '\n'
    try {
      // never through a symlink, never over a file unless --force; private either way
      await writeFile(file, text, { mode: 0o600, flag: force ? 'w' : 'wx' })
      if (force) await chmod(file, 0o600)
      note(io, `wrote ${file}`)
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err
      note(io, `kept ${file} (--force overwrites it)`)
    }
  }
  return config
}

function gatewaySteps (dataDir: string, peerId: string, config: string): string[] {
  const unit = packageRoot !== undefined ? join(packageRoot, 'examples', 'iot-gateway', 'meshdoc-gateway.service') : undefined
  return [
    `gateway ${peerId}`,
    '',
    'next steps:',
    '  1. admit your devices:  put their ids (meshdoc init device, or meshdoc id --data <device dir>) in "allow"',
    `     of ${config}, and rules in ${join(dataDir, 'policy.json')} (until then no document may be read or written)`,
    `  2. start it:            meshdoc gateway --config ${config}`,
    `  3. point devices at it:  /ip4/<this host's address>/tcp/4001/p2p/${peerId}`,
    `                           (browsers: /ip4/<address>/tcp/${DEFAULT_WS_PORT}/ws/p2p/${peerId})`,
    `  4. run it as a service:  ${unit !== undefined && existsSync(unit) ? unit : 'examples/iot-gateway/meshdoc-gateway.service in the meshdoc package'}`,
    '     (copy it to /etc/systemd/system/ and set its --config path)'
  ]
}

function deviceSteps (dataDir: string, peerId: string): string[] {
  return [
    `device ${peerId}`,
    '',
    'next steps:',
    `  1. allow it on the gateway: add ${peerId} to "allow" in its gateway.json (or --allow)`,
    '  2. use this directory from your app:',
    '',
    "       import { createMeshNode, loadOrCreateIdentity } from 'meshdoc'",
    "       import { FsStorageAdapter } from 'meshdoc/adapters/fs-storage'",
    `       const storage = new FsStorageAdapter(${JSON.stringify(dataDir)})`,
    '       const node = await createMeshNode({ storage, privateKey: await loadOrCreateIdentity(storage),',
    "         bootstrap: ['/ip4/<gateway address>/tcp/4001/p2p/<gateway PeerId>'] })",
    '',
    `  3. see what it holds:     meshdoc ls --data ${dataDir}`
  ]
}
