/**
 * Command-line options for every `meshdoc` command, resolved in one order:
 * flag, then environment variable (`MESHDOC_<FLAG_NAME>`), then the JSON
 * config file (`--config FILE` or `MESHDOC_CONFIG`), then the default.
 * Parsing is `node:util` parseArgs, strict; its errors become `UsageError`s
 * that name the flag and the command.
 */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError } from './errors.js'
import { loadConfigFile, type ConfigValues } from './config.js'
import type { CommandSpec, OptionSpec, OptionValue } from './option-spec.js'

/** Options every command has. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', noEnv: true, noConfig: true, description: 'show this help and exit' },
  config: { type: 'string', valueName: 'FILE', noConfig: true, path: true, description: 'read settings from this JSON file (keys are flag names)' },
  verbose: { type: 'boolean', short: 'v', description: 'log what meshdoc does to stderr (same as DEBUG=meshdoc:*)' }
}

/** `--data DIR`, shared by the commands that use a data directory. */
export const DATA_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'DIR',
  path: true,
  description: 'data directory: identity key and documents (default $XDG_DATA_HOME/meshdoc or ~/.local/share/meshdoc)'
}

/** `--mesh-key-file FILE`: the secret that keys doc ids; every peer of a fleet must share it. */
export const MESH_KEY_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'FILE',
  path: true,
  description: 'file holding the mesh key (the secret that hides doc ids on the wire; or MESHDOC_MESH_KEY=secret)'
}

export interface ParsedCommand {
  values: Record<string, OptionValue | undefined>
  positionals: string[]
  /** where each value came from: flag, env, config or default */
  sources: Record<string, 'flag' | 'env' | 'config' | 'default'>
  configFile: string | undefined
}

export interface ParseContext {
  env: NodeJS.ProcessEnv
  cwd: string
  /** every option name any command knows, so a shared config file may hold settings for other commands */
  allKnownOptions: ReadonlySet<string>
}

export function envName (option: string): string {
  return `MESHDOC_${option.toUpperCase().replace(/-/g, '_')}`
}

const TRUE = new Set(['1', 'true', 'yes', 'on'])
const FALSE = new Set(['0', 'false', 'no', 'off', ''])

function fromEnv (name: string, spec: OptionSpec, raw: string): OptionValue {
  if (spec.type === 'boolean') {
    const v = raw.trim().toLowerCase()
    if (TRUE.has(v)) return true
    if (FALSE.has(v)) return false
    throw new UsageError(`${envName(name)}=${raw} is not a boolean (use 1/0, true/false, yes/no)`)
  }
  if (spec.multiple === true) return raw.split(',').map(s => s.trim()).filter(s => s.length > 0)
  return raw
}

