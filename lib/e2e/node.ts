/**
 * The Node entry's MeshNode: besides docs in clear, it opens end-to-end
 * encrypted docs (`open(id, { encrypted })`, see support.ts), refuses to
 * open one of them in clear, and seals and stores what members wrote before
 * it stops. Kept out of the shared class, so that a browser bundle carries
 * none of it.
 */
import type { DocHandle } from '../doc-handle.js'
import { MeshNode, type EncryptedDocHandle, type EncryptedOpenOptions } from '../mesh-node.js'

export class NodeMeshNode extends MeshNode {
  override async open (docId: string): Promise<DocHandle>
  override async open (docId: string, opts: { encrypted: EncryptedOpenOptions }): Promise<EncryptedDocHandle>
  override async open (docId: string, opts?: { encrypted?: EncryptedOpenOptions }): Promise<DocHandle | EncryptedDocHandle> {
    const e2e = this.e2eHere
    if (opts?.encrypted === undefined || e2e === undefined) {
      e2e?.assertClear(docId)
      return await super.open(docId, opts as { encrypted: EncryptedOpenOptions })
    }
    this.assertRunning()
    return await e2e.open(docId, opts.encrypted)
  }

  /** Whether this node holds `docId` end-to-end encrypted (as a member, or blind): it is never served in clear. */
  isEncrypted (docId: string): boolean {
    return this.e2eHere?.isEncrypted(docId) === true
  }

  /** What this node holds of encrypted docs in memory now, blind or as a member (a blind doc idle for `idleUnloadMs` is unloaded: on disk only): docs, envelopes, and the envelopes' bytes. */
  encryptedHeld (): { docs: number, envelopes: number, bytes: number } {
    return this.e2eHere?.held() ?? { docs: 0, envelopes: 0, bytes: 0 }
  }

  override async stop (): Promise<void> {
    // a member's edits sealed and stored before the storage closes
    await this.e2eHere?.settled().catch(() => {})
    await super.stop()
  }
}
