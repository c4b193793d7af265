/**
 * The message shapes between the bench runner and its child processes (over
 * Node's IPC channel with `serialization: 'advanced'`), and the child's side:
 * `serve()` answers numbered calls with a role's handlers.
 */

export interface CallMessage { id: number, cmd: string, args: unknown }
export type ReplyMessage =
  | { id: number, ok: true, result: unknown }
  | { id: number, ok: false, error: string }
export interface ReadyMessage { type: 'ready', info: unknown }
export interface FailedMessage { type: 'failed', error: string }

export type Handler = (args: any) => unknown
export type Handlers = Record<string, Handler>

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export const now = (): number => performance.timeOrigin + performance.now()

function send (msg: ReplyMessage | ReadyMessage | FailedMessage): void {
  process.send?.(msg)
}

/** Answer calls from the runner until it sends `exit` or goes away. */
export function serve (info: unknown, handlers: Handlers, close: () => Promise<void>): void {
  let closing = false
  const exit = async (code: number): Promise<void> => {
    if (closing) return
    closing = true
    try {
      await Promise.race([close(), new Promise(resolve => setTimeout(resolve, 5000))])
    } finally {
      // exit() (not a kill) so that --cpu-prof gets written
      process.exit(code)
    }
  }
  process.on('disconnect', () => { void exit(1) })
  process.on('message', (raw) => {
    const msg = raw as CallMessage
    if (msg.cmd === 'exit') {
      send({ id: msg.id, ok: true, result: null })
      void exit(0)
      return
    }
    const h = handlers[msg.cmd]
    if (h === undefined) {
      send({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` })
      return
    }
    Promise.resolve().then(() => h(msg.args)).then(
      result => { send({ id: msg.id, ok: true, result: result ?? null }) },
      (err: Error) => { send({ id: msg.id, ok: false, error: err?.stack ?? String(err) }) }
    )
  })
  send({ type: 'ready', info })
}

/** Report a failure during setup (before `serve`). */
export function failed (err: Error): void {
  send({ type: 'failed', error: err?.stack ?? String(err) })
}
