/**
 * `meshdoc tail DOC… [--admin HOST:PORT] [--patch]`: a running gateway's
 * changes to some documents, as they are stored, one JSON object a line on
 * stdout (each line written as it comes, so it pipes to jq). Follows the
 * admin port's `GET /changes` (change-stream.ts) until SIGTERM or SIGINT
 * (exit 0), or until the gateway ends the stream (exit 1).
 */
import http from 'node:http'
import { fromString } from 'uint8arrays/from-string'
import type { CommandSpec } from '../option-spec.js'
import { ADMIN_TOKEN_OPTION, adminUrl, statusHint } from '../admin-client.js'
import { adminTokenFrom } from '../admin-auth.js'
import { parseHostPort, type HostPort } from '../admin-server.js'
import type { ChangeLine } from '../change-stream.js'
import { note, str, type CliIO, type CommandContext } from '../context.js'
import { CliError, UsageError } from '../errors.js'
import { PatchTracker } from '../json-patch.js'

export const spec: CommandSpec = {
  name: 'tail',
  summary: "Print a running gateway's changes to documents as JSON lines, as they are stored.",
  positionals: [{ name: 'DOC', required: true, variadic: true, description: 'a document id, key:<hex>, or a glob matched against the ids the gateway knows ("sensors/*")' }],
  options: {
    admin: { type: 'string', valueName: 'HOST:PORT', default: '127.0.0.1:9464', description: "the gateway's admin address (its --admin)" },
    'admin-token-file': ADMIN_TOKEN_OPTION,
    patch: { type: 'boolean', description: 'print what changed, as a JSON Patch (RFC 6902) from the previous line\'s document, instead of the whole document' },
    timeout: { type: 'string', valueName: 'MS', default: '5000', description: 'give up connecting after this many milliseconds' }
  },
  details: [
    'One line per stored change: {"time", "doc", "origin", "json"}: when it was stored (ISO 8601), the',
    'document (the id as given), who made it (a PeerId, or "local" for the gateway itself), and the',
    'document as JSON after it. With --patch, "patch" replaces "json": the ops that turn the previous',
    'line\'s document into this one (the first line of each document replaces it whole, path "").',
    'Changes are printed from the moment tail is connected (it says so on stderr); none are replayed.',
    'SIGTERM or SIGINT exits 0; a gateway that cannot be reached, or that stops, exits 1.'
  ],
  examples: [
    'meshdoc tail sensors/dev-1',
    "meshdoc tail 'sensors/*' | jq -c '.json.readings[-1]'",
    'meshdoc tail notes/today --patch --admin 127.0.0.1:9464'
  ]
}

export async function run ({ values, positionals, io }: CommandContext): Promise<number> {
  const at = parseHostPort(str(values.admin) ?? '127.0.0.1:9464')
  const timeout = Number(str(values.timeout))
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError('--timeout must be a positive number of milliseconds', 'tail')
  const token = typeof values['admin-token-file'] === 'string' ? adminTokenFrom(values['admin-token-file']) : undefined
  const docs = positionals.map(d => d.trim()).filter(d => d.length > 0)
  if (docs.length === 0) throw new UsageError('name at least one document', 'tail')
  const query = new URLSearchParams(docs.map(d => ['doc', d]))
  if (values.patch === true) query.set('patch', '1')
  return await follow(at, `/changes?${query.toString()}`, { token, timeout, patch: values.patch === true, io, docs })
}

interface FollowOptions { token: string | undefined, timeout: number, patch: boolean, io: CliIO, docs: string[] }

/** Stream the lines until a stop signal (0) or the gateway ends it (a CliError). */
async function follow (at: HostPort, path: string, opts: FollowOptions): Promise<number> {
  const { io } = opts
  const url = adminUrl(at, path)
  const tracker = opts.patch ? new PatchTracker() : undefined
  return await new Promise<number>((resolve, reject) => {
    let done = false
    const finish = (err: Error | undefined, code = 0): void => {
      if (done) return
      done = true
      offSignal()
      req.destroy()
      if (err !== undefined) reject(err)
      else resolve(code)
    }
    const offSignal = io.onStopSignal(() => { finish(undefined) })
    // a reader that went away (`| head -1`): done, not an error
    const out = io.stdout as Partial<NodeJS.WritableStream>
    out.on?.('error', (err: Error & { code?: string }) => { finish(err.code === 'EPIPE' ? undefined : err) })
    const req = http.get({ host: at.host, port: at.port, path, timeout: opts.timeout, headers: opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {} }, (res) => {
      if (res.statusCode !== 200) {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => { if (body.length < 1000) body += c })
        res.on('end', () => {
          const said = body.split('\n')[0].slice(0, 200)
          const hint = res.statusCode === 404 ? ' (a gateway without /changes: is it older than this meshdoc?)' : statusHint(res.statusCode ?? 0)
          finish(new CliError(`${adminUrl(at, '/changes')} answered ${res.statusCode ?? 0} ${res.statusMessage ?? ''}${said.length > 0 ? `: ${said}` : ''}${hint}`.trim()))
        })
        return
      }
      // connected: no timeout while waiting for changes
      req.setTimeout(0)
      note(io, `following ${opts.docs.join(' ')} at ${adminUrl(at, '')} (Ctrl-C to stop)`)
      let buffered = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffered += chunk
        for (;;) {
          const nl = buffered.indexOf('\n')
          if (nl < 0 || done) return
          const text = buffered.slice(0, nl)
          buffered = buffered.slice(nl + 1)
          if (text.trim().length === 0) continue
          let line: ChangeLine
          try {
            line = JSON.parse(text)
          } catch {
            finish(new CliError(`${url} sent a line that is not JSON; is that a meshdoc gateway?`))
            return
          }
          if (line.error !== undefined) {
            finish(new CliError(`the gateway ended the stream: ${line.error === 'slow_reader' ? 'tail read too slowly (is stdout blocked?)' : line.error}`))
            return
          }
          io.stdout.write(JSON.stringify(render(line, tracker)) + '\n')
        }
      })
      res.on('end', () => { finish(new CliError(`the gateway at ${adminUrl(at, '')} ended the stream (it stopped?)`)) })
      res.on('error', () => { finish(new CliError(`the gateway at ${adminUrl(at, '')} ended the stream (it stopped?)`)) })
    })
    req.on('timeout', () => { finish(unreachable(at, url, `no answer within ${opts.timeout} ms`)) })
    req.on('error', (err: Error & { code?: string }) => { finish(unreachable(at, url, err.code ?? err.message)) })
  })
}

function render (line: ChangeLine, tracker: PatchTracker | undefined): Record<string, unknown> {
  const head = { time: line.time, doc: line.doc, origin: line.origin }
  if (tracker === undefined || line.update === undefined) return { ...head, json: line.json }
  const update = fromString(line.update, 'base64pad')
  const state = line.state !== undefined ? fromString(line.state, 'base64pad') : undefined
  return { ...head, patch: tracker.patch(line.keyHex, update, state) }
}

function unreachable (at: HostPort, url: string, why: string): CliError {
  return new CliError(`cannot reach the gateway's admin port at ${url}: ${why} (is \`meshdoc gateway\` running with --admin ${at.host}:${at.port}?)`)
}
