/**
 * A webhook receiver for a meshdoc gateway: checks each request's signature,
 * drops a batch it has already taken (by its idempotency key, kept in a file
 * so a restarted sink still knows them), and prints every reading the batch
 * added, one JSON line each on stdout:
 *
 *   node --import tsx examples/webhook-sink/sink.ts --port 8787 --secret-file webhook.secret
 *
 * {"doc":"sensors/dev-1","reading":{"s":"temperature","t":1764...,"v":21.4}}
 *
 * Answers 200 once a batch is taken (or was taken before), 401 for a bad
 * signature, 400 for a body that is not a batch. SIGINT or SIGTERM stops it.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { addedValues, verifySignature, type Batch } from './receiver.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8787' },
    host: { type: 'string', default: '127.0.0.1' },
    'secret-file': { type: 'string' },
    seen: { type: 'string', default: '.tmp/webhook-sink.seen' },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (values.help) {
  console.log(`usage: sink.ts [--port N] [--host HOST] [--secret-file FILE] [--seen FILE]
  Receives a meshdoc gateway's webhook requests and prints each reading once, as JSON lines.
  --secret-file FILE   the gateway's --webhook-secret-file: requests without its signature are refused
  --seen FILE          where the idempotency keys of batches taken are kept (default .tmp/webhook-sink.seen)`)
  process.exit(0)
}

const secret = values['secret-file'] !== undefined ? readFileSync(values['secret-file'], 'utf8').replace(/\s+$/, '') : undefined
if (secret === undefined) console.error('sink: no --secret-file: signatures are not checked')
const seenFile = values.seen
mkdirSync(dirname(seenFile), { recursive: true })
const seen = new Set(existsSync(seenFile) ? readFileSync(seenFile, 'utf8').split('\n').filter(k => k.length > 0) : [])

const server = createServer((req, res) => {
  void body(req).then((raw) => {
    if (secret !== undefined && !verifySignature(secret, raw, req.headers['x-meshdoc-signature'] as string | undefined)) {
      console.error('sink: refused a request with a bad signature')
      res.writeHead(401).end()
      return
    }
    let batch: Batch
    try {
      batch = JSON.parse(raw.toString('utf8'))
      if (typeof batch.idempotencyKey !== 'string' || typeof batch.update !== 'string') throw new Error('not a batch')
    } catch {
      res.writeHead(400).end()
      return
    }
    if (seen.has(batch.idempotencyKey)) {
      console.error(`sink: ${batch.doc}: batch ${batch.idempotencyKey} again, dropped`)
      res.writeHead(200).end()
      return
    }
    for (const reading of addedValues(batch)) process.stdout.write(JSON.stringify({ doc: batch.doc, reading }) + '\n')
    // taken: remembered before it is acknowledged, so a sink restart does not take it twice
    appendFileSync(seenFile, batch.idempotencyKey + '\n')
    seen.add(batch.idempotencyKey)
    res.writeHead(200).end()
  }, () => { res.writeHead(400).end() })
})

async function body (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

server.listen(Number(values.port), values.host, () => {
  console.error(`sink: listening on http://${values.host}:${(server.address() as { port: number }).port}/ (${seen.size} batches taken before)`)
})
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    server.closeAllConnections()
    server.close(() => { process.exit(0) })
  })
}
