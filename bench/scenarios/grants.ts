/**
 * G1: checking a grant (lib/grants/grant.ts) offline: verifications per
 * second for chains of 1 to 4 grants, next to the raw limit (one Ed25519
 * signature verification per link, nothing else), and the time to check the
 * 10 grants a peer might present at once (the issue's goal: under 5 ms added
 * to a first sync at p50).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { issueGrant, verifyGrant } from '../../lib/grants/grant.js'
import { median } from '../core/stats.js'
import { row, type Ctx, type Row, type Scenario, type ScenarioResult } from './types.js'

const HOUR = 3_600_000

async function chainOf (length: number, keys: PrivateKey[]): Promise<string> {
  let token: string | undefined
  const now = Date.now()
  for (let i = 0; i < length; i++) {
    token = await issueGrant({
      key: keys[i],
      audience: peerIdFromPrivateKey(keys[i + 1]).toString(),
      access: 'write',
      docs: [i === length - 1 ? 'sensors/17/**' : 'sensors/**'],
      notBefore: now,
      expiresAt: now + HOUR - i,
      delegate: i < length - 1,
      ...(token !== undefined ? { parent: token } : {})
    })
  }
  return token!
}

/** Operations per second of `op`, the median of `runs` rounds of about `ms` each. */
async function rate (op: () => Promise<unknown>, runs: number, ms: number): Promise<number> {
  const rates: number[] = []
  for (let r = 0; r < runs; r++) {
    let n = 0
    const t0 = performance.now()
    while (performance.now() - t0 < ms) { await op(); n++ }
    rates.push(n / ((performance.now() - t0) / 1000))
  }
  return median(rates)
}

export const g1: Scenario = {
  id: 'G1',
  title: 'grant verification (offline, chains of 1-4) vs raw Ed25519 verification',
  async run (ctx: Ctx): Promise<ScenarioResult> {
    const keys = await Promise.all(Array.from({ length: 6 }, async () => await generateKeyPair('Ed25519')))
    const owner = peerIdFromPrivateKey(keys[0]).toString()
    const runs = Math.max(3, ctx.runs)
    const ms = ctx.quick ? 150 : 500
    const data = new TextEncoder().encode('x'.repeat(200))
    const sig = await keys[0].sign(data)
    const raw = await rate(async () => await keys[0].publicKey.verify(data, sig), runs, ms)
    const rows: Row[] = []
    const summary: Record<string, unknown> = { rawVerifiesPerSecond: raw }
    for (const length of [1, 2, 4]) {
      const token = await chainOf(length, keys)
      const presenter = peerIdFromPrivateKey(keys[length]).toString()
      const perSecond = await rate(async () => await verifyGrant(token, { owners: [owner], presenter }), runs, ms)
      ctx.progress(`G1: chain of ${length}: ${Math.round(perSecond)} verifications/s (raw Ed25519 ${Math.round(raw)}/s)`)
      summary[`chain${length}`] = perSecond
      rows.push(row({
        id: 'G1',
        metric: `verify a chain of ${length} grant${length === 1 ? '' : 's'}, per second`,
        unit: 'op/s',
        meshdoc: perSecond,
        baseline: raw / length,
        baselineName: `raw limit: ${length} Ed25519 verification${length === 1 ? '' : 's'}`,
        ratio: perSecond / (raw / length),
        ratioLabel: 'x the raw limit',
        goal: null,
        met: null,
        note: `${token.length} B token`
      }))
    }
    // ten grants presented at once (two-link chains), as a peer holding ten might
    const ten = await Promise.all(Array.from({ length: 10 }, async () => await chainOf(2, keys)))
    const presenter = peerIdFromPrivateKey(keys[2]).toString()
    const times: number[] = []
    for (let r = 0; r < (ctx.quick ? 20 : 100); r++) {
      const t0 = performance.now()
      for (const t of ten) await verifyGrant(t, { owners: [owner], presenter })
      times.push(performance.now() - t0)
    }
    const p50 = median(times)
    summary.tenGrantsP50Ms = p50
    rows.push(row({ id: 'G1', metric: 'check 10 grants (2-link chains) presented at once, p50', unit: 'ms', meshdoc: p50, goal: '< 5 ms', met: p50 < 5 }))
    return { runs: [summary], summary, rows, errors: [] }
  }
}
