/** `meshdoc status`: peers, open docs and sync lag of a running gateway, from its admin port. */
import type { CommandSpec } from '../option-spec.js'
import { ADMIN_TOKEN_OPTION, adminRequest, adminUrl, statusHint } from '../admin-client.js'
import { adminTokenFrom } from '../admin-auth.js'
import { parseHostPort } from '../admin-server.js'
import { str, type CommandContext } from '../context.js'
import { CliError } from '../errors.js'
import type { NodeSnapshot } from '../node-view.js'
import { formatBytes } from '../progress.js'

export const spec: CommandSpec = {
  name: 'status',
  summary: "Show a running gateway's peers, open documents and their sync lag, read from its admin port.",
  positionals: [],
  options: {
    admin: { type: 'string', valueName: 'HOST:PORT', default: '127.0.0.1:9464', description: "the gateway's admin address (its --admin)" },
    'admin-token-file': ADMIN_TOKEN_OPTION,
    json: { type: 'boolean', description: 'print the raw /status JSON' },
    timeout: { type: 'string', valueName: 'MS', default: '5000', description: 'give up after this many milliseconds' }
  },
  examples: ['meshdoc status', 'meshdoc status --admin 127.0.0.1:9464 --json | jq .openDocs']
}

export async function run ({ values, io }: CommandContext): Promise<number> {
  const at = parseHostPort(str(values.admin) ?? '127.0.0.1:9464')
  const timeout = Number(str(values.timeout))
  if (!Number.isFinite(timeout) || timeout <= 0) throw new CliError('--timeout must be a positive number of milliseconds')
  const url = adminUrl(at, '/status')
  const token = typeof values['admin-token-file'] === 'string' ? adminTokenFrom(values['admin-token-file']) : undefined
  const answer = await adminRequest(at, '/status', { timeout, token })
  if (answer.status !== 200) throw new CliError(`${url} answered ${answer.status} ${answer.statusText}`.trim() + statusHint(answer.status))
  const body = answer.body
  if (values.json === true) {
    io.stdout.write(body.endsWith('\n') ? body : body + '\n')
    return 0
  }
  let snap: NodeSnapshot
  try {
    snap = JSON.parse(body)
  } catch {
    throw new CliError(`${url} did not answer JSON; is that a meshdoc gateway?`)
  }
  io.stdout.write(render(snap))
  return 0
}

function duration (s: number): string {
  if (s < 60) return `${Math.round(s)}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`
}

const n = (x: number): string => x.toLocaleString('en-US')

export function render (s: NodeSnapshot): string {
  const lines = [`gateway ${s.peerId}, up ${duration(s.uptimeSeconds)}`]
  if (s.multiaddrs.length > 0) lines.push('addresses:', ...s.multiaddrs.map(a => `  ${a}`))
  lines.push(`peers: ${s.peers.length}`, ...s.peers.map(p => `  ${p}`))
  const behind = s.openDocs.filter(d => d.lagSeconds > 0)
  lines.push(`documents: ${s.openDocs.length + s.servedDocs} loaded (${s.servedDocs} served by key)${s.storedDocs !== undefined ? `, ${n(s.storedDocs)} stored` : ''}, ${behind.length} behind`)
  if (s.openDocs.length > 0) {
    const docs = [...s.openDocs].sort((a, b) => b.lagSeconds - a.lagSeconds || a.id.localeCompare(b.id))
    const w = Math.min(48, Math.max(8, ...docs.map(d => d.id.length)))
    lines.push(`  ${'DOC'.padEnd(w)}  PEERS  UNSYNCED  LAG     SAVED`)
    for (const d of docs.slice(0, 50)) {
      lines.push(`  ${d.id.padEnd(w)}  ${String(d.peers).padEnd(5)}  ${String(d.unsyncedPeers).padEnd(8)}  ${duration(d.lagSeconds).padEnd(6)}  ${d.saved ? 'yes' : 'no'}`)
    }
    if (docs.length > 50) lines.push(`  … and ${docs.length - 50} more (--json lists all)`)
  }
  const st = s.stats
  lines.push(`traffic: in ${formatBytes(st.bytesIn)} (${n(st.framesIn)} frames), out ${formatBytes(st.bytesOut)} (${n(st.framesOut)} frames)`)
  lines.push(`updates: ${n(st.updatesApplied)} applied, ${n(st.updatesSent)} sent`)
  const rejected = Object.entries(st.rejected).filter(([, v]) => v > 0)
  if (rejected.length > 0) lines.push(`rejected: ${rejected.map(([k, v]) => `${k} ${n(v)}`).join(', ')}`)
  return lines.join('\n') + '\n'
}
