/**
 * What changed in a doc, as a JSON Patch (RFC 6902), for `meshdoc tail
 * --patch`: a replica of each doc followed is kept here, each change's V1
 * update is applied to it, and the Yjs events of that apply become patch ops
 * (an array's delta as `remove`/`add` by index, a map's keys as
 * `add`/`replace`/`remove`, a text or XML value replaced whole). The ops are
 * checked: applied to the JSON before, they must give the JSON after (as
 * doc-json.ts renders it); where they do not (a nested change whose parent
 * moved in the same transaction), the root that differs is replaced whole.
 * So a patch always turns the previous line's document into this one's.
 */
import * as Y from 'yjs'
import { docToJSON, inferRootKind } from './doc-json.js'

export type PatchOp =
  | { op: 'add' | 'replace', path: string, value: unknown }
  | { op: 'remove', path: string }

export class PatchTracker {
  private readonly docs = new Map<string, Y.Doc>()

  /**
   * The ops `update` makes to the doc `key`. The first time a doc is seen,
   * `state` (its whole state) starts the replica and the op replaces the
   * whole document.
   */
  patch (key: string, update: Uint8Array, state?: Uint8Array): PatchOp[] {
    let doc = this.docs.get(key)
    if (doc === undefined) {
      doc = new Y.Doc()
      this.docs.set(key, doc)
      if (state !== undefined) Y.applyUpdate(doc, state)
      Y.applyUpdate(doc, update)
      return [{ op: 'replace', path: '', value: docToJSON(doc) }]
    }
    const before = docToJSON(doc)
    const ops: PatchOp[] = []
    const typed = new Set<string>()
    const observers: Array<() => void> = []
    for (const name of doc.share.keys()) {
      const type = typedRoot(doc, name)
      if (type === undefined) continue
      typed.add(name)
      const f = (events: Array<Y.YEvent<any>>): void => { for (const e of events) ops.push(...opsOf(e, name)) }
      type.observeDeep(f)
      observers.push(() => { type.unobserveDeep(f) })
    }
    try {
      Y.applyUpdate(doc, update)
    } finally {
      for (const off of observers) off()
    }
    const after = docToJSON(doc)
    // roots that were empty (untyped) or new: whole
    for (const name of Object.keys(after)) {
      if (!typed.has(name) && !deepEqual(before[name], after[name])) ops.push({ op: name in before ? 'replace' : 'add', path: pointer([name]), value: after[name] })
    }
    return checked(before, after, ops)
  }
}

/** The root as its kind (so it emits events), or undefined while it holds nothing. */
function typedRoot (doc: Y.Doc, name: string): Y.AbstractType<any> | undefined {
  switch (inferRootKind(doc.share.get(name)!)) {
    case 'text': return doc.getText(name)
    case 'array': return doc.getArray(name)
    case 'map': return doc.getMap(name)
    case 'xml': return doc.getXmlFragment(name)
    case 'empty': return undefined
  }
}

function opsOf (e: Y.YEvent<any>, root: string): PatchOp[] {
  const base = [root, ...e.path.map(String)]
  const t = e.target
  if (t instanceof Y.Array) {
    const ops: PatchOp[] = []
    let i = 0
    for (const d of e.changes.delta) {
      if (d.retain !== undefined) i += d.retain
      if (d.delete !== undefined) for (let k = 0; k < d.delete; k++) ops.push({ op: 'remove', path: pointer([...base, String(i)]) })
      if (Array.isArray(d.insert)) for (const v of d.insert) ops.push({ op: 'add', path: pointer([...base, String(i++)]), value: toJSON(v) })
    }
    return ops
  }
  if (t instanceof Y.Map) {
    const ops: PatchOp[] = []
    for (const [key, change] of e.changes.keys) {
      const path = pointer([...base, key])
      if (change.action === 'delete') ops.push({ op: 'remove', path })
      else ops.push({ op: change.action === 'add' ? 'add' : 'replace', path, value: toJSON(t.get(key)) })
    }
    return ops
  }
  // text and XML: the value whole (JSON Patch has no splice for strings)
  return [{ op: 'replace', path: pointer(base), value: toJSON(t) }]
}

function toJSON (v: unknown): unknown {
  return v instanceof Y.AbstractType ? v.toJSON() : v
}

function pointer (parts: string[]): string {
  return parts.map(p => '/' + p.replace(/~/g, '~0').replace(/\//g, '~1')).join('')
}

/** `ops` if they turn `before` into `after`, else the roots that differ replaced whole. */
function checked (before: Record<string, unknown>, after: Record<string, unknown>, ops: PatchOp[]): PatchOp[] {
  try {
    if (deepEqual(applyPatch(structuredClone(before), ops), after)) return ops
  } catch {}
  const whole: PatchOp[] = []
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (deepEqual(before[name], after[name])) continue
    whole.push(name in after ? { op: name in before ? 'replace' : 'add', path: pointer([name]), value: after[name] } : { op: 'remove', path: pointer([name]) })
  }
  return whole
}

/** Apply `ops` to `doc` (a JSON value, changed in place where it can be); throws on a path that does not exist. */
export function applyPatch (doc: unknown, ops: readonly PatchOp[]): unknown {
  for (const o of ops) {
    if (o.path === '') {
      if (o.op === 'remove') throw new Error('cannot remove the whole document')
      doc = o.value
      continue
    }
    const parts = o.path.slice(1).split('/').map(p => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    const last = parts.pop()!
    let parent: any = doc
    for (const p of parts) {
      parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p]
      if (parent === null || typeof parent !== 'object') throw new Error(`no such path ${o.path}`)
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last)
      if (!Number.isInteger(i) || i < 0 || i > parent.length || (o.op !== 'add' && i === parent.length)) throw new Error(`no such index ${o.path}`)
      if (o.op === 'add') parent.splice(i, 0, o.value)
      else if (o.op === 'replace') parent[i] = o.value
      else parent.splice(i, 1)
    } else {
      if (o.op !== 'add' && !(last in parent)) throw new Error(`no such key ${o.path}`)
      if (o.op === 'remove') delete parent[last]
      else parent[last] = o.value
    }
  }
  return doc
}

function deepEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => deepEqual(v, (b as unknown[])[i]))
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every(k => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}
