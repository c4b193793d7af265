/**
 * `meshdoc gateway --webhook URL`, with real parts: the gateway as a separate
 * process, sensor devices (real meshdoc nodes) writing readings and waiting
 * for the gateway's ACK, and HTTP receivers on 127.0.0.1 (the
 * examples/webhook-sink process, and receivers that hang, fail or are slow).
 *
 * - Every reading arrives, once after dropping batches by idempotency key and
 *   in order per doc, across a receiver outage and a kill -9 of the gateway;
 *   each restart replays at most the batch that was not acknowledged.
 * - A receiver that hangs, answers 500 or answers slowly is bounded (a
 *   timeout, one probe at a time), counted in /metrics, and costs neither
 *   the devices (their writes are acknowledged at once) nor another webhook;
 *   one that refuses a doc (4xx) holds back that doc only; --webhook-docs
 *   keeps the docs whose known id matches; batches chain by state vector.
 * - Every request is signed (the receiver checks the HMAC; a forged one is
 *   refused); a clean restart with everything delivered replays nothing, and
 *   a webhook new to the data directory gets every stored doc.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { createMeshNode, docKeyFor, docKeyHex, type MeshNode } from '../adapters/presets/node.js'
import { addedValues, verifySignature, type Batch } from '../examples/webhook-sink/receiver.js'
import { readingsOf, record } from '../examples/sensor-device/readings.js'
import { CliProcesses, freePort, type GatewayProcess } from './helpers/cli-process.js'
import { parsePrometheus } from './helpers/cli-prometheus.js'
import { waitFor } from './helpers/mesh-nodes.js'

const SECRET = 'a webhook secret shared with the receiver'

/** How a gateway serving by key names a doc it has no id for (the devices here hold no grant, so claim none). */
const keyForm = (id: string): string => `key:${docKeyHex(docKeyFor(id))}`

interface Reading { s: string, t: number, v: number }

/** A sensor device: one reading per tick, each followed by a wait for the gateway's ACK (bounded). */
class Device {
  written = 0
  acked = 0
  /** ms each acknowledged write waited for its ACK */
  readonly ackMs: number[] = []
  private running = true
  private loop: Promise<void> | undefined

  constructor (readonly node: MeshNode, readonly id: string, private readonly gateway: string) {}

  start (everyMs: number): void {
    this.loop = (async () => {
      const h = await this.node.open(this.id)
      while (this.running) {
        const seq = ++this.written
        record(h.doc, [{ s: 'temperature', t: seq, v: seq }], 100_000, 1)
        const t0 = Date.now()
        try {
          await h.whenSynced({ peer: this.gateway, timeout: 1500 })
          this.acked = seq
          this.ackMs.push(Date.now() - t0)
        } catch {} // the gateway is away: the reading goes when it is back
        await new Promise(resolve => setTimeout(resolve, everyMs))
      }
    })()
  }

  async stop (): Promise<void> {
    this.running = false
    await this.loop
  }
}

/** A receiver whose answers the test chooses; it checks every signature. */
class Receiver {
  mode: 'ok' | 'hang' | 'fail' | 'slow' = 'ok'
  /** batches of this doc are answered 422 */
  refuse: string | undefined
  refused = 0
  readonly batches: Batch[] = []
  badSignatures = 0
  requests = 0
  /** signed requests answered (or held) in each mode */
  readonly seen = { ok: 0, hang: 0, fail: 0, slow: 0 }
  open = 0
  maxOpen = 0
  private readonly server: Server
  private readonly hung: ServerResponse[] = []

  constructor () {
    this.server = createServer((req, res) => { void this.handle(req, res) })
  }

  async listen (): Promise<string> {
    await new Promise<void>(resolve => { this.server.listen(0, '127.0.0.1', resolve) })
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++
    this.open++
    this.maxOpen = Math.max(this.maxOpen, this.open)
    res.on('close', () => { this.open-- })
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    if (!verifySignature(SECRET, body, req.headers['x-meshdoc-signature'] as string | undefined)) {
      this.badSignatures++
      res.writeHead(401).end()
      return
    }
    const mode = this.mode
    this.seen[mode]++
    if (mode === 'hang') { this.hung.push(res); return }
    if (mode === 'fail') { res.writeHead(500).end(); return }
    if (mode === 'slow') await new Promise(resolve => setTimeout(resolve, 150))
    const batch = JSON.parse(body.toString('utf8')) as Batch
    if (batch.doc === this.refuse) { this.refused++; res.writeHead(422).end(); return }
    this.batches.push(batch)
    res.writeHead(200).end()
  }

