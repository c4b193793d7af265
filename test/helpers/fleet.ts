/** Spawn and drive fleet members (test/fixtures/fleet-node.ts) as real processes. */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export { freePort } from './cli-process.js'

const fixture = fileURLToPath(new URL('../fixtures/fleet-node.ts', import.meta.url))

export interface Member {
  name: string
  proc: ChildProcess
  peerId: string
  addr: string
  /** every message the process printed, in order */
  log: Array<Record<string, unknown>>
  send: (msg: Record<string, unknown>) => void
  /** resolve with the next message that has `key` */
  next: (key: string, timeoutMs?: number) => Promise<Record<string, unknown>>
  acks: number[]
  exited: Promise<number | null>
}

export async function startMember (name: string, args: string[], nodeArgs: string[] = []): Promise<Member> {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', fixture, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const log: Array<Record<string, unknown>> = []
  const waiters: Array<{ key: string, resolve: (m: Record<string, unknown>) => void }> = []
  const acks: number[] = []
  const exited = new Promise<number | null>(resolve => proc.once('exit', (code) => { resolve(code) }))
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let msg: Record<string, unknown>
    try { msg = JSON.parse(line) } catch { return }
    log.push(msg)
    if (typeof msg.ack === 'number') acks.push(msg.ack)
    for (const w of [...waiters]) {
      if (w.key in msg) { waiters.splice(waiters.indexOf(w), 1); w.resolve(msg) }
    }
  })
  const next = async (key: string, timeoutMs = 30_000): Promise<Record<string, unknown>> =>
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => { reject(new Error(`${name}: no '${key}' within ${timeoutMs} ms`)) }, timeoutMs)
      waiters.push({ key, resolve: (m) => { clearTimeout(t); resolve(m) } })
    })
  const ready = await Promise.race([next('ready'), exited.then(code => { throw new Error(`${name} exited with ${code} before ready`) })])
  return {
    name,
    proc,
    log,
    next,
    acks,
    exited,
    peerId: ready.peerId as string,
    addr: ready.addr as string,
    send: (msg) => { proc.stdin!.write(JSON.stringify(msg) + '\n') }
  }
}

export async function ask (m: Member, msg: Record<string, unknown>, key: string, timeoutMs?: number): Promise<Record<string, unknown>> {
  const p = m.next(key, timeoutMs)
  m.send(msg)
  return await p
}
