/**
 * F1, the devices' side: `count` meshdoc devices in one process (devices
 * `from` .. `from + count - 1` of the fleet), each a real node (its own
 * Ed25519 key and PeerId, its own libp2p with TCP + Noise + yamux, in-memory
 * storage) that owns one doc, `fleet/<i>/state`, and keeps connected to the
 * gateway the way a real device does: the gateway is its `bootstrap` peer,
 * redialled with the library's backoff (500 ms doubling to 30 s, jittered),
 * anti-entropy at the library default. Unlike P6's devices they stay
 * connected.
 *
 *   start      create every device (keys were made at spawn), open its doc and
 *              write reading 1; each starts dialling the gateway at once
 *   progress   how many are connected, and (after `markAcks`) how many have
 *              been acknowledged by the gateway since the mark, and when
 *   write      every device writes a reading every `everyMs` (each at its own
 *              phase; 0 stops)
 *   acked      per device: readings written, highest reading the gateway acknowledged
 *   probe      (a process of one device) edit-to-ACK: write, wait for the
 *              gateway's ACK of it, pause `pauseMs`, again, for `ms`
 *   verify     (a process of no devices) open every doc of a stopped gateway's
 *              data directory from its fs storage, offline: was every
 *              acknowledged reading stored?
 *
 * With `build`, the devices run that build's dist/ instead of the sources.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { DocHandle, MeshNode } from '../../adapters/presets/node.js'
import { storeDir } from '../../lib/cli/data-dir.js'
import { now } from '../core/rpc.js'
import type { RoleFactory } from './types.js'

interface Device {
  i: number
  node: MeshNode
  handle: DocHandle
  /** readings written */
  seq: number
  /** highest reading the gateway acknowledged (its whole state synced) */
  acked: number
  /** first acknowledgement after the last `markAcks` */
  ackAfterMark: number | undefined
  timer: ReturnType<typeof setTimeout> | undefined
}

export interface FleetProgress {
  devices: number
  connected: number
  /** devices acknowledged by the gateway since the mark */
  ackedSinceMark: number
  /** per acknowledged device: ms from the mark to its first acknowledgement */
  ackMs: number[]
  /** bootstrap dials that failed, or connections the gateway closed before syncing, so far */
  dialFailures: number
  firstDialError?: string
  /** up to 5 devices not acknowledged since the mark: libp2p connections to the gateway (status, streams), sync session or not */
  waiting: Array<{ i: number, conns: string[], session: boolean }>
}

export interface ProbeResult {
  /** edit-to-ACK, ms */
  samples: number[]
  timeouts: number
}

export interface VerifyResult {
  checked: number
  /** docs whose stored reading is below the one acknowledged */
  lost: number
  /** acknowledged readings, summed over docs */
  acknowledged: number
  firstLost?: string
}

export const docIdOf = (i: number): string => `fleet/${i}/state`

/** this checkout's sources, or with `build` a build's dist/ (DIR/dist/index.js, DIR/dist/adapters/fs-storage.js) */
async function meshdoc (build: string | undefined): Promise<{ createMeshNode: typeof import('../../adapters/presets/node.js').createMeshNode, FsStorageAdapter: typeof import('../../adapters/fs-storage/index.js').FsStorageAdapter }> {
  if (build === undefined) {
    return { createMeshNode: (await import('../../adapters/presets/node.js')).createMeshNode, FsStorageAdapter: (await import('../../adapters/fs-storage/index.js')).FsStorageAdapter }
  }
  const url = (f: string): string => pathToFileURL(join(build, 'dist', f)).href
  return { createMeshNode: (await import(url('index.js'))).createMeshNode, FsStorageAdapter: (await import(url('adapters/fs-storage.js'))).FsStorageAdapter }
}

