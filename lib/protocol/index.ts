/**
 * `meshdoc/protocol`: the wire format of the meshdoc sync protocol
 * (`docs/PROTOCOL.md`), for other implementations, protocol tests and tools
 * that read frames. An app never needs it: `meshdoc` syncs documents
 * without it, and exports the two names an app may meet (`PROTOCOL_ID`,
 * `DeniedReason`) itself.
 */
export { PROTOCOL_ID, PROTOCOL_VERSION, MessageType, ByeReason, DeniedReason } from './constants.js'
export { encodeFrame, decodeFrame, type Frame } from './codec.js'
export { FrameReader, lengthPrefix } from './framing.js'
export { docKeyFor, docKeyHex, DEFAULT_MESH_KEY } from './doc-key.js'
