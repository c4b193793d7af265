/**
 * The E2E frame of the sync protocol (type 12, between peers that both
 * announce Features.E2E in HELLO): how encrypted docs travel, blind nodes
 * included. Its body, after the frame's version and type:
 *
 *   e2e      = kind:uint docKey:raw16 payload              (nothing may follow)
 *   OPEN     (1) records:uint vv:bytes                     "I hold this doc: this many epoch records, this version vector"
 *   RECORDS  (2) from:uint count:uint (1..64) count × record:bytes     epoch records `from`, `from + 1`, …
 *   ENVELOPES(3) seq:uint count:uint (1..4,096) count × envelope:bytes  in the order the receiver takes them (version-vector.ts)
 *   ATTEST   (4) count:uint (1..256) count × attestation:bytes
 *   STORED   (5) seq:uint vv:bytes                         ENVELOPES `seq` was handled, and `vv` is what is on the sender's disk now (seq 0: unasked, after a failed write was retried)
 *   REFUSED  (6) reason:string count:uint                  the sender refused `count` items of the doc (an E2eRefusal name, or `unavailable`, `encrypted_doc`)
 *
 * Each part is checked by its own module (epoch.ts, envelope.ts,
 * attestation.ts, version-vector.ts); this one reads the frame strictly and
 * throws E2eError('malformed' | 'too_large') on anything else.
 */
import * as encoding from 'lib0/encoding'
import { Reader, writeRaw } from './codec.js'
import { refuse } from './errors.js'
import { DOC_KEY_BYTES, E2E_LIMITS, MAX_ENVELOPE_BYTES } from './limits.js'

export const E2eKind = { OPEN: 1, RECORDS: 2, ENVELOPES: 3, ATTEST: 4, STORED: 5, REFUSED: 6 } as const

/** caps of one frame's lists */
export const E2E_WIRE_LIMITS = {
  recordsPerFrame: 64,
  envelopesPerFrame: 4096,
  attestationsPerFrame: 256,
  reasonBytes: 64
} as const

export type E2eMessage =
  | { kind: typeof E2eKind.OPEN, docKey: Uint8Array, records: number, vv: Uint8Array }
  | { kind: typeof E2eKind.RECORDS, docKey: Uint8Array, from: number, records: Uint8Array[] }
  | { kind: typeof E2eKind.ENVELOPES, docKey: Uint8Array, seq: number, envelopes: Uint8Array[] }
  | { kind: typeof E2eKind.ATTEST, docKey: Uint8Array, attestations: Uint8Array[] }
  | { kind: typeof E2eKind.STORED, docKey: Uint8Array, seq: number, vv: Uint8Array }
  | { kind: typeof E2eKind.REFUSED, docKey: Uint8Array, reason: string, count: number }

export function encodeE2e (m: E2eMessage): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, m.kind)
  writeRaw(e, m.docKey, DOC_KEY_BYTES)
  switch (m.kind) {
    case E2eKind.OPEN:
      encoding.writeVarUint(e, m.records)
      encoding.writeVarUint8Array(e, m.vv)
      break
    case E2eKind.RECORDS:
      encoding.writeVarUint(e, m.from)
      list(e, m.records)
      break
    case E2eKind.ENVELOPES:
      encoding.writeVarUint(e, m.seq)
      list(e, m.envelopes)
      break
    case E2eKind.ATTEST:
      list(e, m.attestations)
      break
    case E2eKind.STORED:
      encoding.writeVarUint(e, m.seq)
      encoding.writeVarUint8Array(e, m.vv)
      break
    case E2eKind.REFUSED:
      encoding.writeVarString(e, m.reason.slice(0, E2E_WIRE_LIMITS.reasonBytes))
      encoding.writeVarUint(e, m.count)
      break
  }
  return encoding.toUint8Array(e)
}

function list (e: encoding.Encoder, items: readonly Uint8Array[]): void {
  encoding.writeVarUint(e, items.length)
  for (const item of items) encoding.writeVarUint8Array(e, item)
}

/** An E2E frame body, strictly decoded. Byte fields are views into `body`. */
export function decodeE2e (body: Uint8Array): E2eMessage {
  const r = new Reader(body, 'an E2E frame')
  const kind = r.bounded(E2eKind.OPEN, E2eKind.REFUSED, 'kind')
  const docKey = r.raw(DOC_KEY_BYTES)
  let m: E2eMessage
  switch (kind) {
    case E2eKind.OPEN:
      m = { kind, docKey, records: r.bounded(0, E2E_LIMITS.maxEpoch + 1, 'records'), vv: r.bytes(E2E_LIMITS.maxVersionVectorBytes, 'vv') }
      break
    case E2eKind.RECORDS: {
      const from = r.bounded(0, E2E_LIMITS.maxEpoch, 'from')
      m = { kind, docKey, from, records: readList(r, E2E_WIRE_LIMITS.recordsPerFrame, E2E_LIMITS.maxEpochRecordBytes, 'record') }
      break
    }
    case E2eKind.ENVELOPES: {
      const seq = r.uint()
      m = { kind, docKey, seq, envelopes: readList(r, E2E_WIRE_LIMITS.envelopesPerFrame, MAX_ENVELOPE_BYTES, 'envelope') }
      break
    }
    case E2eKind.ATTEST:
      m = { kind, docKey, attestations: readList(r, E2E_WIRE_LIMITS.attestationsPerFrame, E2E_LIMITS.maxAttestationBytes, 'attestation') }
      break
    case E2eKind.STORED:
      m = { kind, docKey, seq: r.uint(), vv: r.bytes(E2E_LIMITS.maxVersionVectorBytes, 'vv') }
      break
    default: {
      const raw = r.bytes(E2E_WIRE_LIMITS.reasonBytes, 'reason')
      m = { kind: E2eKind.REFUSED, docKey, reason: utf8(r, raw), count: r.uint() }
    }
  }
  r.end()
  return m
}

function utf8 (r: Reader, raw: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw)
  } catch {
    r.fail('a reason not in UTF-8')
  }
}

function readList (r: Reader, maxCount: number, maxBytes: number, what: string): Uint8Array[] {
  const n = r.uint()
  if (n < 1 || n > maxCount) {
    if (n > maxCount) refuse('too_large', `${n} ${what}s in one frame, over ${maxCount}`)
    r.fail(`an empty list of ${what}s`)
  }
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) out.push(r.bytes(maxBytes, what))
  return out
}