  /** The batches of `doc`, each once (by idempotency key), as they came. */
  unique (doc: string): Batch[] {
    const keys = new Set<string>()
    return this.batches.filter(b => b.doc === doc && !keys.has(b.idempotencyKey) && keys.add(b.idempotencyKey) !== undefined)
  }

  /** Readings of `doc`, from each batch once (by idempotency key). */
  readings (doc: string): number[] {
    return this.unique(doc).flatMap(b => (addedValues(b) as Reading[]).map(r => r.v))
  }

  async close (): Promise<void> {
    for (const r of this.hung.splice(0)) r.destroy()
    this.server.closeAllConnections()
    await new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
  }
}

/** In front of a receiver: passes requests on, and with `loseAnswers` drops the receiver's answer (the request was taken). */
class LossyProxy {
  loseAnswers = false
  /** answers lost, per doc key */
  readonly lost = new Map<string, number>()
  port = 0
  private server: Server | undefined
  private readonly held: ServerResponse[] = []

  constructor (private readonly target: number) {}

  async listen (port: number): Promise<string> {
    const server = createServer((req, res) => { void this.pass(req, res) })
    await new Promise<void>(resolve => { server.listen(port, '127.0.0.1', resolve) })
    this.server = server
    this.port = port
    return `http://127.0.0.1:${port}/hook`
  }

  private async pass (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    const out = httpRequest({ host: '127.0.0.1', port: this.target, path: req.url, method: 'POST', headers: req.headers }, (answer) => {
      answer.resume()
      answer.on('end', () => {
        if (!this.loseAnswers) { res.writeHead(answer.statusCode ?? 502).end(); return }
        const key = (JSON.parse(body.toString('utf8')) as Batch).keyHex
        this.lost.set(key, (this.lost.get(key) ?? 0) + 1)
        this.held.push(res)
      })
    })
    out.on('error', () => { res.destroy() })
    out.end(body)
  }

  async close (): Promise<void> {
    for (const r of this.held.splice(0)) r.destroy()
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }
}

