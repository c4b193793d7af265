/**
 * libp2p's per-connection loggers only when libp2p's logging is on
 * (adapters/libp2p/quiet-logger.ts, issue 18): with DEBUG naming nothing of
 * libp2p, every component and every scope (a connection, a stream) gets the
 * one shared silent logger, so a connection holds no logger objects of its
 * own; with DEBUG naming libp2p, @libp2p/logger's loggers as before.
 */
import assert from 'node:assert/strict'
import { libp2pLogging, quietLogger } from '../adapters/libp2p/quiet-logger.js'

describe('quiet libp2p logger', () => {
  it('DEBUG naming only meshdoc (or nothing) leaves libp2p\'s logging off; naming libp2p, or everything, turns it on', () => {
    for (const env of [undefined, '', 'meshdoc:*', 'meshdoc:sync,meshdoc:repo', '-libp2p:*']) assert.equal(libp2pLogging(env), false, String(env))
    for (const env of ['libp2p:*', '*', 'meshdoc:*,libp2p:yamux', 'libp2p:noise*']) assert.equal(libp2pLogging(env), true, env)
  })

  it('with libp2p\'s logging off, one silent logger for every component, connection and stream scope', () => {
    if (libp2pLogging()) return // DEBUG set for this run: nothing to check
    const log = quietLogger().forComponent('libp2p:tcp:connection')
    const conn = log.newScope('inbound:abc123')
    const stream = conn.newScope('yamux').newScope('inbound:7')
    assert.equal(conn, log, 'a connection\'s scope is the shared logger')
    assert.equal(stream, log, 'so is a stream\'s')
    assert.equal(log.enabled, false)
    log('nothing %s', 'printed')
    log.error('nor this')
    log.trace('nor this')
  })
})
