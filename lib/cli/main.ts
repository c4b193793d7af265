/**
 * `meshdoc <command> [options]`: dispatch, help, logging, and the mapping of
 * errors to exit codes (0 ok, 1 failure, 2 usage or configuration error).
 */
import { enable } from '@libp2p/logger'
import { helpText, parseCommand, COMMON_OPTIONS } from './args.js'
import type { CommandSpec } from './option-spec.js'
import type { CliIO, CliPlatform, CommandContext } from './context.js'
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from './errors.js'
import * as exportCmd from './commands/export.js'
import * as gateway from './commands/gateway.js'
import * as id from './commands/id.js'
import * as importCmd from './commands/import.js'
import * as grant from './commands/grant.js'
import * as keys from './commands/keys.js'
import * as revoke from './commands/revoke.js'
import * as init from './commands/init.js'
import * as ls from './commands/ls.js'
import * as status from './commands/status.js'
import * as tail from './commands/tail.js'
import { version } from './version.js'

interface Command { spec: CommandSpec, run: (ctx: CommandContext) => Promise<number> }

export const COMMANDS: Record<string, Command> = {
  init,
  gateway,
  id,
  status,
  tail,
  ls,
  export: exportCmd,
  import: importCmd,
  keys,
  grant,
  revoke
}

export const ALL_OPTIONS: ReadonlySet<string> = new Set([
  ...Object.keys(COMMON_OPTIONS),
  ...Object.values(COMMANDS).flatMap(c => Object.keys(c.spec.options))
])

export function mainHelp (): string {
  const lines = [
    'usage: meshdoc <command> [options]',
    '',
    'Offline-first, peer-to-peer sync of Yjs documents over libp2p.',
    '',
    'commands:',
    ...Object.values(COMMANDS).map(c => `  ${c.spec.name.padEnd(10)} ${c.spec.summary}`),
    '',
    "Run 'meshdoc <command> --help' for a command's options. Every option can also",
    'come from an environment variable (MESHDOC_<OPTION>, e.g. MESHDOC_DATA) or a',
    'JSON config file (--config FILE); flags win over the environment, which wins',
    'over the file.',
    '',
    '  -h, --help       show this help',
    '      --version    print the version',
    '',
    'exit status: 0 ok, 1 failure, 2 usage or configuration error'
  ]
  return lines.join('\n') + '\n'
}

/** Run the CLI with `argv` (without node and script) on `platform`; resolves with the exit code. */
export async function runCli (argv: string[], io: CliIO, platform: CliPlatform): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    io.stderr.write(mainHelp())
    return EXIT_USAGE
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const sub = name === 'help' ? rest[0] : undefined
    if (sub !== undefined && COMMANDS[sub] !== undefined) io.stdout.write(helpText(COMMANDS[sub].spec))
    else io.stdout.write(mainHelp())
    return 0
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`meshdoc ${version}\n`)
    return 0
  }
  const cmd = COMMANDS[name]
  if (cmd === undefined) {
    io.stderr.write(`meshdoc: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')})\nRun 'meshdoc --help' for usage.\n`)
    return EXIT_USAGE
  }
  let verbose = io.env.DEBUG !== undefined && io.env.DEBUG.length > 0
  try {
    const parsed = parseCommand(cmd.spec, rest, { env: io.env, cwd: io.cwd, allKnownOptions: ALL_OPTIONS })
    if (parsed.values.help === true) {
      io.stdout.write(helpText(cmd.spec))
      return 0
    }
    if (parsed.values.verbose === true) {
      verbose = true
      const extra = io.env.DEBUG
      enable(extra !== undefined && extra.length > 0 ? `meshdoc:*,${extra}` : 'meshdoc:*')
    }
    return await cmd.run({ values: parsed.values, positionals: parsed.positionals, io, platform })
  } catch (err) {
    return report(err, name, io, verbose)
  }
}

function report (err: unknown, command: string, io: CliIO, verbose: boolean): number {
  const e = err as Error & { exitCode?: number }
  if (err instanceof UsageError) {
    io.stderr.write(`meshdoc ${command}: ${e.message}\nRun 'meshdoc ${command} --help' for usage.\n`)
    return EXIT_USAGE
  }
  if (e?.name === 'CliError') {
    io.stderr.write(`meshdoc ${command}: ${e.message}\n`)
    return e.exitCode ?? EXIT_FAILURE
  }
  io.stderr.write(`meshdoc ${command}: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}\n${verbose && e?.stack !== undefined ? e.stack + '\n' : ''}`)
  return EXIT_FAILURE
}
