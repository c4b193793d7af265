/**
 * Count bytes at the TCP socket level, for every socket this process opens or
 * accepts (via node:diagnostics_channel, so libp2p and ws need no hooks).
 * Covers everything on the wire above TCP: Noise, yamux, multistream-select,
 * WebSocket framing and HTTP upgrade.
 */
import { subscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'

const sockets = new Set<Socket>()
let installed = false

function track (msg: unknown): void {
  const socket = (msg as { socket?: Socket }).socket
  if (socket !== undefined) sockets.add(socket)
}

/** Start tracking sockets (idempotent). Call before any connection is made. */
export function installSocketCounter (): void {
  if (installed) return
  installed = true
  subscribe('net.client.socket', track)
  subscribe('net.server.socket', track)
}

export interface SocketBytes { written: number, read: number, sockets: number }

/** Bytes written to and read from every tracked socket so far (closed ones included). */
export function socketBytes (): SocketBytes {
  let written = 0
  let read = 0
  for (const s of sockets) {
    written += s.bytesWritten ?? 0
    read += s.bytesRead ?? 0
  }
  return { written, read, sockets: sockets.size }
}
