/**
 * Errors the CLI turns into exit codes: `UsageError` and `ConfigError` exit 2
 * (the command line, environment or config file is wrong), `CliError` exits 1
 * with its message and no stack (a runtime failure the operator can act on).
 * Anything else also exits 1, with the error's name and message.
 */
import { MeshdocError } from '../errors.js'

/** A bad flag, a missing argument, a bad environment variable. Exit code 2. */
export class UsageError extends MeshdocError {
  override name = 'UsageError'
  readonly exitCode = 2
  constructor (message: string, readonly command?: string) {
    super(message)
  }
}

/** A config (or policy, key) file is unreadable or invalid; the message names the file. Exit code 2. */
export class ConfigError extends UsageError {
  override name = 'ConfigError'
  constructor (readonly file: string, message: string, command?: string, what = 'config file') {
    super(`${what} ${file}: ${message}`, command)
  }
}

/** A runtime failure with a message meant for the operator. Exit code 1. */
export class CliError extends MeshdocError {
  override name = 'CliError'
  readonly exitCode = 1
}

export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