/** Parse `argv` (after the command name) for `spec`, merging env, config file and defaults. */
export function parseCommand (spec: CommandSpec, argv: string[], ctx: ParseContext): ParsedCommand {
  const options = { ...COMMON_OPTIONS, ...spec.options }
  const parseOpts: Record<string, { type: 'string' | 'boolean', multiple?: boolean, short?: string }> = {}
  for (const [name, o] of Object.entries(options)) {
    parseOpts[name] = { type: o.type, ...(o.multiple === true ? { multiple: true } : {}), ...(o.short !== undefined ? { short: o.short } : {}) }
  }
  let parsed: { values: Record<string, OptionValue | undefined>, positionals: string[] }
  try {
    parsed = parseArgs({ args: argv, options: parseOpts, strict: true, allowPositionals: true }) as typeof parsed
  } catch (err) {
    throw new UsageError(explainParseError(err, Object.keys(options)), spec.name)
  }

  const values: Record<string, OptionValue | undefined> = {}
  const sources: ParsedCommand['sources'] = {}
  for (const [name, v] of Object.entries(parsed.values)) {
    if (v === undefined) continue
    values[name] = options[name]?.path === true ? resolvePaths(ctx.cwd, v) : v
    sources[name] = 'flag'
  }
  if (values.help === true) return { values, positionals: parsed.positionals, sources, configFile: undefined }

  for (const [name, o] of Object.entries(options)) {
    if (name in values || o.noEnv === true) continue
    const raw = ctx.env[envName(name)]
    if (raw === undefined) continue
    const v = fromEnv(name, o, raw)
    values[name] = o.path === true ? resolvePaths(ctx.cwd, v) : v
    sources[name] = 'env'
  }
  const configFile = values.config as string | undefined
  if (configFile !== undefined) {
    const fromFile: ConfigValues = loadConfigFile(configFile, options, ctx.allKnownOptions, spec.name)
    for (const [name, v] of Object.entries(fromFile)) {
      if (name in values) continue
      values[name] = v
      sources[name] = 'config'
    }
  }
  for (const [name, o] of Object.entries(options)) {
    if (name in values || o.default === undefined) continue
    values[name] = Array.isArray(o.default) ? [...o.default] : o.default
    sources[name] = 'default'
  }

  const required = spec.positionals.filter(p => p.required)
  if (parsed.positionals.length < required.length) {
    const missing = required.slice(parsed.positionals.length).map(p => p.name).join(' ')
    throw new UsageError(`missing argument: ${missing}`, spec.name)
  }
  if (parsed.positionals.length > spec.positionals.length && spec.positionals.at(-1)?.variadic !== true) {
    const extra = parsed.positionals.slice(spec.positionals.length)
    throw new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''}: ${extra.join(' ')}`, spec.name)
  }
  return { values, positionals: parsed.positionals, sources, configFile }
}

/** A path option's value (one path, or each of a repeatable option's) resolved against `cwd`. */
function resolvePaths (cwd: string, v: OptionValue): OptionValue {
  if (typeof v === 'string') return resolve(cwd, v)
  return Array.isArray(v) ? v.map(p => resolve(cwd, p)) : v
}

function explainParseError (err: unknown, known: string[]): string {
  const e = err as { code?: string, message?: string }
  const msg = e.message ?? String(err)
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'(-[^']*)'/.exec(msg)?.[1] ?? msg
    const name = flag.replace(/^-+/, '').split('=')[0]
    const near = closest(name, known)
    return `unknown option ${flag}${near !== undefined ? ` (did you mean --${near}?)` : ''}`
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /'(-[^']*)'/.exec(msg)?.[1]
    if (msg.includes('argument missing')) return `option ${flag ?? ''} needs a value`.replace('  ', ' ')
    if (msg.includes('does not take an argument')) return `option ${flag ?? ''} does not take a value`.replace('  ', ' ')
  }
  return msg
}

/** The known option nearest to `name` by edit distance, if it is near enough to be a typo. */
function closest (name: string, known: string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const k of known) {
    const d = editDistance(name, k)
    if (d < bestD) { best = k; bestD = d }
  }
  return bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined
}

function editDistance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]
}

/** `meshdoc CMD --help` text. */
export function helpText (spec: CommandSpec): string {
  const options = { ...spec.options, ...COMMON_OPTIONS }
  const pos = spec.positionals.map(p => `${p.required ? p.name : `[${p.name}]`}${p.variadic === true ? '...' : ''}`).join(' ')
  const lines = [`usage: meshdoc ${spec.name}${pos.length > 0 ? ' ' + pos : ''} [options]`, '', spec.summary]
  if (spec.details !== undefined) lines.push('', ...spec.details)
  if (spec.positionals.length > 0) {
    lines.push('', 'arguments:')
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(22)} ${p.description}`)
  }
  lines.push('', 'options:')
  for (const [name, o] of Object.entries(options)) {
    const flag = `${o.short !== undefined ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`
    const extra: string[] = []
    if (o.multiple === true) extra.push('repeatable')
    if (o.default !== undefined && o.default !== false) extra.push(`default: ${Array.isArray(o.default) ? o.default.join(', ') : String(o.default)}`)
    if (o.noEnv !== true) extra.push(`env ${envName(name)}`)
    lines.push(`  ${flag.padEnd(26)} ${o.description}${extra.length > 0 ? ` [${extra.join('; ')}]` : ''}`)
  }
  if (spec.examples !== undefined && spec.examples.length > 0) {
    lines.push('', 'examples:', ...spec.examples.map(e => `  ${e}`))
  }
  lines.push('', 'exit status: 0 ok, 1 failure, 2 usage or configuration error')
  return lines.join('\n') + '\n'
}
