/** meshdoc's version, from package.json (found next to the sources or the built files). */
import { readFileSync } from 'node:fs'

function read (): string {
  for (const rel of ['../../package.json', '../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'meshdoc' && typeof pkg.version === 'string') return pkg.version
    } catch {}
  }
  return 'unknown'
}

export const version = read()
