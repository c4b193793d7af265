/**
 * libp2p's loggers, made only when libp2p's logging is on.
 *
 * libp2p gives every connection, its encrypter, its muxer and each stream a
 * logger of its own (`forComponent`, `newScope` with the connection's and
 * stream's ids in the name), and @libp2p/logger builds each from two `debug`
 * instances, a trace logger and a scope function, kept for the connection's
 * life whether logging is on or not, each after matching its name against
 * every DEBUG pattern. At a gateway that was about 7 KB of heap per
 * connection (issue 18, F1 heap snapshots). `quietLogger()` is
 * @libp2p/logger's `defaultLogger()` when libp2p's logging may be on (DEBUG,
 * or `enable()` before the node is created, names anything but meshdoc's own
 * `meshdoc:` namespaces), and otherwise one shared logger that prints nothing
 * and makes nothing per connection.
 */
import type { ComponentLogger, Logger } from '@libp2p/interface'
import { defaultLogger, enabled } from '@libp2p/logger'

/** Could any libp2p logger print? DEBUG patterns other than `meshdoc:…` (and `-…` exclusions), or libp2p's namespaces enabled. */
export function libp2pLogging (debugEnv: string | undefined = globalThis.process?.env?.DEBUG): boolean {
  const patterns = (debugEnv ?? '').split(/[\s,]+/).filter(p => p !== '' && !p.startsWith('-') && !p.startsWith('meshdoc:'))
  return patterns.length > 0 || enabled('libp2p') || enabled('libp2p:\u0000')
}

const noop = (): void => {}
const SILENT: Logger = Object.assign(noop, { error: noop, trace: noop, enabled: false, newScope: (): Logger => SILENT })

export function quietLogger (): ComponentLogger {
  return libp2pLogging() ? defaultLogger() : { forComponent: () => SILENT }
}
