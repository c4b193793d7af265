/**
 * Files and secrets a node is configured with: the mesh key (keys doc ids on
 * the wire and in storage; every peer of a fleet and every command on one data
 * directory must use the same one), the libp2p swarm key, and the policy file.
 * A bad file is a `ConfigError` that names it.
 */
import { readFileSync } from 'node:fs'
import { keyServingPolicyFromRules } from '../policy/key-serving.js'
import type { PolicyRules } from '../policy/rules.js'
import type { Policy } from '../policy/types.js'
import { ConfigError } from './errors.js'

function read (file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new ConfigError(file, code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`, undefined, what)
  }
}

/** `--mesh-key-file` (trailing whitespace trimmed), else MESHDOC_MESH_KEY, else undefined (the public default). */
export function meshKeyFrom (file: unknown, env: NodeJS.ProcessEnv): string | undefined {
  if (typeof file === 'string') {
    const key = read(file, 'mesh key file').toString('utf8').replace(/\s+$/, '')
    if (key.length === 0) throw new ConfigError(file, 'is empty', undefined, 'mesh key file')
    return key
  }
  const v = env.MESHDOC_MESH_KEY
  return v !== undefined && v.length > 0 ? v : undefined
}

/** The swarm key file's bytes (`/key/swarm/psk/1.0.0/` format). */
export function swarmKeyFrom (file: unknown): Uint8Array | undefined {
  if (typeof file !== 'string') return undefined
  const bytes = read(file, 'swarm key file')
  if (!bytes.toString('utf8').startsWith('/key/swarm/psk/1.0.0/')) {
    throw new ConfigError(file, 'is not a libp2p swarm key (it must start with /key/swarm/psk/1.0.0/)', undefined, 'swarm key file')
  }
  return new Uint8Array(bytes)
}

/**
 * A policy file: JSON `{ "default": "none", "rules": [{ "peers": "*", "docs": "public/**", "access": "read" }] }`.
 *
 * A gateway serves docs it never opened by id, and the policy sees those as
 * `key:<hex>` (it only learns the doc's key). So every exact doc id in a rule
 * also matches that doc's key form, computed with `meshKey`. Glob patterns
 * cannot be turned into keys: `**` matches key-only docs too, `key:*` only
 * them, and `secret/**` never. Rules whose answer for a doc served by key
 * could be more than for its id (`secret/**` none, then `**` read) are a
 * ConfigError; globs that grant access but never match a doc served by key
 * are passed to `warn`.
 */
export function policyFrom (file: unknown, meshKey?: string, warn?: (line: string) => void): Policy | undefined {
  if (typeof file !== 'string') return undefined
  const what = 'policy file'
  let json: unknown
  try {
    json = JSON.parse(read(file, what).toString('utf8'))
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(file, `not valid JSON: ${(err as Error).message}`, undefined, what)
  }
  const rules = json as PolicyRules
  if (json === null || typeof json !== 'object' || !Array.isArray(rules.rules)) {
    throw new ConfigError(file, 'must be an object with a "rules" array', undefined, what)
  }
  for (const [i, r] of rules.rules.entries()) {
    const peersOk = r?.peers === '*' || (Array.isArray(r?.peers) && r.peers.every(p => typeof p === 'string'))
    const docsOk = typeof r?.docs === 'string' || (Array.isArray(r?.docs) && r.docs.every(d => typeof d === 'string'))
    if (!peersOk || !docsOk) throw new ConfigError(file, `rule ${i} needs "peers" ("*" or a list of PeerIds) and "docs" (a pattern or a list)`, undefined, what)
  }
  if (rules.default !== undefined && !['none', 'read', 'write'].includes(rules.default)) {
    throw new ConfigError(file, '"default" must be none, read or write', undefined, what)
  }
  try {
    return keyServingPolicyFromRules(rules, {
      ...(meshKey !== undefined ? { meshKey } : {}),
      warn: (message) => { warn?.(`${what} ${file}: ${message}`) }
    })
  } catch (err) {
    throw new ConfigError(file, (err as Error).message, undefined, what)
  }
}
