/** The shapes scenarios share with the runner: context in, runs + table rows out. */

export interface Ctx {
  /** measured runs per contender */
  runs: number
  quick: boolean
  /** edits of the trace to replay in P1 / P1g / P4 / P5 (undefined: all 259,778) */
  limit: number | undefined
  /** the writer yields to the event loop every `chunk` edits */
  chunk: number
  /** per-step timeout */
  timeoutMs: number
  /** one progress line on stderr */
  progress: (msg: string) => void
  /** P6: devices in each fleet (undefined: 10,000; 400 with --quick) */
  devices?: number | undefined
  /** path of a file holding the V2 state of the doc after `limit` edits (built once) */
  statePath: () => Promise<string>
  /** F1: fleet sizes and settings (bench/scenarios/gateway-fleet.ts) */
  fleet?: Partial<FleetOptions>
}

/** F1's settings (`bench/run.ts` flags; defaults in gateway-fleet.ts) */
export interface FleetOptions {
  devicesList: number[]
  perProcess: number
  windowS: number
  limits: 'own-hosts' | 'stock'
  /** run gateway and devices on a build (DIR/dist, DIR/package.json) instead of this checkout's sources */
  build: string | undefined
  cpuProf: boolean
  heapSnapshot: boolean
  connectTimeoutS: number
  profileDir: string
}

export interface Row {
  id: string
  metric: string
  unit: string
  meshdoc: number
  /** the comparison value (a contender or a floor), if any */
  baseline: number | null
  baselineName: string | null
  /** meshdoc / baseline, or baseline / meshdoc for "lower is better" metrics, as `ratioLabel` says */
  ratio: number | null
  ratioLabel: string | null
  goal: string | null
  met: boolean | null
  note?: string
}

/** Medians over runs of one process's resources during the measured window. */
export interface ResourceRow {
  id: string
  contender: string
  /** A writer, B reader, G gateway, J joiner */
  side: string
  cpuMs: number
  /** peak RSS between mark and report */
  peakRssMB: number
  /** peak RSS minus RSS at the mark: what the measured work itself needed */
  rssGrowthMB: number
  socketWritten: number
  runs: number
}

export interface ScenarioResult {
  runs: unknown[]
  summary: Record<string, unknown>
  rows: Row[]
  resources?: ResourceRow[]
  errors: string[]
}

export interface Scenario {
  id: string
  /** other ids this scenario also reports (P1 reports P3) */
  covers?: string[]
  title: string
  /** long: runs only when named in --only */
  optIn?: boolean
  run: (ctx: Ctx) => Promise<ScenarioResult>
}

/** The clientID every trace writer uses, so raw V1 update sizes are the same in every contender. */
export const WRITER_CLIENT_ID = 3_141_592_653

export function row (r: Omit<Row, 'ratio' | 'ratioLabel' | 'goal' | 'met' | 'baseline' | 'baselineName'> & Partial<Row>): Row {
  return { baseline: null, baselineName: null, ratio: null, ratioLabel: null, goal: null, met: null, ...r }
}
