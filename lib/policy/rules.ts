/**
 * A declarative policy: rules matched in order, first match wins.
 *
 * ```ts
 * policyFromRules({
 *   default: 'none',
 *   rules: [
 *     { peers: [gatewayId], docs: '**', access: 'write' },
 *     { peers: '*', docs: 'public/**', access: 'read' },
 *     { peers: [sensorA], docs: 'sensors/a/*', access: 'write' }
 *   ]
 * })
 * ```
 * Doc patterns: `*` matches within one `/`-separated segment, `**` matches
 * anything (including `/`). Everything else matches literally.
 */
import { Access, type Policy } from './types.js'

export interface PolicyRule {
  /** `'*'` for every peer, or a list of PeerIds */
  peers: '*' | string[]
  /** one pattern or several */
  docs: string | string[]
  access: Access
}

export interface PolicyRules {
  rules: PolicyRule[]
  /** access when no rule matches (default 'none') */
  default?: Access
}

export function globToRegExp (pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*') {
      if (pattern[i + 1] === '*') { re += '.*'; i++ } else re += '[^/]*'
    } else {
      re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    }
  }
  return new RegExp(`^${re}$`)
}

const ACCESS_VALUES = new Set<string>(Object.values(Access))

export function policyFromRules (config: PolicyRules): Policy {
  const fallback = config.default ?? Access.NONE
  const compiled = config.rules.map((r, i) => {
    if (!ACCESS_VALUES.has(r.access)) throw new TypeError(`rule ${i}: access must be none, read or write`)
    return {
      peers: r.peers === '*' ? null : new Set(r.peers),
      docs: (Array.isArray(r.docs) ? r.docs : [r.docs]).map(globToRegExp),
      access: r.access
    }
  })
  return (peerId, docId) => {
    for (const r of compiled) {
      if (r.peers !== null && !r.peers.has(peerId)) continue
      if (r.docs.some(re => re.test(docId))) return r.access
    }
    return fallback
  }
}