const fleetDevices: RoleFactory = async (opts: { from: number, count: number, build?: string }) => {
  const { createMeshNode, FsStorageAdapter } = await meshdoc(opts.build)
  const keys: PrivateKey[] = []
  for (let k = 0; k < opts.count; k++) keys.push(await generateKeyPair('Ed25519'))
  const devices: Device[] = []
  let gatewayId = ''
  let mark: number | undefined
  let dialFailures = 0
  let firstDialError: string | undefined

  const write = (d: Device): void => {
    const m = d.handle.doc.getMap('m')
    d.handle.doc.transact(() => {
      m.set('seq', ++d.seq)
      m.set('t', Date.now())
    })
  }

  async function device (i: number, key: PrivateKey, addr: string): Promise<Device> {
    const node = await createMeshNode({ privateKey: key, bootstrap: [addr], keepDocIds: false })
    node.on('peer:refused', (r) => {
      dialFailures++
      firstDialError ??= `${r.reason}: ${r.message}`
    })
    const handle = await node.open(docIdOf(i))
    const d: Device = { i, node, handle, seq: 0, acked: 0, ackAfterMark: undefined, timer: undefined }
    handle.on('status', (st) => {
      if (!st.peers.some(p => p.peer === gatewayId && p.synced)) return
      d.acked = d.seq
      if (mark !== undefined) d.ackAfterMark ??= now()
    })
    write(d)
    return d
  }

  return {
    info: { from: opts.from, count: opts.count },
    handlers: {
      start: async ({ addr, gatewayId: gw }: { addr: string, gatewayId: string }) => {
        gatewayId = gw
        mark = now()
        const t0 = performance.now()
        devices.push(...await Promise.all(keys.map(async (key, k) => await device(opts.from + k, key, addr))))
        return { createMs: performance.now() - t0 }
      },
      markAcks: () => {
        mark = now()
        for (const d of devices) d.ackAfterMark = undefined
        return mark
      },
      progress: (): FleetProgress => {
        const ackMs: number[] = []
        for (const d of devices) if (d.ackAfterMark !== undefined && mark !== undefined) ackMs.push(d.ackAfterMark - mark)
        const waiting = devices.filter(d => d.ackAfterMark === undefined).slice(0, 5).map(d => ({
          i: d.i,
          conns: d.node.libp2p.getConnections().filter(c => c.remotePeer.toString() === gatewayId).map(c => `${c.status} ${c.direction} ${c.streams.map(s => s.protocol ?? '?').join(',')}`),
          session: d.node.peers.includes(gatewayId)
        }))
        return {
          waiting,
          devices: devices.length,
          connected: devices.filter(d => d.node.peers.includes(gatewayId)).length,
          ackedSinceMark: ackMs.length,
          ackMs,
          dialFailures,
          ...(firstDialError !== undefined ? { firstDialError } : {})
        }
      },
      write: ({ everyMs }: { everyMs: number }) => {
        for (const d of devices) {
          clearTimeout(d.timer)
          d.timer = undefined
          if (everyMs <= 0) continue
          const tick = (): void => { write(d); d.timer = setTimeout(tick, everyMs) }
          d.timer = setTimeout(tick, Math.random() * everyMs)
        }
      },
      acked: () => devices.map(d => ({ i: d.i, seq: d.seq, acked: d.acked })),
      probe: async ({ ms, pauseMs, timeoutMs }: { ms: number, pauseMs: number, timeoutMs: number }): Promise<ProbeResult> => {
        const d = devices[0]
        const samples: number[] = []
        let timeouts = 0
        const end = now() + ms
        while (now() < end) {
          const t0 = now()
          write(d)
          try {
            await d.handle.whenSynced({ peer: gatewayId, timeout: timeoutMs })
            samples.push(now() - t0)
          } catch {
            timeouts++
          }
          await new Promise(resolve => setTimeout(resolve, pauseMs))
        }
        return { samples, timeouts }
      },
      verify: async ({ dataDir, expect }: { dataDir: string, expect: Array<{ i: number, acked: number }> }): Promise<VerifyResult> => {
        const node = await createMeshNode({ storage: new FsStorageAdapter(storeDir(dataDir)), antiEntropyIntervalMs: 0, keepDocIds: false })
        const r: VerifyResult = { checked: 0, lost: 0, acknowledged: 0 }
        try {
          for (const e of expect) {
            const h = await node.open(docIdOf(e.i))
            const stored = Number(h.doc.getMap('m').get('seq') ?? 0)
            await h.close()
            r.checked++
            r.acknowledged += e.acked
            if (stored < e.acked) {
              r.lost++
              r.firstLost ??= `${docIdOf(e.i)}: reading ${e.acked} acknowledged, ${stored} stored`
            }
          }
        } finally {
          await node.stop()
        }
        return r
      }
    },
    close: async () => {
      for (const d of devices) clearTimeout(d.timer)
      await Promise.all(devices.map(async d => { await d.node.stop() }))
    }
  }
}

export default fleetDevices
