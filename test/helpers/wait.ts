/** Poll `cond` every 5 ms until it holds; fail with `what` (a string or a function, evaluated late) after `ms`. */
export async function until (cond: () => boolean, what: string | (() => string), ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** Poll `cond` (sync or async) every 50 ms until it holds, or fail saying what we waited for (default 10 s). */
export async function eventually (cond: () => boolean | Promise<boolean>, opts: { what: string, timeout?: number }): Promise<void> {
  const deadline = Date.now() + (opts.timeout ?? 10_000)
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${opts.timeout ?? 10_000} ms waiting for ${opts.what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
