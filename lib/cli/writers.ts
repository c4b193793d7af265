/**
 * What a gateway allows its writers: `--quota-bytes` and `--quota-docs` (per
 * peer storage quotas), `--no-authorship` and `--authorship-relay` (who may
 * write under which clientID). The rules are in docs/SECURITY.md.
 */
import type { MeshNodeOptions } from '../mesh-node.js'
import type { OptionSpec, OptionValue } from './option-spec.js'
import { list, str } from './context.js'
import { UsageError } from './errors.js'

const DEFAULT_QUOTA_BYTES = '1GiB'
const DEFAULT_QUOTA_DOCS = '10000'

export const WRITER_OPTIONS: Record<string, OptionSpec> = {
  'quota-bytes': {
    type: 'string',
    valueName: 'SIZE',
    default: DEFAULT_QUOTA_BYTES,
    description: 'bytes of edits one peer may have stored here, in all (e.g. 512MiB); past it its writes are refused and it may still read; "none": no limit'
  },
  'quota-docs': {
    type: 'string',
    valueName: 'N',
    default: DEFAULT_QUOTA_DOCS,
    description: 'documents one peer may create here; "none": no limit'
  },
  'no-authorship': { type: 'boolean', description: "accept edits written under another peer's clientID (authorship is enforced by default)" },
  'authorship-relay': {
    type: 'string',
    multiple: true,
    valueName: 'PEERID',
    description: "a peer trusted to forward others' edits (another gateway): any clientID is accepted from it, and its writes are not charged to a quota"
  }
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }
const UNLIMITED = new Set(['none', 'off', 'unlimited'])

/** `1GiB`, `512M`, `4096`, … in bytes (units are binary); undefined for "none". */
function parseSize (flag: string, value: string): number | undefined {
  if (UNLIMITED.has(value.trim().toLowerCase())) return undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value)
  const n = m === null ? NaN : Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()])
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a size such as 512MiB or 2GiB, or "none", got "${value}"`)
  return n
}

function parseCount (flag: string, value: string): number | undefined {
  if (UNLIMITED.has(value.trim().toLowerCase())) return undefined
  const n = Number(value)
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a whole number of documents (1 or more), or "none", got "${value}"`)
  return n
}

/** The node options for these flags. */
export function writerOptions (values: Record<string, OptionValue | undefined>): Pick<MeshNodeOptions, 'quota' | 'authorship'> {
  const relays = list(values['authorship-relay'])
  const maxBytes = parseSize('--quota-bytes', str(values['quota-bytes']) ?? DEFAULT_QUOTA_BYTES)
  const maxDocs = parseCount('--quota-docs', str(values['quota-docs']) ?? DEFAULT_QUOTA_DOCS)
  return {
    ...(maxBytes !== undefined || maxDocs !== undefined
      ? { quota: { ...(maxBytes !== undefined ? { maxBytes } : {}), ...(maxDocs !== undefined ? { maxDocs } : {}), exempt: relays } }
      : {}),
    ...(values['no-authorship'] !== true ? { authorship: { relays } } : {})
  }
}
