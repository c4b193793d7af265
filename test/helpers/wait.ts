/** Poll `cond` every 5 ms until it holds; fail with `what` (a string or a function, evaluated late) after `ms`. */
export async function until (cond: () => boolean, what: string | (() => string), ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
