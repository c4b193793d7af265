/**
 * A node's libp2p identity kept in its own storage, so its PeerId survives
 * restarts: `createMeshNode({ storage, privateKey: 'storage' })`.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { StorageError } from './errors.js'
import { logger } from './log.js'
import type { StorageAdapter, StorageKey } from './storage/types.js'

const log = logger('identity')

/** Where the key lives; document chunks are keyed by hex doc keys, so this cannot collide. */
export const IDENTITY_KEY: StorageKey = ['_meshdoc', 'identity']

/**
 * The private key stored in `storage`, or a new Ed25519 key that is stored
 * (durably) before it is returned. A stored key that does not decode is an
 * error, never silently replaced: that would change the node's PeerId.
 */
export async function loadOrCreateIdentity (storage: StorageAdapter, slot = 0): Promise<PrivateKey> {
  const at = identityKey(slot)
  const stored = await storage.load(at)
  if (stored !== undefined) return decode(stored, at)
  const key = await generateKeyPair('Ed25519')
  await storage.save(at, privateKeyToProtobuf(key))
  // another process may have raced us to it: whatever the store holds now wins
  const now = await storage.load(at)
  const chosen = now === undefined ? key : decode(now, at)
  log('created a new identity %s', chosen.publicKey.toString())
  return chosen
}

/**
 * Where identity `slot` lives. Slot 0 is the node's identity; further slots
 * serve processes that share one store but must not share a PeerId (the tabs
 * of one browser app, see adapters/presets/browser.ts).
 */
export function identityKey (slot = 0): StorageKey {
  if (!Number.isSafeInteger(slot) || slot < 0) throw new RangeError(`identity slot must be a non-negative integer, got ${slot}`)
  return slot === 0 ? IDENTITY_KEY : [...IDENTITY_KEY, String(slot)]
}

function decode (bytes: Uint8Array, at: StorageKey): PrivateKey {
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new StorageError(`the stored identity key (${at.join('/')}) does not decode: ${(err as Error).message}`, err)
  }
}
