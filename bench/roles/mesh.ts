/**
 * A meshdoc node (libp2p TCP + Noise + yamux, in-memory storage) holding one
 * document. Options: { listen: boolean, docId: string }.
 */
import * as Y from 'yjs'
import { createMeshNode, PeerOrigin } from '../../adapters/presets/node.js'
import { E2E_REMOTE } from '../../lib/e2e/replica.js'
import { now } from '../core/rpc.js'
import { loadEdits } from '../core/trace.js'
import { docCommands, UsageMeter, whenTextEquals } from './doc-commands.js'
import type { RoleFactory } from './types.js'

/**
 * `encrypted` (an end-to-end encrypted doc, issue 16): `{ members: [peerId] }`
 * creates it with those writers, `true` joins it; `blind`: a gateway that
 * serves docs by key and opens nothing (it holds the encrypted doc without
 * the key).
 */
const mesh: RoleFactory = async (opts: { listen?: boolean, docId?: string, encrypted?: true | { members: string[] }, blind?: boolean }) => {
  const node = await createMeshNode({ listen: opts.listen === true ? ['/ip4/127.0.0.1/tcp/0'] : [], ...(opts.blind === true ? { serveAllDocs: true } : {}) })
  const docId = opts.docId ?? 'b4'
  const enc = opts.encrypted
  const handle = opts.blind === true
    ? undefined
    : enc === undefined
      ? await node.open(docId)
      : await node.open(docId, { encrypted: enc === true ? true : { members: enc.members.map(peerId => ({ peerId, access: 'write' as const })) } })
  // a blind gateway holds no doc: its commands see an empty one
  const doc = handle?.doc ?? new Y.Doc()
  const meter = new UsageMeter(() => {
    const s = node.stats
    return { framesOut: s.framesOut, framesIn: s.framesIn, bytesOut: s.bytesOut, bytesIn: s.bytesIn, updatesSent: s.updatesSent, updatesApplied: s.updatesApplied }
  })
  return {
    info: { addrs: node.multiaddrs, peerId: node.peerId },
    handlers: {
      ...docCommands(doc, meter),
      dial: async ({ addr }: { addr: string }) => {
        const t0 = now()
        await node.dial(addr)
        return { dialMs: now() - t0 }
      },
      synced: async ({ timeoutMs, peer }: { timeoutMs?: number, peer?: string }) => {
        const timeout = timeoutMs ?? 30_000
        if (handle !== undefined && 'encrypted' in handle) {
          await handle.whenReady({ timeout })
          if (peer !== undefined) await handle.whenStored({ peer, timeout })
        } else {
          await handle?.whenSynced({ timeout })
        }
        return { peers: node.peers.length }
      },
      /** what the node holds of encrypted docs (a blind gateway: whether it compacted) */
      'e2e-held': async () => node.encryptedHeld(),
      /** cold join: dial and wait until the whole document is here */
      join: async ({ addr, limit, timeoutMs }: { addr: string, limit?: number, timeoutMs: number }) => {
        const { endContent } = loadEdits(limit)
        // phase stamps: sync session up, first remote transaction starts / ends
        let tPeer = NaN
        let tApply = NaN
        let tApplied = NaN
        node.once('peer:connect', () => { tPeer = now() })
        // a remote transaction: a peer's, or (encrypted) envelopes applied
        const remote = (tr: Y.Transaction): boolean => tr.origin instanceof PeerOrigin || tr.origin === E2E_REMOTE
        let remoteTxns = 0
        const before = (tr: Y.Transaction): void => { if (remote(tr) && Number.isNaN(tApply)) tApply = now() }
        const after = (tr: Y.Transaction): void => {
          if (!remote(tr)) return
          remoteTxns++
          if (Number.isNaN(tApplied)) tApplied = now()
        }
        doc.on('beforeTransaction', before)
        doc.on('afterTransaction', after)
        const t0 = now()
        await node.dial(addr)
        const t1 = now()
        const t2 = await whenTextEquals(doc, endContent, timeoutMs)
        doc.off('beforeTransaction', before)
        doc.off('afterTransaction', after)
        return {
          dialMs: t1 - t0,
          totalMs: t2 - t0,
          phases: { dial: t1 - t0, session: tPeer - t1, waitSync2: tApply - tPeer, apply: tApplied - tApply, settle: t2 - tApplied, remoteTxns },
          verified: doc.getText('text').toString() === endContent
        }
      }
    },
    close: async () => { await node.stop() }
  }
}

export default mesh
