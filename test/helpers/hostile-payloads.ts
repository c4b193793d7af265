/**
 * The bytes hostile peers send: Yjs V1 updates (many items, gapped, forged
 * under another clientID, plain big ones), awareness updates in y-protocols'
 * format, and state vectors naming many clients. Built by hand where Yjs would
 * be too slow or would refuse, with Yjs where a real replica is wanted.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as prng from 'lib0/prng'
import * as Y from 'yjs'

/** Yjs content ref of ContentString, and the info bit saying the item has a parentSub (a map key). */
const CONTENT_STRING = 4
const HAS_PARENT_SUB = 0x20

/**
 * One client's V1 update of as many map items as fit in `maxBytes`: each sets
 * its own key of the root map `m` to a one-character string, so none merges
 * with another and each costs the receiver a whole Item.
 */
export function manyItemsUpdate (client: number, maxBytes: number): { update: Uint8Array, items: number } {
  const body = encoding.createEncoder()
  let items = 0
  while (encoding.length(body) < maxBytes - 64) {
    encoding.writeUint8(body, CONTENT_STRING | HAS_PARENT_SUB)
    encoding.writeVarUint(body, 1) // parent is a root type, named by key
    encoding.writeVarString(body, 'm')
    encoding.writeVarString(body, `k${items.toString(36)}`)
    encoding.writeVarString(body, 'x')
    items++
  }
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1) // one client
  encoding.writeVarUint(e, items)
  encoding.writeVarUint(e, client)
  encoding.writeVarUint(e, 0) // from clock 0
  encoding.writeUint8Array(e, encoding.toUint8Array(body))
  encoding.writeVarUint(e, 0) // empty delete set
  return { update: encoding.toUint8Array(e), items }
}

/** An update of `bytes` text whose first struct depends on one never sent: the receiver must hold it as pending. */
export function gappedUpdate (client: number, bytes: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = client
  const text = doc.getText('t')
  text.insert(0, 'a')
  const before = Y.encodeStateVector(doc)
  text.insert(1, 'g'.repeat(bytes))
  return Y.encodeStateAsUpdate(doc, before)
}

/** One text item of `bytes` characters under `client`, with `marker` in front. */
export function textUpdate (client: number, marker: string, bytes = 0): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = client
  doc.getText('t').insert(0, marker + 'd'.repeat(bytes))
  return Y.encodeStateAsUpdate(doc)
}

/**
 * A forgery: `text` inserted as `client`, continuing where that client's
 * structs in `state` (a replica of the doc, as a V1 update) end.
 */
export function forgedUpdate (state: Uint8Array, client: number, text: string): Uint8Array {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, state)
  // set after the state is in: Yjs gives itself a new clientID when a remote update carries its own
  doc.clientID = client
  const before = Y.encodeStateVector(doc)
  doc.getText('t').insert(0, text)
  return Y.encodeStateAsUpdate(doc, before)
}

/** An awareness update in y-protocols' format: [clientID, clock, state JSON (null: removal)]. */
export function awarenessUpdate (entries: Array<[number, number, unknown]>): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, entries.length)
  for (const [client, clock, state] of entries) {
    encoding.writeVarUint(e, client)
    encoding.writeVarUint(e, clock)
    encoding.writeVarString(e, JSON.stringify(state))
  }
  return encoding.toUint8Array(e)
}

/** The clientIDs an awareness update speaks for, and whether each has a state (false: a removal). */
export function awarenessClients (update: Uint8Array): Array<{ client: number, present: boolean }> {
  const d = decoding.createDecoder(update)
  const out: Array<{ client: number, present: boolean }> = []
  const n = decoding.readVarUint(d)
  for (let i = 0; i < n; i++) {
    const client = decoding.readVarUint(d)
    decoding.readVarUint(d)
    out.push({ client, present: decoding.readVarString(d) !== 'null' })
  }
  return out
}

/** A V1 state vector naming `clients` random clients at random clocks. */
export function hugeStateVector (gen: prng.PRNG, clients: number): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, clients)
  for (let i = 0; i < clients; i++) {
    encoding.writeVarUint(e, prng.uint32(gen, 1, 0x7fffffff))
    encoding.writeVarUint(e, prng.uint32(gen, 1, 1 << 30))
  }
  return encoding.toUint8Array(e)
}

/** A fresh clientID (what Yjs picks: 32 random bits) from the seeded source. */
export const clientId = (gen: prng.PRNG): number => prng.uint32(gen, 1, 0xfffffffe)

/** A random 16-byte doc key. */
export const randomDocKey = (gen: prng.PRNG): Uint8Array => prng.uint8Array(gen, 16)
