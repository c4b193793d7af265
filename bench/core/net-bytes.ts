/**
 * Count bytes at the TCP socket level, for every socket this process opens or
 * accepts (via node:diagnostics_channel, so libp2p and ws need no hooks).
 * Covers everything on the wire above TCP: Noise, yamux, multistream-select,
 * WebSocket framing and HTTP upgrade.
 */
import { subscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'

const sockets = new Set<Socket>()
/** what sockets that closed wrote and read (they are not kept: P6 opens 20,000 and more) */
const closed = { written: 0, read: 0, sockets: 0 }
let installed = false

function track (msg: unknown): void {
  const socket = (msg as { socket?: Socket }).socket
  if (socket === undefined) return
  sockets.add(socket)
  socket.once('close', () => {
    if (!sockets.delete(socket)) return
    closed.written += socket.bytesWritten ?? 0
    closed.read += socket.bytesRead ?? 0
    closed.sockets++
  })
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
  let written = closed.written
  let read = closed.read
  for (const s of sockets) {
    written += s.bytesWritten ?? 0
    read += s.bytesRead ?? 0
  }
  return { written, read, sockets: sockets.size + closed.sockets }
}
