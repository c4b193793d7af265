/**
 * Namespaced logging, quiet by default: `DEBUG=meshdoc:*` turns it on.
 * Built on @libp2p/logger (the `debug` package underneath), so one DEBUG
 * variable controls meshdoc and libp2p alike.
 */
import { logger as libp2pLogger, type Logger } from '@libp2p/logger'

export type { Logger }

export function logger (name: string): Logger {
  return libp2pLogger(`meshdoc:${name}`)
}
