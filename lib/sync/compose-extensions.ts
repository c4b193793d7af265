/**
 * Several engine extensions as one (grants, then encrypted docs): the Node
 * entry's encrypted docs put theirs after the grants' (lib/e2e/support.ts).
 * Not in the browser entry, which has one extension at most.
 */
import type { Access } from '../policy/types.js'
import type { EngineExtension } from './extension.js'

/**
 * Features and hooks of each; a frame goes to each in turn until one takes it, and a
 * frame one of them held and hands back goes to those after it first.
 */
export function composeExtensions (...parts: Array<EngineExtension | undefined>): EngineExtension | undefined {
  const list = parts.filter((p): p is EngineExtension => p !== undefined)
  if (list.length <= 1) return list[0]
  return {
    features: list.reduce((f, p) => f | p.features, 0),
    presentsFirst: () => list.some(p => p.presentsFirst()),
    attach: (api) => {
      list.forEach((p, i) => {
        p.attach({
          ...api,
          handle: (peer, frame) => {
            for (const later of list.slice(i + 1)) if (later.intercept(peer, frame)) return
            api.handle(peer, frame)
          }
        })
      })
    },
    hello: (peer) => { for (const p of list) p.hello(peer) },
    offering: (peer, doc) => { for (const p of list) p.offering(peer, doc) },
    access: (peerId, docId, policy) => {
      let access: Access | undefined
      for (const p of list) access = p.access(peerId, docId, access ?? policy) ?? access
      return access
    },
    intercept: (peer, frame) => list.some(p => p.intercept(peer, frame)),
    peerGone: (peer) => { for (const p of list) p.peerGone(peer) },
    stop: () => { for (const p of list) p.stop() }
  }
}
