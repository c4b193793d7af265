/**
 * The layout of a data directory, the same for the library and the CLI: the
 * data directory *is* an FsStorageAdapter directory (`new
 * FsStorageAdapter(dir)`), holding every document (one subdirectory each,
 * named by the doc's key) and the node's identity key (lib/identity.ts, under
 * `_meshdoc/`); grants will live there too. The adapter creates it 0700 and
 * its files 0600: the identity key is a secret.
 *
 * meshdoc 0.1's CLI kept the store in a `docs/` subfolder; a data directory
 * laid out that way is still opened there (see `storeDir`).
 */
import { existsSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { IDENTITY_KEY, loadOrCreateIdentity } from '../identity.js'
import type { StorageAdapter } from '../storage/types.js'
import type { CliPlatform } from './context.js'
import { CliError } from './errors.js'

/** the store's subfolder in meshdoc 0.1's CLI layout */
const LEGACY_SUBDIR = 'docs'
/** the file every FsStorageAdapter directory holds (adapters/fs-storage/fs-adapter.ts) */
const STORE_MARK = 'meshdoc-fs.json'
/** a document's directory: its 16-byte key in hex */
export const DOC_DIR = /^[0-9a-f]{32}$/

/** `--data`, else $XDG_DATA_HOME/meshdoc, else ~/.local/share/meshdoc. */
export function dataDirFrom (value: unknown, env: NodeJS.ProcessEnv, cwd: string): string {
  if (typeof value === 'string' && value.length > 0) return resolve(cwd, value)
  const xdg = env.XDG_DATA_HOME
  return xdg !== undefined && xdg.length > 0 ? join(xdg, 'meshdoc') : join(homedir(), '.local', 'share', 'meshdoc')
}

/**
 * Where the data directory's store is: the directory itself, or its `docs/`
 * subfolder when it has meshdoc 0.1's CLI layout (a store there and none at
 * the top). Both is a CliError: which one holds the node's identity and
 * documents is for the operator to say (move one away), never a silent switch.
 */
export function storeDir (dataDir: string): string {
  const legacy = join(dataDir, LEGACY_SUBDIR)
  const top = existsSync(join(dataDir, STORE_MARK))
  if (!existsSync(join(legacy, STORE_MARK))) return dataDir
  if (top) throw new CliError(`${dataDir} holds two stores: its own and ${legacy} (meshdoc 0.1's layout). Keep one: move ${legacy} away, or move its contents up into ${dataDir} in place of the other`)
  return legacy
}

/** True when `dataDir` holds a meshdoc store (in either layout). */
export function holdsStore (dataDir: string): boolean {
  return existsSync(join(storeDir(dataDir), STORE_MARK))
}

/**
 * The data directory's store (the platform's FsStorageAdapter), ready: the
 * adapter creates the directory (0700) if needed. A directory that cannot be
 * created or is not a meshdoc store is a CliError.
 */
export async function openStore (platform: CliPlatform, dataDir: string): Promise<StorageAdapter> {
  const storage = platform.openStorage(storeDir(dataDir))
  try {
    await storage.load(IDENTITY_KEY) // opens the store: creates it, or checks its format
  } catch (err) {
    await storage.close?.()
    const cause = (err as { cause?: { code?: string } }).cause?.code
    throw new CliError(`cannot open the data directory ${dataDir}: ${cause ?? (err as Error).message}`)
  }
  return storage
}

/** True when other users may read or enter the data directory (it holds the identity key). */
export async function dataDirIsOpen (dataDir: string): Promise<boolean> {
  try {
    return ((await stat(dataDir)).mode & 0o077) !== 0
  } catch {
    return false
  }
}

export interface Identity { privateKey: PrivateKey, peerId: string, created: boolean }

/** The identity key stored in `storage`, if there is one (never creates one). */
export async function storedIdentity (storage: StorageAdapter): Promise<Uint8Array | undefined> {
  return await storage.load(IDENTITY_KEY)
}

/** The node identity kept in `storage`, created (durably) on first use. */
export async function identityIn (storage: StorageAdapter): Promise<Identity> {
  const existed = (await storedIdentity(storage)) !== undefined
  const privateKey = await loadOrCreateIdentity(storage)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), created: !existed }
}

/**
 * Documents in storage, counted as the fs adapter's per-document directories.
 * Cached for `maxAgeMs`, so a busy /status does not list a large directory each time.
 */
export function storedDocCounter (dataDir: string, maxAgeMs = 1000): () => Promise<number | undefined> {
  let cached: { at: number, n: number } | undefined
  return async () => {
    if (cached !== undefined && Date.now() - cached.at < maxAgeMs) return cached.n
    try {
      const entries = await readdir(storeDir(dataDir), { withFileTypes: true })
      cached = { at: Date.now(), n: entries.filter(e => e.isDirectory() && DOC_DIR.test(e.name)).length }
      return cached.n
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return 0
      return undefined
    }
  }
}
