/**
 * The author bindings kept in storage (lib/security/author-book.ts): what a
 * registry binds is written, read back by a new book (a restarted node),
 * shared by every registry of the same doc (a doc unloaded and reopened),
 * bounded per doc and in all, and an unreadable record is skipped.
 */
import assert from 'node:assert/strict'
import { MemoryStorageAdapter } from '../adapters/memory-storage/index.js'
import { AuthorBook, MAX_BINDINGS_PER_DOC } from '../lib/security/author-book.js'
import { AuthorRegistry } from '../lib/security/authorship.js'
import type { DocSession } from '../lib/sync/doc-session.js'

const KEY = 'a'.repeat(32)
const session = (peer: string): [string, DocSession] => [peer, { peer, awarenessClients: new Set() } as unknown as DocSession]

describe('author bindings in storage', () => {
  it('a binding made before a restart holds after it, while its holder has a session', async () => {
    const storage = new MemoryStorageAdapter()
    const book = new AuthorBook(storage)
    await book.load()
    const before = new AuthorRegistry(new Set(), 'gw', book.bindings(KEY))
    assert.equal(before.admit('device', [42], new Map([session('device')])), undefined)
    await book.close()

    const after = new AuthorBook(storage)
    await after.load()
    const registry = new AuthorRegistry(new Set(), 'gw', after.bindings(KEY))
    const sessions = new Map([session('device'), session('mallory')])
    assert.equal(registry.admit('mallory', [42], sessions), 42, 'the forger is refused')
    assert.equal(registry.admit('device', [42], sessions), undefined, 'the owner writes on')
    // the rule is unchanged: a hold lasts as long as its holder's session
    assert.equal(registry.admit('mallory', [42], new Map([session('mallory')])), undefined)
  })

  it('registries of one doc share its bindings (a doc unloaded and opened again)', async () => {
    const book = new AuthorBook(new MemoryStorageAdapter())
    new AuthorRegistry(new Set(), 'gw', book.bindings(KEY)).admit('device', [7], new Map([session('device')]))
    const reopened = new AuthorRegistry(new Set(), 'gw', book.bindings(KEY))
    assert.equal(reopened.admit('mallory', [7], new Map([session('device'), session('mallory')])), 7)
    await book.close()
  })

  it('keeps at most MAX_BINDINGS_PER_DOC per doc, dropping the oldest, in memory and in storage', async () => {
    const storage = new MemoryStorageAdapter()
    const book = new AuthorBook(storage)
    const registry = new AuthorRegistry(new Set(), 'gw', book.bindings(KEY))
    const sessions = new Map([session('flood')])
    for (let c = 1; c <= MAX_BINDINGS_PER_DOC + 100; c++) registry.admit('flood', [c], sessions)
    assert.equal(book.bindings(KEY).size, MAX_BINDINGS_PER_DOC)
    assert.equal(book.size, MAX_BINDINGS_PER_DOC)
    assert.equal(book.bindings(KEY).has(1), false, 'the oldest went first')
    assert.equal(book.bindings(KEY).has(MAX_BINDINGS_PER_DOC + 100), true)
    await book.close()
    const again = new AuthorBook(storage)
    await again.load()
    assert.equal(again.size, MAX_BINDINGS_PER_DOC)
  })

  it('skips a record that does not decode, and reads the others', async () => {
    const storage = new MemoryStorageAdapter()
    const book = new AuthorBook(storage)
    book.bindings(KEY).set(5, 'device')
    await book.close()
    await storage.save(['_meshdoc', 'authors', 'b'.repeat(32)], new Uint8Array([1, 200, 200, 200, 200, 200]))
    const again = new AuthorBook(storage)
    await again.load()
    assert.equal(again.bindings(KEY).get(5), 'device')
    assert.equal(again.bindings('b'.repeat(32)).size, 0)
  })
})
