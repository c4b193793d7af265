/**
 * What a command runs with: its parsed options, the process around it, and
 * the platform (how to start a node, how to open a data directory's store),
 * passed in so that commands can run in-process in tests as well as in `bin/`.
 */
import type { MeshNode, MeshNodeOptions } from '../mesh-node.js'
import type { StorageAdapter } from '../storage/types.js'
import type { OptionValue } from './option-spec.js'
import type { StartYwsBridge } from '../yws-bridge.js'

export interface OutStream {
  write: (chunk: string | Uint8Array) => unknown
  isTTY?: boolean
  columns?: number
}

export interface CliIO {
  stdout: OutStream
  stderr: OutStream
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  cwd: string
  /** call `fn` when the process is asked to stop (SIGTERM, SIGINT); returns an unsubscribe function */
  onStopSignal: (fn: (signal: string) => void) => () => void
}

/**
 * What the CLI runs on, handed in by its entry (`bin/meshdoc.ts`, with
 * `adapters/presets/cli.ts`): lib/ knows no adapter.
 */
export interface CliPlatform {
  /** create and start a node (Node's `createMeshNode`) */
  createMeshNode: (opts: MeshNodeOptions) => Promise<MeshNode>
  /** start a y-websocket endpoint on a running node (`gateway --yws`; adapters/y-websocket) */
  ywsBridge?: StartYwsBridge
  /** the durable store kept in a directory (documents and identity; an FsStorageAdapter) */
  openStorage: (dir: string) => StorageAdapter
}

export interface CommandContext {
  values: Record<string, OptionValue | undefined>
  positionals: string[]
  io: CliIO
  platform: CliPlatform
}

/** The option as a string, or undefined. */
export function str (v: OptionValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined
}

/** The option as a list of strings (empty when unset). */
export function list (v: OptionValue | undefined): string[] {
  if (Array.isArray(v)) return v
  return typeof v === 'string' ? [v] : []
}

/** Write a line to stderr, prefixed `meshdoc:` */
export function note (io: CliIO, line: string): void {
  io.stderr.write(`meshdoc: ${line}\n`)
}
