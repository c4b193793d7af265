/**
 * Policy rules on a node that serves docs by key (`serveAllDocs`, the
 * `meshdoc gateway`): such a node never learns the id of a doc a peer names
 * by key, the policy sees it as `key:<hex>`. `keyServingPolicyFromRules`
 * makes exact ids also match their key form, and refuses rules that would
 * answer differently for a doc served by key than for the same doc by id
 * (`checkRulesForKeyServing`). Node only: browsers never serve by key, and
 * this stays out of their bundle.
 */
import { docKeyFor, docKeyHex, keyOnlyDocId as keyOnlyId } from '../protocol/doc-key.js'
import { DOC_KEY_BYTES } from '../protocol/constants.js'
import { MeshdocError } from '../errors.js'
import { Access, type Policy } from './types.js'
import { globToRegExp, patternsOf, policyFromRules, rulesBehind, type PolicyRule, type PolicyRules } from './rules.js'

export interface KeyServingPolicyOptions {
  /** the node's mesh key (`MeshNodeOptions.meshKey`), for the key form of exact ids */
  meshKey?: Uint8Array | string
  /** told of each glob that grants access but never matches a doc served by key (and of each that matches more key forms than ids); default: console.warn */
  warn?: (message: string) => void
}

/**
 * The policy of `config` for a node serving docs by key: exact ids also match
 * their key form; throws `KeyServingPolicyError` for rules a doc served by
 * key could slip between, and tells `warn` of globs that never match one.
 */
export function keyServingPolicyFromRules (config: PolicyRules, opts: KeyServingPolicyOptions = {}): Policy {
  const check = checkRulesForKeyServing(config)
  if (check.refused.length > 0) throw new KeyServingPolicyError(check.refused)
  const warn = opts.warn ?? ((m: string) => { console.warn(`meshdoc: warning: ${m}`) })
  for (const w of check.warnings) warn(w)
  const key = typeof opts.meshKey === 'string' ? new TextEncoder().encode(opts.meshKey) : opts.meshKey
  return policyFromRules(config, { alsoMatches: (d) => kindOf(d) === 'exact' ? [keyOnlyId(docKeyHex(docKeyFor(d, key)))] : [] })
}

/**
 * What is wrong with `policy` on a node that serves docs by key: a
 * `policyFromRules` policy matches no doc served by key by its exact ids, nor
 * by globs other than `**` (`keyServingPolicyFromRules` is the one to use).
 * `refused`: a rule that denies (`none`) but that such docs slip past to a
 * default or a `**` rule that grants more; start no node with it. `warnings`:
 * rules that grant access but never to such docs. Both empty for a policy
 * function of the app's own (it cannot be inspected) and for
 * `keyServingPolicyFromRules` (it checked when it was made).
 */
export function keyServingProblems (policy: Policy): KeyServingCheck {
  const behind = rulesBehind(policy)
  if (behind === undefined || behind.keyForms) return { refused: [], warnings: [] }
  const { rules } = behind.config
  const named = (r: PolicyRule, i: number): string[] => patternsOf(r).filter(d => kindOf(d) === 'exact' || kindOf(d) === 'glob').map(d => `rule ${i} ("${d}")`)
  // what a doc served by key gets: the first rule for everything, else the default
  const keyAccess = (from: number): string => rules.slice(from).find(r => patternsOf(r).some(d => kindOf(d) === 'everything'))?.access ?? behind.config.default ?? Access.NONE
  const bypassed = rules.flatMap((r, i) => r.access === Access.NONE && keyAccess(i + 1) !== Access.NONE ? named(r, i) : [])
  const blind = rules.flatMap((r, i) => r.access === Access.NONE ? [] : named(r, i))
  const why = 'with serveAllDocs, the policy sees documents served by key as key:<hex>'
  const fix = 'make the policy with keyServingPolicyFromRules(rules, { meshKey }), where exact ids also match their key form'
  return {
    refused: bypassed.length === 0 ? [] : [`${why}, so ${bypassed.join(', ')} never deny them, and they get more access by key than by id; ${fix}`],
    warnings: blind.length === 0 ? [] : [`${why}, so ${blind.join(', ')} never grant access to them; ${fix}`]
  }
}

