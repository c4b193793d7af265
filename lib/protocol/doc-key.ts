/**
 * Documents are named on the wire by a keyed hash of their id, so a peer that
 * does not already know an id learns nothing about it from the traffic.
 *
 * docKey = HMAC-SHA256(meshKey, "meshdoc/doc/v1/" || utf8(docId))[0..16)
 *
 * `meshKey` defaults to a public constant. With the default, the hash still
 * hides ids from passive observers only as well as ids are unguessable; a
 * mesh that sets its own secret `meshKey` hides them from anyone without it.
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { DOC_KEY_BYTES } from './constants.js'

export const DEFAULT_MESH_KEY = new TextEncoder().encode('meshdoc/public-mesh/v1')

const PREFIX = 'meshdoc/doc/v1/'

export function docKeyFor (docId: string, meshKey: Uint8Array = DEFAULT_MESH_KEY): Uint8Array {
  const mac = hmac(sha256, meshKey, new TextEncoder().encode(PREFIX + docId))
  return mac.subarray(0, DOC_KEY_BYTES)
}

/**
 * The id under which a node that serves docs by key (and never learns their
 * ids) knows a doc: what its policy is asked about.
 */
export const keyOnlyDocId = (keyHex: string): string => `key:${keyHex}`

/** Hex form of a doc key, used for map keys, storage keys and logs. */
export function docKeyHex (key: Uint8Array): string {
  return uint8ArrayToString(key, 'base16')
}
