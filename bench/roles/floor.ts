/**
 * The floors meshdoc is measured against, in a fresh process of their own:
 *   replay  local replay with a V1 `update` listener (no network at all)
 *   join    libp2p dial of the peer that holds the doc + Y.applyUpdateV2 of its state
 */
import { readFileSync } from 'node:fs'
import { multiaddr } from '@multiformats/multiaddr'
import * as Y from 'yjs'
import { createDefaultLibp2p } from '../../adapters/libp2p/index.js'
import { now } from '../core/rpc.js'
import { loadEdits, replay, TEXT_NAME } from '../core/trace.js'
import { setClientID, UsageMeter } from './doc-commands.js'
import type { RoleFactory } from './types.js'

const floor: RoleFactory = async () => {
  const meter = new UsageMeter()
  let stop = async (): Promise<void> => {}
  return {
    info: {},
    handlers: {
      mark: async ({ limit }: { limit?: number } = {}) => {
        loadEdits(limit)
        await meter.mark()
      },
      report: async () => await meter.report(),
      replay: async ({ limit, chunk, clientID }: { limit?: number, chunk: number, clientID?: number }) => {
        const { edits, endContent } = loadEdits(limit)
        const doc = new Y.Doc()
        if (clientID !== undefined) setClientID(doc, clientID)
        let bytes = 0
        let updates = 0
        doc.on('update', (u: Uint8Array) => { bytes += u.length; updates++ })
        const t0 = now()
        await replay(doc, edits, chunk)
        const t1 = now()
        return { t0, t1, edits: edits.length, v1Bytes: bytes, v1Updates: updates, verified: doc.getText(TEXT_NAME).toString() === endContent }
      },
      join: async ({ addr, statePath, limit }: { addr: string, statePath: string, limit?: number }) => {
        const { endContent } = loadEdits(limit)
        const state = readFileSync(statePath)
        const libp2p = await createDefaultLibp2p()
        await libp2p.start()
        stop = async () => { await libp2p.stop() }
        const t0 = now()
        await libp2p.dial(multiaddr(addr))
        const t1 = now()
        const doc = new Y.Doc()
        Y.applyUpdateV2(doc, state)
        const t2 = now()
        return { dialMs: t1 - t0, applyMs: t2 - t1, totalMs: t2 - t0, verified: doc.getText(TEXT_NAME).toString() === endContent }
      }
    },
    close: async () => { await stop() }
  }
}

export default floor