/**
 * Rules that would protect a doc less when it is served by key than when it
 * is known by id. `problems` has one sentence per conflicting pair of rules.
 */
export class KeyServingPolicyError extends MeshdocError {
  override name = 'KeyServingPolicyError'
  constructor (readonly problems: string[]) {
    super(`${problems.join('; ')}. A node that serves documents by key sees them as key:<hex>, which globs other than "**" cannot tell apart: name the documents such a rule covers by exact id (an exact id also matches its key form), or grant access by exact ids under a "none" default`)
  }
}

export interface KeyServingCheck {
  /** pairs of rules a doc served by key could slip between (more access than by id): refuse these */
  refused: string[]
  /**
   * globs granting access that never match a doc served by key (only docs
   * opened by id), and globs that match key forms of docs they do not name
   */
  warnings: string[]
}

const KEY_HEX_CHARS = DOC_KEY_BYTES * 2

/**
 * - `exact`: no `*`; matches one id, and (when serving by key) its key form
 * - `everything`: `**` (only stars, two or more): matches every doc either way
 * - `keyName`: begins with `key:`; names docs by key, on purpose
 * - `glob`: any other pattern with a `*`: matches ids, and key forms as they happen to fit
 */
type PatternKind = 'exact' | 'everything' | 'keyName' | 'glob'

function kindOf (pattern: string): PatternKind {
  if (pattern.startsWith('key:')) return 'keyName'
  if (!pattern.includes('*')) return 'exact'
  if (/^\*{2,}$/.test(pattern)) return 'everything'
  return 'glob'
}

/**
 * Which key forms (`key:` and 32 hex digits) `pattern` matches: every one,
 * some, or none. None: no placement of its literals fits `key:[0-9a-f]{32}`
 * (a small walk over the 36 positions). Every one: it matches both
 * `key:000…` and `key:111…`; since neither digit occurs in `key:`, each
 * literal must then lie within `key:` and the pattern end in a star, so it
 * matches every key form.
 */
function keyMatch (pattern: string): 'all' | 'some' | 'none' {
  const re = globToRegExp(pattern)
  if (re.test(keyOnlyId('0'.repeat(KEY_HEX_CHARS))) && re.test(keyOnlyId('1'.repeat(KEY_HEX_CHARS)))) return 'all'
  const len = 4 + KEY_HEX_CHARS
  const fits = (c: string, at: number): boolean => at < 4 ? 'key:'[at] === c : /^[0-9a-f]$/.test(c)
  let reach = new Set([0])
  for (const c of pattern) {
    const next = new Set<number>()
    if (c === '*') {
      const from = Math.min(...reach)
      for (let p = from; p <= len; p++) next.add(p)
    } else {
      for (const p of reach) if (p < len && fits(c, p)) next.add(p + 1)
    }
    reach = next
    if (reach.size === 0) return 'none'
  }
  return reach.has(len) ? 'some' : 'none'
}

interface RuleShape {
  index: number
  access: Access
  label: string
  /** a pattern that matches ids whose key forms it does not match (a doc served by key falls past it) */
  missing: string[]
  /** a pattern that matches key forms of docs it does not match by id */
  extra: string[]
  matchesKeys: boolean
  matchesIds: boolean
  everything: boolean
}

const RANK: Record<Access, number> = { none: 0, read: 1, write: 2 }

