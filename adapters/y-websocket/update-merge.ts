/**
 * A client's update messages that arrive in one socket read, merged into one
 * engine UPDATE (socket-peer.ts): the engine then validates, applies, stores
 * and forwards one update where a client typing fast sent dozens.
 *
 * Only updates whose structs are all one and the same client's (or that only
 * delete) are merged, so a refusal of the merge (authorship, a quota) refuses
 * nothing another client wrote; a merge holds at most MAX_BYTES, MAX_UPDATES
 * and MAX_ITEMS (structs and delete ranges): far below the engine's caps (by
 * default 8 MiB and 16,384 items), and few enough inputs that Y.mergeUpdates,
 * whose work grows with the number of inputs per struct written, stays cheap.
 */
import * as Y from 'yjs'
import { logger } from '../../lib/log.js'
import { DEFAULT_LIMITS } from '../../lib/security/limits.js'
import { validateUpdate } from '../../lib/security/validate-update.js'

const log = logger('yws')

const MAX_BYTES = 64 * 1024
const MAX_UPDATES = 64
const MAX_ITEMS = 1024
/** what an update is checked against before it is merged: its format only (the engine checks the merge against the doc) */
const FORMAT_ONLY = new Y.Doc({ gc: false })

/** An update that may be merged. */
export interface Part {
  update: Uint8Array
  items: number
  /** the client whose structs it holds (undefined: it only deletes) */
  client: number | undefined
}

/**
 * `update` as a part of a merge, or undefined when it must go to the engine
 * alone: not a well-formed V1 update on its own (the engine refuses it with
 * its reason), structs of more than one client, or past a merge's caps alone.
 */
export function mergeablePart (update: Uint8Array): Part | undefined {
  try {
    const checked = validateUpdate(FORMAT_ONLY, update, DEFAULT_LIMITS.maxNestingDepth, MAX_ITEMS)
    if (checked.authors.size > 1 || update.length > MAX_BYTES) return undefined
    return { update, items: checked.items, client: checked.authors.values().next().value }
  } catch {
    return undefined
  }
}

export class UpdateMerge {
  private parts: Uint8Array[] = []
  private bytes = 0
  private items = 0
  private client: number | undefined

  get empty (): boolean {
    return this.parts.length === 0
  }

  /** Whether `part` may join what is held (else `take` what is held first). */
  fits (part: Part): boolean {
    return this.parts.length === 0 || (
      (part.client === undefined || this.client === undefined || part.client === this.client) &&
      this.bytes + part.update.length <= MAX_BYTES && this.items + part.items <= MAX_ITEMS &&
      this.parts.length < MAX_UPDATES)
  }

  push (part: Part): void {
    this.parts.push(part.update)
    this.bytes += part.update.length
    this.items += part.items
    this.client ??= part.client
  }

  /**
   * Empty the merge: the updates to send, in order (one merged update; each
   * held one should Yjs fail to merge them), and how many were merged into one.
   */
  take (): { updates: Uint8Array[], merged: number } {
    const parts = this.parts
    this.parts = []
    this.bytes = 0
    this.items = 0
    this.client = undefined
    if (parts.length <= 1) return { updates: parts, merged: 0 }
    try {
      return { updates: [Y.mergeUpdates(parts)], merged: parts.length }
    } catch (err) {
      log.error('merging %d updates failed, sending each: %e', parts.length, err)
      return { updates: parts, merged: 0 }
    }
  }
}