describe('meshdoc gateway --webhook: changes delivered at least once', function () {
  this.timeout(60_000)
  const cli = new CliProcesses()
  const nodes: MeshNode[] = []
  const receivers: Receiver[] = []

  const proxies: LossyProxy[] = []

  afterEach(async () => {
    await Promise.allSettled(proxies.splice(0).map(async p => { await p.close() }))
    await Promise.allSettled(nodes.splice(0).map(async n => { await n.stop() }))
    await Promise.allSettled(receivers.splice(0).map(async r => { await r.close() }))
    await cli.killAll()
  })

  async function device (id: string, gw: { tcp: string, peerId: string }): Promise<Device> {
    const node = await createMeshNode({ bootstrap: [gw.tcp], antiEntropyIntervalMs: 0, bootstrapBackoff: { minDelayMs: 100, maxDelayMs: 400 } })
    nodes.push(node)
    await waitFor(() => node.peers.includes(gw.peerId), { what: `${id} to reach the gateway` })
    return new Device(node, id, gw.peerId)
  }

  /** One sample of /metrics (only ours: a gateway just started may print NaN for Node's own event-loop stats) */
  async function metric (admin: string, name: string, labels: Record<string, string>): Promise<number> {
    const text = await (await fetch(`${admin}/metrics`)).text()
    const ours = text.split('\n').filter(l => /^(# (HELP|TYPE) )?meshdoc_webhook_/.test(l)).join('\n') + '\n'
    return parsePrometheus(ours).value(name, labels) ?? 0
  }

  it('every reading arrives once (by idempotency key) and in order per doc, across a lost answer, kill -9 of the gateway and a receiver outage', async () => {
    const dir = await cli.tempDir()
    const secretFile = join(dir, 'secret')
    await writeFile(secretFile, SECRET + '\n')
    const sinkPort = await freePort()
    const seen = join(dir, 'sink.seen')
    // the receiver: examples/webhook-sink, behind a proxy that can lose its answers
    const outputs: GatewayProcess[] = []
    const startSink = async (): Promise<GatewayProcess> => {
      const s = cli.script('examples/webhook-sink/sink.ts', ['--port', String(sinkPort), '--secret-file', secretFile, '--seen', seen])
      await s.waitForStderr(/listening on/)
      outputs.push(s)
      return s
    }
    const proxy = new LossyProxy(sinkPort)
    proxies.push(proxy)
    const url = await proxy.listen(await freePort())
    const ports = { tcp: await freePort(), ws: await freePort() }
    const flags = ['--webhook', url, '--webhook-secret-file', secretFile, '--webhook-debounce', '100', '--webhook-timeout', '1000', '--webhook-max-backoff', '800']
    const data = join(dir, 'gw')
    let sink = await startSink()
    let gw = cli.gatewayAt(data, ports, flags)
    const addr = await gw.ready()
    const devices = await Promise.all(['sensors/a', 'sensors/b', 'sensors/c'].map(async id => await device(id, addr)))
    for (const d of devices) d.start(60)
    await new Promise(resolve => setTimeout(resolve, 1500))

    // 1. the receiver takes a batch of each doc, but its answer is lost
    proxy.loseAnswers = true
    await waitFor(() => devices.every(d => (proxy.lost.get(docKeyHex(docKeyFor(d.id))) ?? 0) > 0), { what: 'a lost answer for every doc' })
    // 2. sensors/c writes a few more (stored and acknowledged, in no batch: its lost one is still in the outbox),
    // then stops: only the sweep after the restart finds those; then kill -9
    const c = devices[2]
    const after = c.written
    await waitFor(() => c.acked >= after + 5, { what: 'sensors/c to write on' })
    await c.stop()
    await gw.kill()
    // 3. the receiver goes away too, while the gateway restarts and the others write on
    assert.deepEqual(await sink.stop('SIGTERM'), { code: 0, signal: null }, sink.stderr)
    await proxy.close()
    gw = cli.gatewayAt(data, ports, flags)
    const { admin } = await gw.ready()
    await new Promise(resolve => setTimeout(resolve, 1500))
    // 4. the receiver is back
    proxy.loseAnswers = false
    await proxy.listen(proxy.port)
    sink = await startSink()
    await new Promise(resolve => setTimeout(resolve, 1000))
    for (const d of devices) await d.stop()
    for (const d of devices) {
      const h = await d.node.open(d.id)
      await h.whenSynced({ peer: addr.peerId, timeout: 15_000 })
      assert.equal(readingsOf(h.doc).length, d.written)
    }

    const lines = (): string[] => outputs.flatMap(o => o.stdout.split('\n').filter(l => l.length > 0))
    const byDoc = (): Map<string, number[]> => {
      const m = new Map<string, number[]>()
      for (const line of lines()) {
        const { doc, reading } = JSON.parse(line) as { doc: string, reading: Reading }
        m.set(doc, [...(m.get(doc) ?? []), reading.v])
      }
      return m
    }
    await waitFor(() => devices.every(d => (byDoc().get(keyForm(d.id))?.length ?? 0) >= d.written), {
      timeout: 20_000,
      what: 'every reading at the sink',
      detail: () => devices.map(d => `${d.id}: ${byDoc().get(keyForm(d.id))?.length ?? 0}/${d.written}`).join(', ') + `\n${gw.stderr}\n${sink.stderr}`
    })
    const got = byDoc()
    for (const d of devices) {
      const vs = got.get(keyForm(d.id)) ?? []
      // once each (the sink drops batches it took before), and in the order they were written
      assert.deepEqual(vs, Array.from({ length: d.written }, (_, i) => i + 1), `${d.id}: ${vs.join(',')}`)
      assert.ok(d.written >= 15, `${d.id} wrote ${d.written}`)
    }
    // the batch whose answer was lost was sent again, with its key, and dropped by the sink: per doc,
    // that one (maybe one more, in flight when the sink stopped), never a batch it had acknowledged
    const dropped = new Map<string, Set<string>>()
    for (const o of outputs) {
      for (const m of o.stderr.matchAll(/sink: (\S+): batch (\S+) again, dropped/g)) dropped.set(m[1], (dropped.get(m[1]) ?? new Set()).add(m[2]))
    }
    for (const d of devices) {
      const n = dropped.get(keyForm(d.id))?.size ?? 0
      assert.ok(n >= 1 && n <= 2, `${d.id}: ${n} distinct batches dropped as seen`)
    }
    assert.ok(outputs.every(o => !o.stderr.includes('bad signature')))
    const label = { webhook: url }
    assert.ok(await metric(admin, 'meshdoc_webhook_delivered_total', label) > 0)
    assert.ok(await metric(admin, 'meshdoc_webhook_retries_total', label) > 0, 'the outbox was sent again after the restart')
    assert.ok(await metric(admin, 'meshdoc_webhook_failures_total', { ...label, reason: 'network' }) > 0, 'the receiver outage was counted')
    await waitFor(() => true)
    assert.equal(await metric(admin, 'meshdoc_webhook_pending_docs', label), 0)
    assert.equal(await metric(admin, 'meshdoc_webhook_lag_seconds', label), 0)
  })

  it('a receiver that hangs, fails or is slow is bounded and counted; devices, other docs and other webhooks go on; a clean restart replays nothing', async () => {
    const dir = await cli.tempDir()
    const secretFile = join(dir, 'secret')
    await writeFile(secretFile, SECRET)
    const flaky = new Receiver()
    const good = new Receiver()
    const late = new Receiver()
    receivers.push(flaky, good, late)
    const flakyUrl = await flaky.listen()
    const goodUrl = await good.listen()
    // the docs are opened by id here (--open), so the gateway knows their ids and --webhook-docs can match them
    const flags = ['--webhook', flakyUrl, '--webhook', goodUrl, '--webhook-secret-file', secretFile, '--webhook-docs', 'sensors/*',
      '--webhook-debounce', '50', '--webhook-timeout', '300', '--webhook-max-backoff', '400',
      '--open', 'sensors/flaky', '--open', 'sensors/second', '--open', 'misc/skipped']
    const gw = cli.gateway(join(dir, 'gw'), flags)
    const addr = await gw.ready()
    const dev = await device('sensors/flaky', addr)
    const seqs = new Map<string, number>()
    /** one reading to `id`; how long the gateway took to acknowledge it */
    const write = async (id = 'sensors/flaky'): Promise<number> => {
      const h = await dev.node.open(id)
      const seq = (seqs.get(id) ?? 0) + 1
      seqs.set(id, seq)
      record(h.doc, [{ s: 'temperature', t: seq, v: seq }], 100_000, 1)
      const t0 = Date.now()
      await h.whenSynced({ peer: addr.peerId, timeout: 5000 })
      return Date.now() - t0
    }
    const all = (id: string): number[] => Array.from({ length: seqs.get(id) ?? 0 }, (_, i) => i + 1)

    for (const mode of ['hang', 'fail', 'slow'] as const) {
      flaky.mode = mode
      const acks: number[] = []
      for (let i = 0; i < 4; i++) {
        acks.push(await write())
        await new Promise(resolve => setTimeout(resolve, 150))
      }
      assert.ok(Math.max(...acks) < 1000, `${mode}: writes acknowledged in ${acks.join(', ')} ms`)
      // the gateway may be backing off from the previous mode; each mode is exercised before the next
      await waitFor(() => flaky.seen[mode] > 0, { what: `a request to the ${mode} receiver`, timeout: 5000 })
      // the other webhook has everything meanwhile
      await waitFor(() => good.readings('sensors/flaky').length === seqs.get('sensors/flaky'), { what: `the good receiver to keep up (${mode})`, timeout: 5000 })
      const health = await fetch(`${addr.admin}/healthz`)
      assert.equal(health.status, 200)
    }
    assert.ok(flaky.maxOpen <= 16, `${flaky.maxOpen} requests open at once at the hanging receiver`)
    const label = { webhook: flakyUrl }
    assert.ok(await metric(addr.admin, 'meshdoc_webhook_failures_total', { ...label, reason: 'timeout' }) >= 1, 'the hanging receiver timed out')
    assert.ok(await metric(addr.admin, 'meshdoc_webhook_failures_total', { ...label, reason: 'status_5xx' }) >= 1, 'the 500s were counted')
    assert.ok(await metric(addr.admin, 'meshdoc_webhook_retries_total', label) >= 1)
    assert.equal(await metric(addr.admin, 'meshdoc_webhook_failures_total', { webhook: goodUrl, reason: 'timeout' }), 0)

    flaky.mode = 'ok'
    await waitFor(() => flaky.readings('sensors/flaky').length === seqs.get('sensors/flaky'), { what: 'the flaky receiver to get everything once it answers', timeout: 10_000 })
    assert.deepEqual(flaky.readings('sensors/flaky'), all('sensors/flaky'))

    // a receiver that refuses one doc's batches (4xx) holds back that doc only
    flaky.refuse = 'sensors/second'
    await write('sensors/second')
    await waitFor(() => flaky.refused > 0, { what: 'a refusal' })
    await write('sensors/flaky')
    await waitFor(() => flaky.readings('sensors/flaky').length === seqs.get('sensors/flaky'), { what: 'the other doc delivered meanwhile', timeout: 5000 })
    assert.deepEqual(flaky.readings('sensors/second'), [])
    assert.ok(await metric(addr.admin, 'meshdoc_webhook_failures_total', { ...label, reason: 'status_4xx' }) >= 1)
    flaky.refuse = undefined
    await waitFor(() => flaky.readings('sensors/second').length === 1, { what: 'the refused doc once it is taken', timeout: 5000 })
    // a doc --webhook-docs does not match goes to no webhook
    await write('misc/skipped')
    await new Promise(resolve => setTimeout(resolve, 300))

    for (const r of [flaky, good]) {
      assert.deepEqual(r.readings('sensors/second'), [1])
      assert.ok(r.batches.every(b => b.doc.startsWith('sensors/')), r.batches.map(b => b.doc).join(' '))
      // batches chain: each starts where the one before ended, the first at the empty state
      const taken = r.unique('sensors/flaky')
      assert.equal(taken[0].since, 'AA==')
      // and carry the doc as JSON after them
      assert.equal((taken.at(-1)?.json.readings as unknown[]).length, seqs.get('sensors/flaky'))
      for (let i = 1; i < taken.length; i++) assert.equal(taken[i].since, taken[i - 1].stateVector)
    }
    assert.equal(flaky.badSignatures + good.badSignatures, 0, 'every request was signed with the secret')
    // a forged request (another secret) is refused by the receiver's check
    const forged = JSON.stringify({ ...flaky.batches[0], json: { readings: [] } })
    const res = await fetch(flakyUrl, { method: 'POST', body: forged, headers: { 'x-meshdoc-signature': 'sha256=' + '0'.repeat(64) } })
    assert.equal(res.status, 401)
    assert.equal(flaky.badSignatures, 1)
    const text = await (await fetch(`${addr.admin}/metrics`)).text()
    assert.match(text, /^meshdoc_webhook_delivery_seconds_count\{webhook="http:\/\/127\.0\.0\.1:\d+\/hook"\} [1-9]/m)

    // a clean restart with everything delivered: nothing is sent again; a webhook new here gets every stored doc it takes
    const before = { flaky: flaky.batches.length, good: good.batches.length }
    assert.deepEqual(await gw.stop('SIGTERM'), { code: 0, signal: null }, gw.stderr)
    const again = cli.gateway(join(dir, 'gw'), [...flags, '--webhook', await late.listen()])
    await again.ready()
    await waitFor(() => late.readings('sensors/flaky').length === seqs.get('sensors/flaky') && late.readings('sensors/second').length === 1, { what: 'the new webhook to get the stored docs', timeout: 10_000 })
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.deepEqual({ flaky: flaky.batches.length, good: good.batches.length }, before, 'nothing replayed after a clean restart')
    assert.deepEqual(late.batches.map(b => b.doc).sort(), ['sensors/flaky', 'sensors/second'])
  })
})
