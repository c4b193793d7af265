/**
 * P7: durable persistence of the B4 trace, then reload, and the bytes on disk;
 * meshdoc (fs adapter, fdatasync per commit) against y-leveldb and the
 * snapshot floor. The measuring is `bench/storage.ts` (`npm run bench:storage`),
 * reused here so that `npm run bench` covers P7 in the same run and table.
 */
import { runStorageBench, type Phase } from '../storage.js'
import { row, type Ctx, type Row, type Scenario, type ScenarioResult } from './types.js'

export const p7: Scenario = {
  id: 'P7',
  title: 'durable persistence of the B4 trace vs y-leveldb and the snapshot floor',
  async run (ctx: Ctx): Promise<ScenarioResult> {
    const r = await runStorageBench({
      limit: ctx.limit,
      writes: ctx.runs,
      reloads: Math.max(ctx.runs, ctx.quick ? 1 : 5),
      progress: ctx.progress
    })
    const m = r.results.meshdoc
    const ldb = r.results['y-leveldb']
    const floor = r.results.floor
    const rate = (p: Phase): number => r.edits / (p.ms / 1000)
    const num = (x: unknown): number => typeof x === 'number' ? x : NaN
    const n = r.edits.toLocaleString('en-US')
    const rows: Row[] = [
      row({
        id: 'P7',
        metric: `write ${n} edits, each its own transaction and durably acked, edits/s`,
        unit: 'upd/s',
        meshdoc: rate(m.write),
        baseline: rate(ldb.write),
        baselineName: 'y-leveldb (no fsync)',
        ratio: ldb.write.ms / m.write.ms,
        ratioLabel: 'x faster',
        goal: '>= y-leveldb',
        met: m.write.ms <= ldb.write.ms,
        note: `meshdoc: fdatasync per commit, ${num(m.write.commits).toLocaleString('en-US')} commits`
      }),
      row({
        id: 'P7',
        metric: 'reload the doc from disk',
        unit: 'ms',
        meshdoc: m.reload.ms,
        baseline: floor.reload.ms,
        baselineName: 'floor: read + applyUpdateV2 of one V2 snapshot',
        ratio: m.reload.ms / floor.reload.ms,
        ratioLabel: 'x the floor',
        goal: '<= 1.5x',
        met: m.reload.ms <= 1.5 * floor.reload.ms,
        note: `after compaction; as written ${Math.round(m.reloadAsWritten.ms)} ms`
      }),
      row({
        id: 'P7',
        metric: 'reload the doc from disk',
        unit: 'ms',
        meshdoc: m.reload.ms,
        baseline: ldb.reload.ms,
        baselineName: 'y-leveldb (its first load after the write)',
        ratio: ldb.reload.ms / m.reload.ms,
        ratioLabel: 'x faster'
      }),
      row({
        id: 'P7',
        metric: 'bytes on disk after compaction',
        unit: 'B',
        meshdoc: num(m.compact.bytesOnDisk),
        baseline: num(floor.write.bytesOnDisk),
        baselineName: 'floor: the V2 snapshot',
        ratio: num(m.compact.bytesOnDisk) / num(floor.write.bytesOnDisk),
        ratioLabel: 'x the floor',
        goal: '<= 1.2x',
        met: num(m.compact.bytesOnDisk) <= 1.2 * num(floor.write.bytesOnDisk),
        note: `as written ${num(m.write.bytesAsWritten).toLocaleString('en-US')} B`
      }),
      row({
        id: 'P7',
        metric: 'bytes on disk',
        unit: 'B',
        meshdoc: num(m.compact.bytesOnDisk),
        baseline: num(ldb.reload.bytesOnDisk),
        baselineName: 'y-leveldb (after its first load)',
        ratio: num(ldb.reload.bytesOnDisk) / num(m.compact.bytesOnDisk),
        ratioLabel: 'x fewer bytes'
      })
    ]
    const errors = Object.entries(r.results).flatMap(([c, phases]) =>
      Object.entries(phases).filter(([, p]) => !p.verified).map(([phase]) => `P7 ${c} ${phase}: the reloaded text is not the trace's end`))
    return { runs: [r], summary: { edits: r.edits, writes: r.writes, reloads: r.reloads, goals: r.goals }, rows, errors }
  }
}
