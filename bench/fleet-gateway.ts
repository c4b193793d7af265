/**
 * `meshdoc gateway` for the F1 fleet bench, this checkout's sources under
 * tsx: bench/fleet-gateway.mjs (plain JavaScript, what a build's gateway is
 * launched with) does the work.
 *
 *   [MESHDOC_BENCH_OWN_HOSTS=1] node --max-semi-space-size=2 --import tsx bench/fleet-gateway.ts gateway --data DIR …
 */
import './fleet-gateway.mjs'
