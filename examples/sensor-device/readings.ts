/**
 * The sensor document and its retention scheme.
 *
 * Layout of doc `sensors/<device>`:
 *   readings: Y.Array<Reading>   every reading, oldest first: { s: sensor, t: ms since epoch, v: value }
 *   device:   Y.Map              name, sensors, keep (written only when they change)
 *
 * Retention: each tick appends one reading per sensor, in one transaction, and
 * when the array holds more than `keep × sensors` readings it deletes the
 * oldest ones from the front in that same transaction. So the array is a ring
 * of (about) the last `keep` readings of each sensor.
 *
 * Why one array and front deletions: a Yjs deletion leaves a tombstone, and
 * tombstones of neighbouring items with consecutive clocks from one client
 * merge into one. Deleting a prefix of what one device appended keeps them
 * merged, so the dead part costs a few bytes per device session, not per
 * reading. (One array per sensor would interleave the clocks of the sensors,
 * and every deleted reading would stay a tombstone of its own: measured, that
 * grows ~40 KB a day at one reading a minute for three sensors.)
 * See README.md for the numbers.
 */
import * as Y from 'yjs'

export interface Reading {
  /** sensor name */
  s: string
  /** time (ms since the epoch) */
  t: number
  /** value */
  v: number
}

export const READINGS = 'readings'
export const DEVICE = 'device'

export function readingsOf (doc: Y.Doc): Y.Array<Reading> {
  return doc.getArray<Reading>(READINGS)
}

/** Append one tick's readings and trim the oldest beyond `keep` per sensor, in one transaction. */
export function record (doc: Y.Doc, readings: Reading[], keep: number, sensors: number): void {
  const arr = readingsOf(doc)
  doc.transact(() => {
    arr.push(readings)
    const max = keep * sensors
    if (arr.length > max) arr.delete(0, arr.length - max)
  })
}

/** Write the device description, only where it changed (every overwrite of a map key leaves a tombstone). */
export function describe (doc: Y.Doc, info: Record<string, string | number | string[]>): void {
  const map = doc.getMap<unknown>(DEVICE)
  doc.transact(() => {
    for (const [k, v] of Object.entries(info)) {
      if (JSON.stringify(map.get(k)) !== JSON.stringify(v)) map.set(k, v)
    }
  })
}

/** A plausible value for `sensor` at time `t` (a daily cycle plus noise). */
export function simulatedValue (sensor: string, t: number, rand: () => number = Math.random): number {
  const day = Math.sin((t / 86_400_000) * 2 * Math.PI)
  const base: Record<string, [number, number]> = { temperature: [21, 4], humidity: [45, 10], pressure: [1013, 6] }
  const [mid, amp] = base[sensor] ?? [50, 10]
  return Math.round((mid + amp * day + (rand() - 0.5) * amp * 0.2) * 100) / 100
}
