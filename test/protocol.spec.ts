import assert from 'node:assert/strict'
import * as encoding from 'lib0/encoding'
import { decodeFrame, encodeFrame, type Frame } from '../lib/protocol/codec.js'
import { ByeReason, DOC_KEY_BYTES, MessageType } from '../lib/protocol/constants.js'
import { docKeyFor, docKeyHex } from '../lib/protocol/doc-key.js'
import { FrameReader, lengthPrefix } from '../lib/protocol/framing.js'

const key = docKeyFor('notes/1')

const samples: Frame[] = [
  { type: MessageType.HELLO, maxFrameBytes: 1 << 24, features: 0, epoch: new Uint8Array(8).fill(1) },
  { type: MessageType.SYNC1, docKey: key, flags: 1, stateVector: new Uint8Array([1, 2, 3]), dsDigest: new Uint8Array(8).fill(7) },
  { type: MessageType.SYNC2, docKey: key, seq: 5, update: new Uint8Array([0, 0]) },
  { type: MessageType.UPDATE, docKey: key, seq: 300, update: new Uint8Array(1000).fill(9) },
  { type: MessageType.ACK, docKey: key, seq: 12, stateVector: new Uint8Array([1, 200, 3]) },
  { type: MessageType.AWARENESS, docKey: key, update: new Uint8Array([4, 5]) },
  { type: MessageType.DENIED, docKey: key, reason: 1 },
  { type: MessageType.BYE, reason: ByeReason.SHUTDOWN, message: 'node stopping ✓' }
]

const errName = (f: () => unknown): string => {
  try { f() } catch (err) { return (err as Error).name }
  return 'no error'
}

describe('frame codec', () => {
  it('round-trips every message type', () => {
    for (const f of samples) {
      const back = decodeFrame(encodeFrame(f))
      assert.deepEqual(normalise(back), normalise(f), `type ${f.type}`)
    }
  })

  it('rejects every truncation of every valid frame with a ProtocolError', () => {
    for (const f of samples) {
      const bytes = encodeFrame(f)
      for (let cut = 0; cut < bytes.length; cut++) {
        assert.equal(errName(() => decodeFrame(bytes.subarray(0, cut))), 'ProtocolError', `type ${f.type} cut at ${cut}`)
      }
    }
  })

  it('rejects trailing bytes, unknown types and unknown versions with the right reason', () => {
    const good = encodeFrame(samples[2])
    const trailing = new Uint8Array([...good, 0])
    assert.equal(errName(() => decodeFrame(trailing)), 'ProtocolError')
    try { decodeFrame(new Uint8Array([2, 0, 0, 0])) } catch (err) { assert.equal((err as { code: number }).code, ByeReason.UNSUPPORTED_VERSION) }
    try { decodeFrame(new Uint8Array([1, 99])) } catch (err) { assert.equal((err as { code: number }).code, ByeReason.PROTOCOL_ERROR) }
  })

  it('never trusts a declared length: a huge byte-array length fails without allocating', () => {
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, MessageType.UPDATE)
    encoding.writeUint8Array(e, key)
    encoding.writeVarUint(e, 1)
    encoding.writeVarUint(e, 2 ** 40) // announced update length: 1 TB
    const before = process.memoryUsage().arrayBuffers
    assert.equal(errName(() => decodeFrame(encoding.toUint8Array(e))), 'ProtocolError')
    assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20)
  })
})

describe('doc keys', () => {
  it('are 16 bytes, stable, distinct per id and per mesh key, and do not contain the id', () => {
    assert.equal(key.length, DOC_KEY_BYTES)
    assert.equal(docKeyHex(docKeyFor('notes/1')), docKeyHex(key))
    assert.notEqual(docKeyHex(docKeyFor('notes/2')), docKeyHex(key))
    assert.notEqual(docKeyHex(docKeyFor('notes/1', new TextEncoder().encode('secret'))), docKeyHex(key))
    assert.ok(!Buffer.from(encodeFrame(samples[1])).includes(Buffer.from('notes/1')))
  })
})

describe('length-prefixed framing', () => {
  it('reassembles frames split at every byte boundary', () => {
    const bodies = samples.map(encodeFrame)
    const stream = Buffer.concat(bodies.map(lengthPrefix))
    for (let split = 1; split < stream.length; split += 7) {
      const reader = new FrameReader(1 << 20)
      const out = [...reader.push(stream.subarray(0, split)), ...reader.push(stream.subarray(split))]
      assert.equal(out.length, bodies.length)
      out.forEach((b, i) => { assert.deepEqual(Buffer.from(b), Buffer.from(bodies[i])) })
    }
  })

  it('rejects a 100 MB length prefix before buffering any body byte', () => {
    const reader = new FrameReader(16 * 1024 * 1024)
    const e = encoding.createEncoder()
    encoding.writeVarUint(e, 100 * 1024 * 1024)
    assert.equal(errName(() => reader.push(encoding.toUint8Array(e))), 'FrameTooLargeError')
    assert.equal(reader.bufferedBytes, 0)
  })

  it('rejects a length prefix that never ends', () => {
    const reader = new FrameReader(1 << 30)
    assert.equal(errName(() => reader.push(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80]))), 'ProtocolError')
  })
})

function normalise (f: Frame): unknown {
  return JSON.parse(JSON.stringify(f, (_k, v: unknown) => v instanceof Uint8Array ? [...v] : v))
}
