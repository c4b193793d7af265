/**
 * One presence timer for a gateway's served docs (lib/sync/awareness-sweep.ts,
 * issue 18). y-protocols gives each Awareness a 3 s interval of its own; a
 * gateway serving a doc per device ran one per device (333 callbacks a
 * second at 1,000 devices). The sweep stops those intervals and does their
 * work from one timer: remote states silent for 30 s are removed, a local
 * state is renewed after 15 s, and a destroyed awareness leaves the sweep.
 */
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import * as awarenessProtocol from 'y-protocols/awareness'
import { MemoryStorageAdapter } from '../adapters/memory-storage/index.js'
import { serveByKey, type ServingRepo } from '../lib/serving-repo.js'
import { AwarenessSweep } from '../lib/sync/awareness-sweep.js'
import type { EngineDoc } from '../lib/sync/engine-doc.js'
import { SyncEngine } from '../lib/sync/engine.js'
import { openEngineDoc } from './helpers/engine-doc.js'
import { Wire } from './helpers/hand-wire.js'

/** a Node Timeout that was cleared */
const cleared = (t: unknown): boolean => (t as { _destroyed?: boolean })._destroyed === true

describe('awareness sweep (one presence timer for many docs)', () => {
  const cleanup: Array<() => void | Promise<void>> = []
  afterEach(async () => { for (const c of cleanup.splice(0)) await c() })

  function awareness (): awarenessProtocol.Awareness {
    const a = new awarenessProtocol.Awareness(new Y.Doc())
    cleanup.push(() => { a.destroy() })
    return a
  }

  it('stops the awareness\'s own interval, times out silent remote states after 30 s and renews the local one after 15 s', () => {
    const sweep = new AwarenessSweep()
    cleanup.push(() => { sweep.stop() })
    const gw = awareness()
    const device = awareness()
    gw.setLocalState({ role: 'gateway' })
    device.setLocalState({ role: 'sensor' })
    awarenessProtocol.applyAwarenessUpdate(gw, awarenessProtocol.encodeAwarenessUpdate(device, [device.clientID]), 'device')
    sweep.add(gw)
    assert.ok(cleared(gw._checkInterval), 'its own 3 s interval is stopped')
    const t0 = Date.now()
    const clock = gw.meta.get(gw.clientID)!.clock

    sweep.sweep(t0 + 14_000)
    assert.equal(gw.meta.get(gw.clientID)!.clock, clock, 'not renewed before 15 s')
    sweep.sweep(t0 + 16_000)
    assert.equal(gw.meta.get(gw.clientID)!.clock, clock + 1, 'renewed after 15 s')
    assert.ok(gw.getStates().has(device.clientID), 'a remote state is kept before 30 s')

    const removed: number[] = []
    gw.on('change', ({ removed: r }: { removed: number[] }, origin: unknown) => { if (origin === 'timeout') removed.push(...r) })
    sweep.sweep(t0 + 31_000)
    assert.deepEqual(removed, [device.clientID], 'silent for 30 s: removed, as y-protocols does')
    assert.ok(gw.getStates().has(gw.clientID), 'the local state stays')
  })

  it('a destroyed awareness leaves the sweep (and the timer stops with the last)', () => {
    const sweep = new AwarenessSweep()
    cleanup.push(() => { sweep.stop() })
    const a = awareness()
    sweep.add(a)
    a.destroy()
    const b = awareness()
    b.setLocalState({})
    sweep.add(b)
    sweep.sweep(Date.now() + 16_000)
    assert.equal(a.getLocalState(), null, 'the destroyed one was left alone')
    b.destroy()
    assert.equal((sweep as unknown as { timer: unknown }).timer, undefined, 'no timer once no awareness is left')
  })

  it('a gateway\'s docs served by key run no interval each', async () => {
    const N = 20
    const serving = serveByKey()
    const gw = new SyncEngine({ antiEntropyIntervalMs: 0, ...serving.engine })
    const repo = serving.repo({ engine: gw, storage: new MemoryStorageAdapter(), idleUnloadMs: 60_000 }) as ServingRepo
    const docs: EngineDoc[] = []
    cleanup.push(async () => {
      gw.stop()
      await repo.stop()
      for (const d of docs) d.awareness.destroy()
    })
    const wires: Wire[] = []
    for (let i = 0; i < N; i++) {
      const device = new SyncEngine({ antiEntropyIntervalMs: 0 })
      cleanup.push(() => { device.stop() })
      const own = openEngineDoc(device, `sensors/${i}/state`)
      docs.push(own)
      own.doc.getMap('m').set('reading', i)
      const w = new Wire(device, `device-${i}`, gw, 'gateway')
      wires.push(w)
      await w.settle(2)
    }
    cleanup.push(() => { for (const w of wires) w.close() })
    const served = gw.openDocs.filter(d => d.servedOnly)
    assert.equal(served.length, N)
    for (const d of served) assert.ok(cleared(d.awareness._checkInterval), `${d.keyHex}: its own interval stopped`)
  })
})
