import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Every file under `root` (recursively) whose bytes contain `needle`: the plaintext searches of the encrypted-doc tests. */
export async function filesContaining (root: string, needle: string): Promise<string[]> {
  const found: string[] = []
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue
    const p = join(e.parentPath, e.name)
    if ((await readFile(p)).includes(Buffer.from(needle))) found.push(p)
  }
  return found
}
