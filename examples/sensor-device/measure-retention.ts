/**
 * How big does a sensor document get? Simulates a week of readings (three
 * sensors, one reading each per minute) with the retention scheme of
 * readings.ts, restarting the device once a day (a new Yjs clientID each
 * time), and prints the document's size per day: the V1 update a peer would
 * fetch, the V2 snapshot storage keeps, and the bytes in the fs data directory.
 *
 *   node --import tsx examples/sensor-device/measure-retention.ts [--keep 1000] [--days 7]
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import * as Y from 'yjs'
import { FsStorageAdapter } from '../../adapters/fs-storage/index.js'
import { createMeshNode } from '../../adapters/presets/node.js'
import { readingsOf, record, simulatedValue } from './readings.js'

export interface DaySize { day: number, readings: number, held: number, v1: number, v2: number, disk: number }

const SENSORS = ['temperature', 'humidity', 'pressure']
const MINUTE = 60_000

async function du (dir: string): Promise<number> {
  let n = 0
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    n += e.isDirectory() ? await du(p) : (await stat(p)).size
  }
  return n
}

/** A seeded random source, so the numbers repeat. */
function rng (seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0
    return seed / 2 ** 32
  }
}

/**
 * Run the simulation on a real node with fs storage: one transaction per
 * minute, a commit every 10 simulated minutes, a device restart every day.
 */
export async function simulate (opts: { days: number, keep: number, retention?: boolean }): Promise<DaySize[]> {
  const dir = await mkdtemp(join(tmpdir(), 'meshdoc-retention-'))
  const rand = rng(7)
  const sizes: DaySize[] = []
  let t = Date.UTC(2026, 0, 1)
  let written = 0
  try {
    for (let day = 1; day <= opts.days; day++) {
      const node = await createMeshNode({ storage: new FsStorageAdapter(dir), antiEntropyIntervalMs: 0 })
      const h = await node.open('sensors/dev-1')
      for (let hour = 0; hour < 24; hour++) {
        for (let min = 0; min < 60; min++) {
          t += MINUTE
          const readings = SENSORS.map(s => ({ s, t, v: simulatedValue(s, t, rand) }))
          if (opts.retention === false) h.doc.transact(() => { readingsOf(h.doc).push(readings) })
          else record(h.doc, readings, opts.keep, SENSORS.length)
          written += SENSORS.length
          if (min % 10 === 9) await h.flush()
        }
      }
      sizes.push({
        day,
        readings: written,
        held: readingsOf(h.doc).length,
        v1: Y.encodeStateAsUpdate(h.doc).byteLength,
        v2: Y.encodeStateAsUpdateV2(h.doc).byteLength,
        disk: 0
      })
      await node.stop()
      sizes[sizes.length - 1].disk = await du(dir)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return sizes
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (isMain) {
  const { values } = parseArgs({ options: { keep: { type: 'string', default: '1000' }, days: { type: 'string', default: '7' } } })
  const keep = Number(values.keep)
  const days = Number(values.days)
  const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
  for (const retention of [true, false]) {
    console.log(retention ? `\nwith retention (keep ${keep} per sensor):` : '\nwithout retention (for comparison):')
    console.log('day  readings written  held    V1 update   V2 snapshot  on disk')
    for (const s of await simulate({ days, keep, retention })) {
      console.log(`${String(s.day).padStart(3)}  ${String(s.readings).padStart(16)}  ${String(s.held).padStart(6)}  ${kb(s.v1).padStart(10)}  ${kb(s.v2).padStart(11)}  ${kb(s.disk).padStart(9)}`)
    }
  }
}
