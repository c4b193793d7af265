export { createDefaultLibp2p, type DefaultLibp2pOptions } from './create-libp2p.js'
export { KeepConnected, type KeepConnectedOptions } from './keep-connected.js'
export { Libp2pSyncTransport, type SyncTransportOptions } from './sync-transport.js'
export { StreamLink } from './stream-link.js'
