/**
 * The README's demo: two peers in two processes sync one document over an
 * encrypted libp2p connection (TCP + Noise + yamux) on 127.0.0.1 and print
 * what they see. Exits 0 once both hold all six lines.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const peer = fileURLToPath(new URL('./peer.ts', import.meta.url))
const run = (args: string[]): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', peer, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })

const children: ChildProcess[] = []
const killAll = (): void => { for (const c of children) c.kill('SIGTERM') }
process.once('SIGINT', killAll)
process.once('SIGTERM', killAll)
const timeout = setTimeout(() => { console.error('demo: timed out'); killAll(); process.exitCode = 1 }, 60_000)

const exited = (c: ChildProcess): Promise<number> => new Promise(resolve => c.once('exit', (code) => { resolve(code ?? 1) }))

const alice = run(['--name', 'alice', '--listen', '/ip4/127.0.0.1/tcp/0', '--exit-when-seen', '6'])
children.push(alice)
const aliceAddr = await new Promise<string>((resolve, reject) => {
  let buf = ''
  alice.stdout!.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk)
    buf += chunk.toString()
    const m = /listening on (\S+)/.exec(buf)
    if (m !== null) resolve(m[1])
  })
  alice.once('exit', () => { reject(new Error('alice exited before listening')) })
})

const bob = run(['--name', 'bob', '--dial', aliceAddr, '--exit-when-seen', '6'])
children.push(bob)
bob.stdout!.on('data', (chunk: Buffer) => process.stdout.write(chunk))

const codes = await Promise.all([exited(alice), exited(bob)])
clearTimeout(timeout)
if (codes.every(c => c === 0)) {
  console.log('demo: both peers hold the same 6 lines; done.')
} else {
  console.error(`demo: peers exited with ${codes.join(', ')}`)
  process.exitCode = 1
}
