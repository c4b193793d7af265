/**
 * M: what this machine can do, so the other numbers have a scale: raw
 * loopback TCP throughput, one libp2p stream's throughput (TCP + Noise +
 * yamux), and libp2p dial time (TCP connect + Noise XX + yamux + multistream).
 * Sender and receiver are separate processes.
 */
import { median, percentile } from '../core/stats.js'
import { row, type Scenario, type ScenarioResult } from './types.js'
import { errorText, fmtMs, load1, withChildren } from './util.js'

export const machine: Scenario = {
  id: 'M',
  title: 'machine limits: loopback TCP, libp2p stream, libp2p dial',
  async run (ctx): Promise<ScenarioResult> {
    const tcpBytes = (ctx.quick ? 64 : 1024) * 2 ** 20
    const p2pBytes = (ctx.quick ? 16 : 256) * 2 ** 20
    const dials = ctx.quick ? 5 : 20
    const runs: Array<Record<string, number>> = []
    const errors: string[] = []
    for (let r = 0; r < ctx.runs; r++) {
      try {
        const res = await withChildren(async (spawn) => {
          const sink = await spawn('M/sink', 'sink', {})
          const src = await spawn('M/source', 'source', {})
          const waitTcp = sink.call('wait', { kind: 'tcp', bytes: tcpBytes, timeoutMs: 60_000 }, 65_000)
          const tcp = await src.call('tcp', { port: sink.info.tcpPort, bytes: tcpBytes }, 65_000)
          const tcpEnd = await waitTcp
          const waitP2p = sink.call('wait', { kind: 'libp2p', bytes: p2pBytes, timeoutMs: 60_000 }, 65_000)
          const p2p = await src.call('libp2p', { addr: sink.info.addrs[0], bytes: p2pBytes }, 65_000)
          const p2pEnd = await waitP2p
          const { times } = await src.call('dials', { addr: sink.info.addrs[0], count: dials }, 65_000)
          return {
            tcpMBps: tcpBytes / 2 ** 20 / ((tcpEnd.tLast - tcp.t0) / 1000),
            libp2pMBps: p2pBytes / 2 ** 20 / ((p2pEnd.tLast - p2p.t0) / 1000),
            dialP50: percentile(times, 50),
            dialP90: percentile(times, 90)
          }
        })
        runs.push({ run: r, load1: load1(), ...res })
        ctx.progress(`M run ${r + 1}/${ctx.runs} TCP ${res.tcpMBps.toFixed(0)} MB/s, libp2p stream ${res.libp2pMBps.toFixed(0)} MB/s, dial p50 ${fmtMs(res.dialP50)} ms`)
      } catch (err) {
        errors.push(`M run ${r + 1}: ${errorText(err)}`)
        ctx.progress(`M run ${r + 1}/${ctx.runs}: FAILED ${(err as Error).message.split('\n')[0]}`)
      }
    }
    const med = (k: string): number => median(runs.map(x => x[k]))
    const tcp = med('tcpMBps')
    const p2p = med('libp2pMBps')
    return {
      runs,
      errors,
      summary: { tcpMBps: tcp, libp2pMBps: p2p, dialP50: med('dialP50'), dialP90: med('dialP90'), tcpBytes, libp2pBytes: p2pBytes, dials },
      rows: [
        row({ id: 'M', metric: 'loopback TCP throughput (2 processes)', unit: 'MB/s', meshdoc: tcp }),
        row({ id: 'M', metric: 'libp2p stream throughput (TCP+Noise+yamux)', unit: 'MB/s', meshdoc: p2p, baseline: tcp, baselineName: 'raw TCP', ratio: Number.isFinite(p2p) && tcp > 0 ? p2p / tcp : null, ratioLabel: 'of TCP' }),
        row({ id: 'M', metric: 'libp2p dial (TCP+Noise XX+yamux) p50', unit: 'ms', meshdoc: med('dialP50') })
      ]
    }
  }
}
