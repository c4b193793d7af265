// y-leveldb ships types its package.json "exports" does not expose; the part bench/storage.ts uses.
declare module 'y-leveldb' {
  import type * as Y from 'yjs'
  export class LeveldbPersistence {
    constructor (location: string, opts?: { Level?: unknown, levelOptions?: object })
    storeUpdate (docName: string, update: Uint8Array): Promise<number>
    getYDoc (docName: string): Promise<Y.Doc>
    destroy (): Promise<void>
  }
}
