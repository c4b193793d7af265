/**
 * The JSON config file: one object whose keys are flag names (`"ws-port"`, or
 * `"wsPort"`). One file may serve every command, so a key that some other
 * command knows is ignored; a key no command knows is an error. Relative
 * paths are resolved against the file's own directory. Every error is a
 * `ConfigError` that names the file.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError } from './errors.js'
import type { OptionSpec, OptionValue } from './option-spec.js'

export type ConfigValues = Record<string, OptionValue>

/** `wsPort` -> `ws-port` */
function dashed (key: string): string {
  return key.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)
}

export function loadConfigFile (
  file: string,
  options: Record<string, OptionSpec>,
  allKnown: ReadonlySet<string>,
  command?: string
): ConfigValues {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new ConfigError(file, code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? (err as Error).message})`, command)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(file, `not valid JSON: ${(err as Error).message}`, command)
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConfigError(file, 'must hold one JSON object whose keys are flag names', command)
  }
  const base = dirname(file)
  const out: ConfigValues = {}
  for (const [rawKey, raw] of Object.entries(json as Record<string, unknown>)) {
    if (rawKey.startsWith('//') || rawKey === '$comment') continue
    const key = dashed(rawKey)
    const spec = options[key]
    if (spec === undefined || spec.noConfig === true) {
      if (allKnown.has(key) && spec === undefined) continue // another command's setting
      throw new ConfigError(file, `unknown setting "${rawKey}"`, command)
    }
    out[key] = checkValue(file, rawKey, spec, raw, base, command)
  }
  return out
}

function checkValue (file: string, key: string, spec: OptionSpec, raw: unknown, base: string, command?: string): OptionValue {
  const bad = (want: string): never => {
    throw new ConfigError(file, `"${key}" must be ${want}, not ${JSON.stringify(raw)}`, command)
  }
  if (spec.type === 'boolean') {
    if (typeof raw !== 'boolean') bad('true or false')
    return raw as boolean
  }
  const one = (v: unknown): string => {
    if (typeof v === 'number' && Number.isFinite(v)) return String(v)
    if (typeof v !== 'string') bad(spec.multiple === true ? 'a string or an array of strings' : 'a string')
    return spec.path === true ? resolve(base, v as string) : v as string
  }
  if (spec.multiple === true) return Array.isArray(raw) ? raw.map(one) : [one(raw)]
  if (Array.isArray(raw)) bad('a single value')
  return one(raw)
}
