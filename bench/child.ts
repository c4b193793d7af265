/**
 * Entry point of every benchmark child process:
 *   node --import tsx bench/child.ts <role> '<json options>'
 * The role sets up (a meshdoc node, a y-websocket server, ...) and then
 * answers the runner's calls until told to exit.
 */
import { installSocketCounter } from './core/net-bytes.js'
import { failed, serve } from './core/rpc.js'
import type { RoleFactory } from './roles/types.js'

installSocketCounter()

const roles: Record<string, () => Promise<{ default: RoleFactory }>> = {
  mesh: async () => await import('./roles/mesh.js'),
  floor: async () => await import('./roles/floor.js'),
  'yws-server': async () => await import('./roles/yws-server.js'),
  'yws-client': async () => await import('./roles/yws-client.js'),
  'yws-batched': async () => await import('./roles/yws-batched.js'),
  'yws-raw-server': async () => await import('./roles/yws-raw-server.js'),
  'yws-gateway': async () => await import('./roles/yws-gateway.js'),
  resync: async () => await import('./roles/resync.js'),
  mesh50: async () => await import('./roles/mesh50.js'),
  sink: async () => await import('./roles/sink.js'),
  source: async () => await import('./roles/source.js'),
  fleet: async () => await import('./roles/fleet.js'),
  'fleet-devices': async () => await import('./roles/fleet-devices.js'),
  gateway: async () => await import('./roles/gateway.js')
}

const [name, json] = process.argv.slice(2)
try {
  const load = roles[name]
  if (load === undefined) throw new Error(`unknown role ${name}`)
  const role = await (await load()).default(JSON.parse(json ?? '{}'))
  serve(role.info, role.handlers, role.close)
} catch (err) {
  failed(err as Error)
  process.exitCode = 1
}
