/**
 * node:fs/promises with injectable disk faults, for the fs adapter's `fs` option.
 *
 *   enospc-write  write() stores part of the buffer (half, at least one byte), then fails with ENOSPC
 *   eio-write     write() fails with EIO before storing anything
 *   eio-fsync     the bytes are written, fsync/fdatasync fails with EIO (files and directories)
 *   enospc-open   creating or opening any file fails with ENOSPC
 *
 * `arm(kind, after)` makes the fault fire on the `after`-th matching call from
 * now and on every call after it, until `disarm()`.
 */
import * as fs from 'node:fs/promises'
import type { FsPromises } from '../../adapters/fs-storage/index.js'

export type FaultKind = 'enospc-write' | 'eio-write' | 'eio-fsync' | 'enospc-open'

function fault (code: 'ENOSPC' | 'EIO', what: string): Error {
  return Object.assign(new Error(`${code}: injected fault, ${what}`), { code, errno: code === 'ENOSPC' ? -28 : -5, syscall: what })
}

export class FaultyFs {
  private kind: FaultKind | null = null
  private countdown = 0
  /** faults that fired */
  fired = 0

  arm (kind: FaultKind, after = 0): void {
    this.kind = kind
    this.countdown = after
  }

  disarm (): void {
    this.kind = null
  }

  private trips (kind: FaultKind): boolean {
    if (this.kind !== kind) return false
    if (this.countdown > 0) { this.countdown--; return false }
    this.fired++
    return true
  }

  readonly api: FsPromises = {
    readdir: fs.readdir,
    mkdir: fs.mkdir,
    rename: fs.rename,
    unlink: fs.unlink,
    readFile: fs.readFile,
    link: fs.link,
    open: (async (path: string, flags?: string | number, mode?: number) => {
      if (this.trips('enospc-open')) throw fault('ENOSPC', 'open')
      const fh = await fs.open(path, flags, mode)
      return this.wrap(fh)
    }) as FsPromises['open']
  }

  private wrap (fh: fs.FileHandle): fs.FileHandle {
    const self = this
    return new Proxy(fh, {
      get (target, prop, receiver) {
        if (prop === 'write') {
          return async (buf: Uint8Array, offset = 0, length = buf.length - offset, position: number | null = null) => {
            if (self.trips('eio-write')) throw fault('EIO', 'write')
            if (self.trips('enospc-write')) {
              const part = Math.max(1, Math.floor(length / 2))
              await target.write(buf, offset, Math.min(part, length), position)
              throw fault('ENOSPC', 'write')
            }
            return await target.write(buf, offset, length, position)
          }
        }
        if (prop === 'sync' || prop === 'datasync') {
          return async () => {
            if (self.trips('eio-fsync')) throw fault('EIO', String(prop))
            await target[prop]()
          }
        }
        const v = Reflect.get(target, prop, receiver)
        return typeof v === 'function' ? v.bind(target) : v
      }
    })
  }
}
