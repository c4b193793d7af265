/**
 * The awareness states of each room the bridge serves, as the engine told
 * its sockets: what a client's `messageQueryAwareness` is answered with. One
 * copy per room (not per socket), fed only by the engine's AWARENESS frames,
 * so it holds what the engine admitted and relayed, within its caps. Kept in
 * a y-protocols `Awareness` on a doc of its own, which applies clocks and
 * times out states that stop being renewed (30 s) as every replica does.
 * Dropped when the room's last socket leaves.
 */
import * as awarenessProtocol from 'y-protocols/awareness'
import * as Y from 'yjs'

interface Room {
  awareness: awarenessProtocol.Awareness
  sockets: number
  /** the update applied last: the engine relays each change to every socket of the room, and it is applied once */
  last: Uint8Array | undefined
}

export class RoomAwareness {
  private readonly rooms = new Map<string, Room>()

  /** A socket joined the room with key `keyHex`. */
  join (keyHex: string): void {
    let room = this.rooms.get(keyHex)
    if (room === undefined) {
      const awareness = new awarenessProtocol.Awareness(new Y.Doc())
      awareness.setLocalState(null)
      this.rooms.set(keyHex, room = { awareness, sockets: 0, last: undefined })
    }
    room.sockets++
  }

  /** A socket of the room left. */
  leave (keyHex: string): void {
    const room = this.rooms.get(keyHex)
    if (room === undefined || --room.sockets > 0) return
    this.rooms.delete(keyHex)
    room.awareness.destroy()
    room.awareness.doc.destroy()
  }

  /** The engine sent a socket of the room this awareness update (already admitted by it). */
  apply (keyHex: string, update: Uint8Array): void {
    const room = this.rooms.get(keyHex)
    if (room === undefined || equal(room.last, update)) return
    room.last = update.slice()
    try {
      awarenessProtocol.applyAwarenessUpdate(room.awareness, update, 'engine')
    } catch {
      // the engine sent it: it decodes; if not, the mirror just misses it
    }
  }

  /** Every state the room knows, as one awareness update; undefined if none. */
  states (keyHex: string): Uint8Array | undefined {
    const room = this.rooms.get(keyHex)
    const clients = room === undefined ? [] : [...room.awareness.getStates().keys()]
    return room === undefined || clients.length === 0 ? undefined : awarenessProtocol.encodeAwarenessUpdate(room.awareness, clients)
  }

  /** Drop every room. */
  clear (): void {
    for (const keyHex of [...this.rooms.keys()]) {
      const room = this.rooms.get(keyHex)
      if (room !== undefined) room.sockets = 1
      this.leave(keyHex)
    }
  }
}

function equal (a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i])
}
