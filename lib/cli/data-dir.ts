/**
 * The layout of a data directory: `<data>/docs/` is an FsStorageAdapter
 * directory holding every document (one subdirectory each, named by the doc's
 * key) and the node's identity key (lib/identity.ts, under `_meshdoc/`).
 * The data directory is created with mode 0700: the identity key is a secret.
 */
import { mkdir, readdir, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { IDENTITY_KEY, loadOrCreateIdentity } from '../identity.js'
import type { StorageAdapter } from '../storage/types.js'
import type { CliPlatform } from './context.js'
import { CliError } from './errors.js'

export const DOCS_SUBDIR = 'docs'
/** a document's directory: its 16-byte key in hex */
const DOC_DIR = /^[0-9a-f]{32}$/

/** `--data`, else $XDG_DATA_HOME/meshdoc, else ~/.local/share/meshdoc. */
export function dataDirFrom (value: unknown, env: NodeJS.ProcessEnv, cwd: string): string {
  if (typeof value === 'string' && value.length > 0) return resolve(cwd, value)
  const xdg = env.XDG_DATA_HOME
  return xdg !== undefined && xdg.length > 0 ? join(xdg, 'meshdoc') : join(homedir(), '.local', 'share', 'meshdoc')
}

export function docsDir (dataDir: string): string {
  return join(dataDir, DOCS_SUBDIR)
}

/** The data directory's store (the platform's, in `<data>/docs`), creating the directory (0700) if needed. */
export async function openStore (platform: CliPlatform, dataDir: string): Promise<StorageAdapter> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new CliError(`cannot create the data directory ${dataDir}: ${(err as { code?: string }).code ?? (err as Error).message}`)
  }
  return platform.openStorage(docsDir(dataDir))
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

/** The node identity kept in `storage`, created (durably) on first use. */
export async function identityIn (storage: StorageAdapter): Promise<Identity> {
  const existed = (await storage.load(IDENTITY_KEY)) !== undefined
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
      const entries = await readdir(docsDir(dataDir), { withFileTypes: true })
      cached = { at: Date.now(), n: entries.filter(e => e.isDirectory() && DOC_DIR.test(e.name)).length }
      return cached.n
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return 0
      return undefined
    }
  }
}
