/**
 * Loopback request round trip: our RpcPeer ↔ RpcServer (daemon dialect, NDJSON over TCP) against a
 * raw socket echo with the same framing and the same JSON work (split lines, JSON.parse,
 * JSON.stringify), one request in flight at a time, with every bound of the hardening work on (in-flight
 * and outbound bounds, idle timeout, activity counters). Targets: p50 within 1.3x and p99 within
 * 1.5x of the raw echo (issue #14).
 *
 * Both sides run in this process, warmed up, in alternating blocks. Each percentile has two rows,
 * both judged: the percentile of all samples pooled (the usual definition), and the pair of
 * neighbouring blocks whose ratio is the median over all pairs, which a burst of load from
 * elsewhere hitting a few blocks hardly moves. `pnpm bench` runs this file before the heavy
 * benchmarks and after waiting (bounded) for the machine to settle.
 *
 * The tools to look inside: `profile-js.ts` (the JavaScript work alone, over fake sockets, with
 * CPU time per call and GC per side), `profile-split.ts` (one side on real sockets, for a CPU
 * profile or `strace -c`), `profile-compare.ts` (CPU time per call of both, alternating) and
 * `profile-roundtrip.ts` (`node --cpu-prof`).
 */
import { Effect } from "effect"
import { type BenchRow, percentile } from "../../../scripts/bench-kit.ts"
import { params, startOurs, startRaw } from "./echo-setup.ts"

// Per side: calls before anything is recorded (JIT tiers, socket buffers, caches), then recorded
// blocks of BLOCK calls, the two sides' blocks alternating (and which side goes first, too).
const WARMUP = 5000
const BLOCK = 500
const BLOCKS = 41
/**
 * Both setups stay up and are measured in alternating blocks, so load from anything else on the
 * machine falls on both alike. The baseline is timed in plain async code, ours inside Effect.
 * Returns each recorded block's latencies, in milliseconds.
 */
const measure = async () => {
  const { peer, close } = await startOurs()
  const raw = await startRaw()
  const ours: Array<Array<number>> = []
  const baseline: Array<Array<number>> = []
  const oursBlock = (n: number, into: Array<number>) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) {
        const start = performance.now()
        yield* peer.request("echo", params)
        into.push(performance.now() - start)
      }
    })
  const runOurs = async (n: number) => {
    const samples: Array<number> = []
    await Effect.runPromise(oursBlock(n, samples))
    return samples
  }
  const runRaw = async (n: number) => {
    const samples: Array<number> = []
    for (let i = 0; i < n; i++) {
      const start = performance.now()
      await raw.call()
      samples.push(performance.now() - start)
    }
    return samples
  }
  for (let done = 0; done < WARMUP; done += BLOCK) {
    await runRaw(BLOCK)
    await runOurs(BLOCK)
  }
  for (let b = 0; b < BLOCKS; b++) {
    if (b % 2 === 0) {
      baseline.push(await runRaw(BLOCK))
      ours.push(await runOurs(BLOCK))
    } else {
      ours.push(await runOurs(BLOCK))
      baseline.push(await runRaw(BLOCK))
    }
  }
  await raw.close()
  await close()
  return { ours, baseline }
}

const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`

/**
 * Each side's percentile in each block, paired with the other side's neighbouring block: the row
 * reports the pair whose ratio is the median of all pairs (both figures measured in that pair).
 * A burst of load from elsewhere hits a few blocks, so it moves the median pair little, unlike
 * the percentiles of all samples pooled, which are printed beside it.
 */
const blockStatistic = (
  ours: ReadonlyArray<ReadonlyArray<number>>,
  baseline: ReadonlyArray<ReadonlyArray<number>>,
  p: number
) => {
  const pairs = ours.map((block, i) => {
    const o = percentile(block, p)
    const b = percentile(baseline[i]!, p)
    return { ours: o, baseline: b, ratio: o / b }
  }).toSorted((x, y) => x.ratio - y.ratio)
  return {
    median: pairs[Math.floor(pairs.length / 2)]!,
    min: pairs[0]!.ratio,
    max: pairs[pairs.length - 1]!.ratio,
    pooled: { ours: percentile(ours.flat(), p), baseline: percentile(baseline.flat(), p) }
  }
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const { ours, baseline } = await measure()
  // Two rows per percentile: the percentile of all samples pooled (the usual definition, which a
  // burst of load on a few blocks can move) and the block pair with the median ratio (which it
  // hardly moves). Both are judged against the target.
  const rows = ([[50, 1.3], [99, 1.5]] as const).flatMap(([p, target]) => {
    const stat = blockStatistic(ours, baseline, p)
    process.stderr.write(
      `bench: round trip p${p}: ours/raw per block pair ${stat.median.ratio.toFixed(2)}x median ` +
        `(${stat.min.toFixed(2)}–${stat.max.toFixed(2)}x over ${BLOCKS} pairs); all samples pooled: ` +
        `ours ${us(stat.pooled.ours)}, raw ${us(stat.pooled.baseline)}, ` +
        `${(stat.pooled.ours / stat.pooled.baseline).toFixed(2)}x\n`
    )
    const row = (name: string, value: number, raw: number): BenchRow => ({
      name: `loopback round trip p${p} (RpcPeer→RpcServer, daemon/NDJSON/TCP; ${name})`,
      value: value * 1000,
      unit: "µs",
      baseline: "raw net echo, same framing + JSON",
      baselineValue: raw * 1000,
      better: "lower",
      target: `<= ${target}x`,
      met: value <= target * raw
    })
    return [
      row(`all ${BLOCKS * BLOCK} calls pooled`, stat.pooled.ours, stat.pooled.baseline),
      row(
        `of ${BLOCKS} alternating pairs of ${BLOCK}-call blocks, the pair with the median ratio`,
        stat.median.ours,
        stat.median.baseline
      )
    ]
  })
  return rows
}
