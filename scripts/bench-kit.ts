/**
 * The contract between `pnpm bench` and each package's benchmarks.
 *
 * A benchmark file is `packages/<pkg>/bench/<name>.bench.ts` (or `examples/<ex>/bench/…`) whose
 * default export runs the measurement and returns rows. Every row compares our code with a
 * baseline measured in the same run on the same machine, so the ratio means something even when
 * absolute numbers move between machines.
 */
export interface BenchRow {
  /** What was measured, e.g. "WslPath.toLinux". */
  readonly name: string
  /** Our figure. */
  readonly value: number
  /** The unit of `value` and `baselineValue`, e.g. "ops/s", "ms p50", "MB/s". */
  readonly unit: string
  /** What the baseline is, e.g. "spawn wslpath per call" or "split + JSON.parse". */
  readonly baseline: string
  readonly baselineValue: number
  /** Whether a bigger `value` is better (throughput) or a smaller one (latency, memory). */
  readonly better: "higher" | "lower"
  /** The target from the issue, in words, e.g. ">= 0.5x baseline". */
  readonly target?: string
  /** Whether the target was met, when there is one. */
  readonly met?: boolean
}

/** value / baselineValue: for "higher" rows above 1 is faster; for "lower" rows below 1 is better. */
export const ratio = (row: Pick<BenchRow, "value" | "baselineValue">): number =>
  row.baselineValue === 0 ? Number.NaN : row.value / row.baselineValue

/** Runs `f` repeatedly for about `ms` milliseconds and returns operations per second. */
export const opsPerSecond = (f: () => unknown, ms = 500): number => {
  for (let i = 0; i < 1000; i++) f() // warm-up
  let n = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    for (let i = 0; i < 1000; i++) f()
    n += 1000
    elapsed = performance.now() - start
  }
  return (n / elapsed) * 1000
}

/** The p-th percentile (0..100) of a list of samples. */
export const percentile = (samples: ReadonlyArray<number>, p: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = samples.toSorted((a, b) => a - b)
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]!
}
