/**
 * How a command and its options are described: what the parser (args.ts),
 * the config file loader (config.ts), help and the commands share.
 */

export type OptionValue = string | boolean | string[]

export interface OptionSpec {
  type: 'string' | 'boolean'
  /** may be given more than once (env: comma-separated; config: an array) */
  multiple?: boolean
  short?: string
  /** shown in help after the flag, e.g. DIR */
  valueName?: string
  /** the value is a file or directory path: resolved against the config file's directory when it comes from there */
  path?: boolean
  /** no MESHDOC_* variable (e.g. --help) */
  noEnv?: boolean
  /** not settable from the config file (e.g. --config itself) */
  noConfig?: boolean
  default?: OptionValue
  description: string
}

export interface PositionalSpec {
  name: string
  required: boolean
  description: string
  /** the last positional only: it may be given any number of times (once at least, if required) */
  variadic?: boolean
}

export interface CommandSpec {
  name: string
  summary: string
  positionals: PositionalSpec[]
  options: Record<string, OptionSpec>
  /** extra paragraphs for --help */
  details?: string[]
  examples?: string[]
}
