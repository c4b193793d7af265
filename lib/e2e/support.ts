/**
 * End-to-end encrypted docs for `createMeshNode` (the Node entry has them;
 * issue 16): `node.open(id, { encrypted: … })` returns an
 * `EncryptedDocHandle`, and a node serving by key (a gateway) stores and
 * forwards encrypted docs blind. See service.ts for the exchange and
 * docs/SECURITY.md for what a blind node learns.
 */
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import * as Y from 'yjs'
import { TimeoutError } from '../errors.js'
import type { E2eSupport, EncryptedDocHandle, EncryptedDocMember, EncryptedOpenOptions } from '../mesh-node.js'
import { docKeyFor, docKeyHex } from '../protocol/doc-key.js'
import { composeExtensions } from '../sync/compose-extensions.js'
import type { EngineExtension } from '../sync/extension.js'
import { peerIdOf } from './keys.js'
import { type E2ePrimitives, useE2ePrimitives } from './primitives.js'
import type { E2eReplica } from './replica.js'
import { E2eService } from './service.js'

/**
 * What encrypted docs need: the service (an engine extension) and the
 * node's way to open them. `primitives`: faster ones for this platform
 * (the Node entry passes node:crypto's), installed for the whole process.
 */
export function e2eSupport (opts: { primitives?: E2ePrimitives } = {}): E2eSupport {
  if (opts.primitives !== undefined) useE2ePrimitives(opts.primitives)
  return (ctx) => {
    const storage = ctx.storage
    const heldInClear = async (keyHex: string): Promise<boolean> => ctx.engine().doc(keyHex) !== undefined || (await storage.loadRange([keyHex])).length > 0
    // the node's own key (libp2p keeps it among its components): what this node seals and signs with as a member
    const key = (ctx.libp2p as unknown as { components?: { privateKey?: PrivateKey } }).components?.privateKey
    const service = new E2eService({
      storage,
      key: key !== undefined && peerIdFromPrivateKey(key).equals(ctx.libp2p.peerId) ? key : undefined,
      servesByKey: ctx.servesByKey,
      access: (peerId, docId) => ctx.engine().accessFor(peerId, docId),
      quota: ctx.quota,
      peerRevoked: ctx.peerRevoked,
      idleUnloadMs: ctx.idleUnloadMs,
      heldInClear
    })
    const keyOf = (docId: string): Uint8Array => docKeyFor(docId, ctx.meshKey)
    const isEncrypted = (docId: string): boolean => service.encrypted(docKeyHex(keyOf(docId)))
    return Object.assign(service, {
      open: async (docId: string, opts: EncryptedOpenOptions): Promise<EncryptedDocHandle> => {
        const docKey = keyOf(docId)
        if (await heldInClear(docKeyHex(docKey))) throw new TypeError(`the doc ${docId} is held here in clear: an encrypted doc needs an id of its own`)
        const create = typeof opts === 'object' ? opts.members ?? [] : undefined
        const replica = await service.openMember(docId, docKey, create)
        return new EncryptedHandle(docId, replica, service)
      },
      isEncrypted,
      assertClear: (docId: string): void => {
        if (isEncrypted(docId)) throw new TypeError(`the doc ${docId} is encrypted here: open it with { encrypted: true }`)
      },
      after: (inner: EngineExtension | undefined): EngineExtension => composeExtensions(inner, service)!
    })
  }
}

class EncryptedHandle implements EncryptedDocHandle {
  readonly encrypted = true
  #closed = false

  constructor (readonly id: string, private readonly replica: E2eReplica, private readonly service: E2eService) {}

  get doc (): Y.Doc { return this.replica.doc! }

  get keyHex (): string { return docKeyHex(this.replica.docKey) }

  get epoch (): number | undefined { return this.replica.chain.latest?.epoch }

  get access (): EncryptedDocMember['access'] | undefined { return this.replica.access }

  get manages (): boolean { return this.replica.manages }

  members (): EncryptedDocMember[] {
    return (this.replica.chain.latest?.members ?? []).map(m => ({ peerId: peerIdOf(m.key), access: m.access }))
  }

  async whenReady (opts: { timeout?: number } = {}): Promise<void> {
    await waitFor(() => this.replica.access !== undefined, this.replica.doc!, opts.timeout ?? 30_000, 'a key of the doc (its epoch records from a peer)')
  }

  async whenStored (opts: { peer: string, timeout?: number }): Promise<void> {
    const signal = AbortSignal.timeout(opts.timeout ?? 30_000)
    for (;;) {
      try {
        if (await this.service.whenStored(this.keyHex, opts.peer, signal)) return
      } catch {
        throw new TimeoutError(`${opts.peer} did not store the encrypted doc ${this.id} in ${opts.timeout ?? 30_000} ms`)
      }
      // no session with it yet: wait for one
      await new Promise(resolve => setTimeout(resolve, 50))
      if (signal.aborted) throw new TimeoutError(`${opts.peer} did not store the encrypted doc ${this.id} in ${opts.timeout ?? 30_000} ms`)
    }
  }

  async flush (): Promise<void> { await this.service.flush(this.keyHex) }

  async setMembers (members: readonly EncryptedDocMember[]): Promise<void> {
    await this.service.setMembers(this.keyHex, members)
  }

  // from the members when the rotation runs (after any queued before it), not when it was asked for
  async addMember (peerId: string, access: EncryptedDocMember['access'] = 'write'): Promise<void> {
    await this.service.setMembers(this.keyHex, members => [...members.filter(m => m.peerId !== peerId), { peerId, access }])
  }

  async removeMember (peerId: string): Promise<void> {
    await this.service.setMembers(this.keyHex, members => members.filter(m => m.peerId !== peerId))
  }

  async snapshot (): Promise<boolean> { return await this.service.snapshot(this.keyHex) }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.service.flush(this.keyHex)
    } finally {
      this.service.closeMember(this.keyHex)
    }
  }
}

/** Resolve once `ready()` holds (checked after each change of the doc, and every 50 ms). */
async function waitFor (ready: () => boolean, doc: Y.Doc, timeout: number, what: string): Promise<void> {
  const until = Date.now() + timeout
  while (!ready()) {
    if (Date.now() > until) throw new TimeoutError(`no ${what} in ${timeout} ms`)
    await new Promise<void>(resolve => {
      const t = setTimeout(done, 50)
      function done (): void { clearTimeout(t); doc.off('update', done); resolve() }
      doc.on('update', done)
    })
  }
}
