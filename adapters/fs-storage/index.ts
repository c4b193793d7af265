/** `meshdoc/adapters/fs-storage`: durable storage in one data directory, for Node. */
export { FsStorageAdapter, type FsStorageOptions } from './fs-adapter.js'
export type { FsPromises, FsStorageStats } from './bucket.js'
