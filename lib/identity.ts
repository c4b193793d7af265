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
export async function loadOrCreateIdentity (storage: StorageAdapter): Promise<PrivateKey> {
  const stored = await storage.load(IDENTITY_KEY)
  if (stored !== undefined) return decode(stored)
  const key = await generateKeyPair('Ed25519')
  await storage.save(IDENTITY_KEY, privateKeyToProtobuf(key))
  // another process may have raced us to it: whatever the store holds now wins
  const now = await storage.load(IDENTITY_KEY)
  const chosen = now === undefined ? key : decode(now)
  log('created a new identity %s', chosen.publicKey.toString())
  return chosen
}

function decode (bytes: Uint8Array): PrivateKey {
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new StorageError(`the stored identity key (${IDENTITY_KEY.join('/')}) does not decode: ${(err as Error).message}`, err)
  }
}
