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
 *
 * A node that serves docs by key (`serveAllDocs`, the `meshdoc gateway`) never
 * learns the id of a doc a peer names by key: the policy sees it as
 * `key:<hex>`. Build such a node's policy with `keyServingPolicyFromRules`
 * (key-serving.ts, from the Node entry): exact ids then also match their key
 * form, and rules that would answer differently for a doc served by key than
 * for the same doc by id are refused (`checkRulesForKeyServing`).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { Access, type Policy } from './types.js'

/** Throw a TypeError naming the first entry of `ids` that is not a PeerId (a typo matches nobody, silently). */
export function checkPeerIds (ids: readonly string[], where: string): void {
  for (const id of ids) {
    try {
      peerIdFromString(id)
    } catch {
      throw new TypeError(`${where}: "${id}" is not a PeerId (meshdoc id prints a node's)`)
    }
  }
}

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
      // `**` is any run of characters, line terminators too (`.` would stop at them)
      if (pattern[i + 1] === '*') { re += '[\\s\\S]*'; i++ } else re += '[^/]*'
    } else {
      re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
    }
  }
  return new RegExp(`^${re}$`)
}

const ACCESS_VALUES = new Set<string>(Object.values(Access))

/**
 * Compile rules into a policy. `opts.alsoMatches` gives, for each doc pattern, more
 * ids it should match (the key form of an exact id on a node serving by key:
 * `keyServingPolicyFromRules` in key-serving.ts).
 */
export interface PolicyFromRulesOptions {
  /** more ids each doc pattern matches (key-serving.ts adds the key form of exact ids) */
  alsoMatches?: (pattern: string) => string[]
}

/** the rules behind each policy made here, so a node can check them against how it serves docs */
const RULES = new WeakMap<Policy, { config: PolicyRules, keyForms: boolean }>()

/** The rules a policy was made from (by `policyFromRules`), and whether exact ids also match key forms. */
export function rulesBehind (policy: Policy): { config: PolicyRules, keyForms: boolean } | undefined {
  return RULES.get(policy)
}

export function policyFromRules (config: PolicyRules, opts: PolicyFromRulesOptions = {}): Policy {
  const alsoMatches = opts.alsoMatches ?? ((): string[] => [])
  const fallback = config.default ?? Access.NONE
  config.rules.forEach((r, i) => {
    if (!ACCESS_VALUES.has(r.access)) throw new TypeError(`rule ${i}: access must be none, read or write`)
    // a typo in a PeerId would silently match nobody
    if (r.peers !== '*') checkPeerIds(r.peers, `rule ${i}`)
  })
  const compiled = config.rules.map((r) => {
    const docs = patternsOf(r)
    return {
      peers: r.peers === '*' ? null : new Set(r.peers),
      docs: [...docs, ...docs.flatMap(alsoMatches)].map(globToRegExp),
      access: r.access
    }
  })
  const policy: Policy = (peerId, docId) => {
    for (const r of compiled) {
      if (r.peers !== null && !r.peers.has(peerId)) continue
      if (r.docs.some(re => re.test(docId))) return r.access
    }
    return fallback
  }
  RULES.set(policy, { config, keyForms: opts.alsoMatches !== undefined })
  return policy
}

export function patternsOf (r: PolicyRule): string[] {
  return Array.isArray(r.docs) ? r.docs : [r.docs]
}
