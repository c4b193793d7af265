/**
 * The authorization seam. The engine asks before it answers SYNC1, before it
 * sends any doc data, and on every UPDATE it receives.
 */
export const Access = {
  NONE: 'none',
  READ: 'read',
  WRITE: 'write'
} as const
export type Access = typeof Access[keyof typeof Access]

/** Decide what `peerId` may do with `docId`. Must be fast and synchronous. */
export type Policy = (peerId: string, docId: string) => Access

/** The default: every connected peer may read and write every doc it names. */
export const allowAll: Policy = () => Access.WRITE
