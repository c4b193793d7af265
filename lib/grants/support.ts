/**
 * Grants for `createMeshNode`: the Node entry has them built in; a browser
 * app opts in (`meshdoc/grants`), so an app without grants bundles none of
 * their code:
 *
 * ```ts
 * import { createMeshNode } from 'meshdoc'        // the browser entry
 * import { grantSupport } from 'meshdoc/grants'
 * const node = await createMeshNode({
 *   bootstrap: [gatewayWs],
 *   grantSupport: grantSupport(),
 *   // the app's backend turns its login into a short-lived grant for this browser
 *   grantProvider: async (peerId) => await (await fetch(`/grant?peer=${peerId}`)).text()
 * })
 * ```
 */
import type { GrantSupport } from '../mesh-node.js'

export type { GrantSupport } from '../mesh-node.js'
import { GrantExchange, type BearerCheck } from './grant-exchange.js'

export type { BearerCheck } from './grant-exchange.js'

/**
 * What `trust`, `grants`, `revocations` and `grantProvider` need (`createMeshNode({ grantSupport: grantSupport() })` in a browser).
 * `bearer`: how bearer tokens (`mdb1.…`) are checked, for transports whose clients hand them over (the Node entry passes `verifyBearer`).
 */
export function grantSupport (init: { bearer?: BearerCheck } = {}): GrantSupport {
  return (opts, ctx) => new GrantExchange({
    owners: opts.trust?.owners ?? [],
    ...ctx,
    provider: opts.grantProvider,
    onRefused: (refused) => { ctx.emit('grant:refused', refused) },
    onRevoked: (r) => { ctx.emit('revoked', r) },
    grants: opts.grants,
    revocations: opts.revocations,
    bearer: init.bearer
  })
}