function shapeOf (r: PolicyRule, index: number): RuleShape {
  const docs = patternsOf(r)
  const shape: RuleShape = {
    index,
    access: r.access,
    label: `rule ${index} (${docs.map(d => JSON.stringify(d)).join(', ')}: ${r.access})`,
    missing: [],
    extra: [],
    matchesKeys: false,
    matchesIds: false,
    everything: false
  }
  for (const d of docs) {
    const kind = kindOf(d)
    if (kind !== 'keyName') shape.matchesIds = true
    if (kind === 'exact' || kind === 'everything') { shape.matchesKeys = true; shape.everything ||= kind === 'everything'; continue }
    const km = keyMatch(d)
    if (km !== 'none') shape.matchesKeys = true
    if (kind === 'glob' && km !== 'all') shape.missing.push(d)
    if (kind === 'glob' && km !== 'none') shape.extra.push(d)
  }
  return shape
}

/**
 * What `config` does on a node that serves docs by key, where a doc it never
 * opened by id is seen as `key:<hex>` and exact ids also match their key
 * form. A glob other than `**` cannot follow a doc there: `secret/**` never
 * matches `key:<hex>`, and `*` matches every key form (it has no `/`).
 * Refused: a rule such a doc slips past (or wrongly falls into) that gives it
 * more access than the doc would get by id — for example `secret/**` none
 * followed by `**` read, which would give `secret/` docs served by key to
 * anyone. Warned: a glob granting access that only ever matches docs opened
 * by id.
 */
export function checkRulesForKeyServing (config: PolicyRules): KeyServingCheck {
  const shapes = config.rules.map(shapeOf)
  const fallback: RuleShape = {
    index: -1,
    access: config.default ?? Access.NONE,
    label: `the default (${config.default ?? Access.NONE})`,
    missing: [],
    extra: [],
    matchesKeys: true,
    matchesIds: true,
    everything: true
  }
  // peer classes: each PeerId a rule names, and every other peer
  const named = new Set(config.rules.flatMap(r => r.peers === '*' ? [] : r.peers))
  const classes: Array<string | null> = [...named, null]
  const refused = new Set<string>()
  for (const peer of classes) {
    const seq: RuleShape[] = []
    for (const [i, r] of config.rules.entries()) {
      if (r.peers !== '*' && (peer === null || !r.peers.includes(peer))) continue
      seq.push(shapes[i])
      if (shapes[i].everything) break // later rules are never reached for this peer
    }
    if (seq.at(-1)?.everything !== true) seq.push(fallback)
    for (let i = 0; i < seq.length; i++) {
      for (let k = i + 1; k < seq.length; k++) {
        const first = seq[i]
        const later = seq[k]
        // a doc served by key falls past `first` into `later`, which gives more
        if (first.missing.length > 0 && later.matchesKeys && RANK[later.access] > RANK[first.access]) {
          refused.add(`${first.label} never matches a document served by key (seen as key:<hex>), so such a document falls through to ${later.label} and gets ${later.access} access instead of ${first.access}`)
        }
        // `first` catches key forms of docs that `later` restricts by id
        if (first.extra.length > 0 && later.matchesIds && RANK[first.access] > RANK[later.access]) {
          refused.add(`${first.label} also matches documents served by key (key:<hex> fits ${first.extra.map(d => JSON.stringify(d)).join(', ')}) that it does not name by id, so it gives ${first.access} access to documents that ${later.label} gives ${later.access}`)
        }
      }
    }
  }
  const neverMatch: string[] = []
  const wider: string[] = []
  for (const s of shapes) {
    for (const d of s.missing) {
      if (s.access === Access.NONE || keyMatch(d) !== 'none') continue
      neverMatch.push(`rule ${s.index} ("${d}": ${s.access}) never matches a document served by key (seen as key:<hex>), only documents opened by id; list exact doc ids instead (each also matches its key form), or "**" for every document`)
    }
    for (const d of s.extra) {
      wider.push(`rule ${s.index} ("${d}": ${s.access}) also matches documents served by key (key:<hex> fits it) that it does not name by id`)
    }
  }
  return { refused: [...refused], warnings: [...neverMatch, ...wider] }
}
