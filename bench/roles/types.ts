/** What a child-process role provides: info for the runner, command handlers, cleanup. */
import type { Handlers } from '../core/rpc.js'

export interface Role {
  info: unknown
  handlers: Handlers
  close: () => Promise<void>
}

export type RoleFactory = (opts: any) => Promise<Role>
