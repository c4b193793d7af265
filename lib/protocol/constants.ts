/**
 * Wire constants of the meshdoc sync protocol. `docs/PROTOCOL.md` is the
 * normative description; every number here appears there.
 */

export const PROTOCOL_ID = '/meshdoc/sync/1.0.0'

/** The version byte every frame starts with. */
export const PROTOCOL_VERSION = 1

export const MessageType = {
  HELLO: 0,
  SYNC1: 1,
  SYNC2: 2,
  UPDATE: 3,
  ACK: 4,
  AWARENESS: 5,
  DENIED: 6,
  BYE: 7,
  /** a leading part of a SYNC2 answer too big to send as one frame; the SYNC2 that ends it follows */
  SYNC2_PART: 8,
  /** the grants the sender holds (to a peer announcing Features.GRANTS) */
  GRANTS: 9,
  /** signed revocations, or a digest of those the sender holds (between peers announcing Features.GRANTS) */
  REVOKE: 10,
  /** the id of a doc the sender is about to sync (to a peer announcing Features.DOC_CLAIMS) */
  CLAIM: 11,
  /** an encrypted doc's records, envelopes and attestations (lib/e2e/wire.ts; to a peer announcing Features.E2E) */
  E2E: 12
} as const
export type MessageType = typeof MessageType[keyof typeof MessageType]

/**
 * The name of each frame type, by its number (for logs). A list of its own,
 * checked against `MessageType` when compiling: code that enumerates
 * `MessageType` keeps minifiers from inlining its numbers.
 */
export const MESSAGE_TYPE_NAMES = ['HELLO', 'SYNC1', 'SYNC2', 'UPDATE', 'ACK', 'AWARENESS', 'DENIED', 'BYE', 'SYNC2_PART', 'GRANTS', 'REVOKE', 'CLAIM', 'E2E'] as const satisfies { readonly [K in keyof typeof MessageType as typeof MessageType[K]]: K }

/** Reason codes carried by BYE. Stable: they cross the wire and appear in counters. */
export const ByeReason = {
  NORMAL: 0,
  SHUTDOWN: 1,
  PROTOCOL_ERROR: 2,
  FRAME_TOO_LARGE: 3,
  UNSUPPORTED_VERSION: 4,
  MALFORMED_UPDATE: 5,
  RATE_LIMITED: 6,
  FORBIDDEN: 7,
  DUPLICATE_CONNECTION: 8,
  TIMEOUT: 9,
  INTERNAL: 10,
  LIMIT_EXCEEDED: 11,
  /** the peer does not read: what is queued for it passed `maxQueuedBytesPerPeer` */
  SLOW_CONSUMER: 12
} as const
export type ByeReason = typeof ByeReason[keyof typeof ByeReason]

/**
 * Each BYE reason's name, by its code, as counters and logs give it
 * (`rejected.protocol_error`). A list of its own, checked against `ByeReason`
 * when compiling: code that enumerates `ByeReason` keeps minifiers from
 * inlining its numbers.
 */
const BYE_REASON_NAMES = ['normal', 'shutdown', 'protocol_error', 'frame_too_large', 'unsupported_version', 'malformed_update', 'rate_limited', 'forbidden', 'duplicate_connection', 'timeout', 'internal', 'limit_exceeded', 'slow_consumer'] as const satisfies { readonly [K in keyof typeof ByeReason as typeof ByeReason[K]]: Lowercase<K> }

export const byeReasonName = (code: number): string => BYE_REASON_NAMES[code] ?? `unknown_${code}`

/** Reason codes carried by DENIED. UNAVAILABLE never says whether the doc exists. */
export const DeniedReason = {
  /** Not held here, or not visible to you: deliberately indistinguishable. */
  UNAVAILABLE: 0,
  /** You may read this doc but your writes are refused. */
  READ_ONLY: 1,
  /** Your write was refused: it would take you past your storage quota on this node (bytes or docs). You may keep reading. */
  QUOTA_EXCEEDED: 2,
  /** Your write was refused: it carries structs under a clientID this node binds to another peer. Write under a clientID of your own. */
  AUTHORSHIP: 3,
  /** The doc is end-to-end encrypted here: it is never synced in clear (SYNC1, UPDATE…); use E2E frames. */
  ENCRYPTED: 4
} as const
export type DeniedReason = typeof DeniedReason[keyof typeof DeniedReason]
/** A DeniedReason by name, as the `denied` event and `DeniedError.reason` give it. */
export type DeniedReasonName = Lowercase<keyof typeof DeniedReason>

/** The name of a DENIED reason code (`read_only`…); an unknown code (a newer peer's) as `denied_<code>`. */
export const deniedReasonName = (code: number): DeniedReasonName | `denied_${number}` =>
  (Object.entries(DeniedReason).find(([, v]) => v === code)?.[0].toLowerCase() as DeniedReasonName | undefined) ?? `denied_${code}`

/** SYNC1 flag bits. */
export const Sync1Flags = {
  /** Answer with your own SYNC1 as well as the SYNC2 (a full two-way round). */
  WANT_REPLY: 1
} as const

/** Feature bits announced in HELLO: what the sender accepts beyond the base protocol. */
export const Features = {
  /** SYNC2 answers may arrive in SYNC2_PART frames, ended by a SYNC2 */
  SYNC2_PARTS: 1,
  /** the sender checks grants: present yours (GRANTS) before your SYNC1s; exchange revocations (REVOKE) */
  GRANTS: 2,
  /** the sender serves docs by key and checks grants by doc id: name the docs you sync (CLAIM) */
  DOC_CLAIMS: 4,
  /** the sender takes part in end-to-end encrypted docs (E2E frames), as a member or a blind node */
  E2E: 8
} as const

/** The features this implementation announces. */
export const OUR_FEATURES = Features.SYNC2_PARTS

/** Bytes of the keyed doc-id hash that names a document on the wire. */
export const DOC_KEY_BYTES = 16

/** Bytes of the random per-process epoch carried by HELLO (resumption is per epoch). */
export const EPOCH_BYTES = 8

/** Bytes of the delete-set digest carried by SYNC1. */
export const DS_DIGEST_BYTES = 8

/** Default largest frame body we accept (and announce in HELLO). */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

/** Smallest max-frame a peer may announce; anything lower is a protocol error. */
export const MIN_MAX_FRAME_BYTES = 64 * 1024

/**
 * Items (structs and delete ranges) a sender puts in one update at most: a
 * bigger change goes as several updates (UPDATEs, or SYNC2_PARTs ended by the
 * SYNC2). A receiver's work grows with the items it applies, so receivers may
 * refuse updates with more (`limit_exceeded`) and stay responsive.
 */
export const MAX_UPDATE_ITEMS = 16_384

/** A varuint length prefix longer than this many bytes is malformed. */
export const MAX_LENGTH_PREFIX_BYTES = 5
