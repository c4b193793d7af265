/**
 * Named errors. Tests and callers match on `name` (and `code` where the error
 * crosses the wire), never on message text.
 */

export class MeshdocError extends Error {
  static readonly NAME: string = 'MeshdocError'
  override name = 'MeshdocError'
}

/** A frame from the network could not be decoded or broke the protocol. */
export class ProtocolError extends MeshdocError {
  override name = 'ProtocolError'
  /** The BYE reason code sent to the peer (see `ByeReason`). */
  readonly code: number
  constructor (message: string, code: number) {
    super(message)
    this.code = code
  }
}

/** A length prefix announced a frame bigger than the agreed maximum. */
export class FrameTooLargeError extends ProtocolError {
  override name = 'FrameTooLargeError'
}

/** A remote update was malformed and was not applied. */
export class InvalidUpdateError extends MeshdocError {
  override name = 'InvalidUpdateError'
}

/** The store failed to commit; nothing in the failed batch was acknowledged. */
export class StorageError extends MeshdocError {
  override name = 'StorageError'
  override readonly cause?: unknown
  constructor (message: string, cause?: unknown) {
    super(message)
    this.cause = cause
  }
}

/**
 * A peer refused a document (it does not hold it, or we may not see it) or
 * our writes to it. `reason` names the DeniedReason: `unavailable`,
 * `read_only`, `quota_exceeded`; `peer` is the PeerId that refused.
 */
export class DeniedError extends MeshdocError {
  override name = 'DeniedError'
  constructor (message: string, readonly peer?: string, readonly reason?: string) {
    super(message)
  }
}

/** A wait ran out of time. */
export class TimeoutError extends MeshdocError {
  override name = 'TimeoutError'
}

/** A wait was cancelled by its AbortSignal. */
export class AbortError extends MeshdocError {
  override name = 'AbortError'
}

/** The node, handle or engine was used after it was stopped or closed. */
export class ClosedError extends MeshdocError {
  override name = 'ClosedError'
}
