/** meshdoc's version and its package directory, from package.json (found next to the sources or the built files). */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

function find (): { version: string, root: string | undefined } {
  for (const rel of ['../../', '../', '../../../']) {
    try {
      const dir = new URL(rel, import.meta.url)
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'meshdoc' && typeof pkg.version === 'string') return { version: pkg.version, root: fileURLToPath(dir) }
    } catch {}
  }
  return { version: 'unknown', root: undefined }
}

const found = find()
export const version = found.version
/** the meshdoc package's directory (where `examples/` is), if found */
export const packageRoot = found.root
