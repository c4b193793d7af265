/**
 * P6 / G2, the devices' side: many meshdoc devices in one process, each a
 * real node (its own Ed25519 key and PeerId, its own libp2p with TCP + Noise
 * + yamux, its own in-memory storage) holding one doc, `sensors/<i>/state`.
 *
 *   setup      make `n` devices (and with `grants`, an owner key and one grant
 *              per device: audience its PeerId, docs `sensors/<i>/**`, write);
 *              not measured
 *   pass       every device, `concurrency` at a time: write a reading, dial the
 *              gateway, wait until the gateway has acknowledged the doc
 *              (`whenSynced({ peer })`), hang up. The devices stay up between
 *              passes, so a second pass is a reconnect of the same
 *              incarnations presenting the same tokens.
 *   ttfs       G2: a fresh device presenting `grants` grants (0: none), timed
 *              from its dial to its first doc in sync with the gateway
 *   mark / report   CPU, RSS, socket bytes of this process
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { createMeshNode, issueGrant, type DocHandle, type MeshNode } from '../../adapters/presets/node.js'
import { now } from '../core/rpc.js'
import { UsageMeter } from './doc-commands.js'
import type { RoleFactory } from './types.js'

const HOUR = 3_600_000

interface Device {
  node: MeshNode
  handle: DocHandle
  readings: number
}

export interface PassResult {
  devices: number
  /** first dial to last hang-up */
  wallMs: number
  /** per device: dial to the gateway's acknowledgement */
  syncMs: number[]
  /** dials that failed and were tried again (the gateway's handshake slots per host were taken) */
  retries: number
  /** devices that never synced (after every retry) */
  failed: number
  firstError?: string
}

export interface TtfsResult {
  /** dial to the doc in sync with the gateway (its ACK), ms: a fresh device, its tokens new to the gateway */
  first: number
  /** the same device (same incarnation, same tokens) again, after hanging up */
  again: number
  retries: number
}

/** `owner` grants the device `key` write access to `sensors/<i>/**`. */
async function grantFor (owner: PrivateKey, key: PrivateKey, i: number, hops: number): Promise<string> {
  const t = Date.now()
  const times = { notBefore: t, expiresAt: t + HOUR }
  if (hops === 1) return await issueGrant({ key: owner, audience: peerIdFromPrivateKey(key).toString(), access: 'write', docs: [`sensors/${i}/**`], ...times })
  // owner -> an intermediate (may delegate) -> the device; a sub-grant lies within its parent's time
  const mid = await generateKeyPair('Ed25519')
  const parent = await issueGrant({ key: owner, audience: peerIdFromPrivateKey(mid).toString(), access: 'write', docs: ['sensors/**'], ...times, delegate: true })
  return await issueGrant({ key: mid, parent, audience: peerIdFromPrivateKey(key).toString(), access: 'write', docs: [`sensors/${i}/**`], notBefore: t, expiresAt: t + HOUR - 1 })
}

const fleet: RoleFactory = async () => {
  const owner = await generateKeyPair('Ed25519')
  const ownerId = peerIdFromPrivateKey(owner).toString()
  const devices: Device[] = []
  const meter = new UsageMeter()

  async function device (i: number, grants: string[], key: PrivateKey): Promise<Device> {
    // no anti-entropy timer: a pass is one connection per device, nothing else on the wire
    const node = await createMeshNode({ privateKey: key, grants, antiEntropyIntervalMs: 0, keepDocIds: false })
    const handle = await node.open(`sensors/${i}/state`)
    handle.doc.getMap('m').set('id', i)
    return { node, handle, readings: 0 }
  }

  /** Dial, retrying refused dials after a short pause (counted); resolve when the gateway has the doc. */
  async function syncOnce (d: Device, addr: string, gatewayId: string, timeoutMs: number, counts: { retries: number }): Promise<number> {
    d.handle.doc.getMap('m').set('reading', ++d.readings)
    const t0 = now()
    for (let attempt = 0; ; attempt++) {
      try {
        await d.node.dial(addr)
        break
      } catch (err) {
        if (attempt >= 50) throw err
        counts.retries++
        await new Promise(resolve => setTimeout(resolve, 2 + Math.random() * 8))
      }
    }
    await d.handle.whenSynced({ peer: gatewayId, timeout: timeoutMs })
    return now() - t0
  }

  async function hangUp (d: Device, gatewayId: string): Promise<void> {
    await d.node.libp2p.hangUp(peerIdFromString(gatewayId))
    // the session is over on our side before the device dials again
    while (d.node.peers.includes(gatewayId)) await new Promise(resolve => setTimeout(resolve, 1))
  }

  return {
    info: { ownerId },
    handlers: {
      setup: async ({ n, grants, hops }: { n: number, grants: boolean, hops?: number }) => {
        const t0 = performance.now()
        for (let i = devices.length; i < n; i++) {
          const key = await generateKeyPair('Ed25519')
          devices.push(await device(i, grants ? [await grantFor(owner, key, i, hops ?? 1)] : [], key))
        }
        return { devices: devices.length, setupMs: performance.now() - t0 }
      },
      mark: async () => { await meter.mark() },
      report: async () => await meter.report(),
      /** devices `from` to `to` (default: all) */
      pass: async ({ addr, gatewayId, concurrency, timeoutMs, from = 0, to = devices.length }: { addr: string, gatewayId: string, concurrency: number, timeoutMs: number, from?: number, to?: number }): Promise<PassResult> => {
        const syncMs: number[] = []
        const counts = { retries: 0 }
        let failed = 0
        let firstError: string | undefined
        let next = from
        const end = Math.min(to, devices.length)
        const t0 = now()
        await Promise.all(Array.from({ length: concurrency }, async () => {
          while (next < end) {
            const i = next++
            const d = devices[i]
            try {
              syncMs.push(await syncOnce(d, addr, gatewayId, timeoutMs, counts))
            } catch (err) {
              failed++
              firstError ??= `device ${i}: ${(err as Error).message}`
            }
            await hangUp(d, gatewayId).catch(() => {})
          }
        }))
        return { devices: end - from, wallMs: now() - t0, syncMs, retries: counts.retries, failed, ...(firstError !== undefined ? { firstError } : {}) }
      },
      ttfs: async ({ addr, gatewayId, grants, hops, index, timeoutMs }: { addr: string, gatewayId: string, grants: number, hops: number, index: number, timeoutMs: number }): Promise<TtfsResult> => {
        const key = await generateKeyPair('Ed25519')
        // the first grant covers the device's doc; the other nine cover other docs of the fleet, as a peer holding ten might
        const tokens = await Promise.all(Array.from({ length: grants }, async (_, k) => await grantFor(owner, key, index * 100 + k, hops)))
        const d = await device(index * 100, tokens, key)
        const counts = { retries: 0 }
        try {
          const first = await syncOnce(d, addr, gatewayId, timeoutMs, counts)
          await hangUp(d, gatewayId)
          const again = await syncOnce(d, addr, gatewayId, timeoutMs, counts)
          await hangUp(d, gatewayId)
          return { first, again, retries: counts.retries }
        } finally {
          await d.node.stop()
        }
      }
    },
    close: async () => { await Promise.all(devices.map(async d => { await d.node.stop() })) }
  }
}

export default fleet
