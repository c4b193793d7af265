/**
 * Seeded random edits on the three shared types the network tests compare:
 * Y.Text 'body', Y.Map 'meta' and Y.Array 'list'. Every edit is a real local
 * transaction on the doc, exactly as an app would make it.
 */
import type * as Y from 'yjs'

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'x', 'yz', '∆', '😀', 'é', ' ']
const KEYS = ['title', 'owner', 'state', 'count', 'tag']

/** One transaction of 1-4 random edits on body, meta and list; `tag` marks who made it. */
export function randomTransaction (doc: Y.Doc, rand: () => number, tag: string): void {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  const body = doc.getText('body')
  const meta = doc.getMap<string | number>('meta')
  const list = doc.getArray<string>('list')
  doc.transact(() => {
    const n = 1 + Math.floor(rand() * 4)
    for (let i = 0; i < n; i++) {
      const r = rand()
      if (r < 0.35) {
        body.insert(Math.floor(rand() * (body.length + 1)), `${tag}:${pick(WORDS)}`)
      } else if (r < 0.5 && body.length > 0) {
        const at = Math.floor(rand() * body.length)
        body.delete(at, Math.min(body.length - at, 1 + Math.floor(rand() * 6)))
      } else if (r < 0.65) {
        meta.set(pick(KEYS), rand() < 0.5 ? `${tag}:${pick(WORDS)}` : Math.floor(rand() * 1000))
      } else if (r < 0.7) {
        meta.delete(pick(KEYS))
      } else if (r < 0.9) {
        list.insert(Math.floor(rand() * (list.length + 1)), [`${tag}:${pick(WORDS)}`])
      } else if (list.length > 0) {
        const at = Math.floor(rand() * list.length)
        list.delete(at, Math.min(list.length - at, 1 + Math.floor(rand() * 3)))
      } else {
        list.push([`${tag}:first`])
      }
    }
  })
}
