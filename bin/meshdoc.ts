/**
 * The `meshdoc` command. Run through `bin/meshdoc.js` (which picks Node 24 and
 * tsx) or directly: `node --import tsx bin/meshdoc.ts --help`.
 */
import { nodeCliPlatform } from '../adapters/presets/cli.js'
import { runCli } from '../lib/cli/main.js'

// A long-running command (the gateway) catches stop signals from the very
// start, so one that arrives while it is still starting is handled once it is
// up instead of killing it mid-way. Other commands die on a signal as usual.
const longRunning = process.argv[2] === 'gateway'
const received: string[] = []
const listeners = new Set<(signal: string) => void>()
let firstSignalAt: number | undefined
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    const now = Date.now()
    received.push(sig)
    firstSignalAt ??= now
    if (listeners.size > 0) {
      for (const f of [...listeners]) f(sig)
      return
    }
    // a terminal's Ctrl-C reaches both the launcher (which forwards it) and
    // us: only a signal well after the first one forces a stop mid-shutdown
    if (!longRunning || now - firstSignalAt > 1000) {
      if (longRunning) process.stderr.write(`meshdoc: ${sig} again: exiting without finishing shutdown\n`)
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15))
    }
  })
}

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  onStopSignal: (fn) => {
    listeners.add(fn)
    if (received.length > 0) queueMicrotask(() => { if (listeners.has(fn)) fn(received[0]) })
    return () => { listeners.delete(fn) }
  }
}, nodeCliPlatform)
process.exitCode = code
// everything is closed by now and the process ends by itself; if a stray
// handle keeps it alive, do not hang the operator's shell or init system
setTimeout(() => { process.exit(code) }, 2000).unref()
