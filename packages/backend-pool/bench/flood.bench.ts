/**
 * A 500 MiB stdout flood (1 KiB lines in 64 KiB writes, as fast as the pipe takes them) through a
 * supervised instance — rotating files, the ring, one live subscriber that never reads — against
 * the same child spawned raw with its stdout read and discarded. Two figures (supervision.md T7):
 * the child's own throughput (the pool must not throttle it below 0.5× the unsupervised rate)
 * and the host's RSS growth (≤ 50 MB: RSS, because buffers live outside the V8 heap). Each side
 * runs in a fresh host process, so the memory figures are its own; the sides alternate, three
 * times each, and the medians count (the child's rate swings with the machine's load).
 */
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import type { BenchRow } from "../../../scripts/bench-kit.ts"
import { median } from "./_shared.ts"

const mb = 500
const rounds = 3
const host = fileURLToPath(new URL("./fixtures/flood-host.ts", import.meta.url))

interface HostReport {
  readonly mibPerSecond: number
  readonly worstWaitMs: number
  readonly rssGrowthMb: number
  readonly stats?: { readonly droppedFileLines: number; readonly droppedLiveLines: number; readonly lines: number }
}

const run = (mode: "raw" | "pool", dir: string): HostReport => {
  const out = NodeChild.execFileSync(process.execPath, ["--expose-gc", host, mode, String(mb), dir], {
    encoding: "utf8",
    maxBuffer: 1024 * 1024
  })
  const report = JSON.parse(out) as HostReport
  if (!Number.isFinite(report.mibPerSecond)) throw new Error(`flood host (${mode}) did not report: ${out}`)
  return report
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-bench-flood-"))
  try {
    const raws: Array<HostReport> = []
    const pools: Array<HostReport> = []
    for (let i = 0; i < rounds; i++) {
      raws.push(run("raw", dir))
      pools.push(run("pool", NodePath.join(dir, `logs-${i}`)))
    }
    const rate = (rs: ReadonlyArray<HostReport>) => median(rs.map((r) => r.mibPerSecond))
    const growth = (rs: ReadonlyArray<HostReport>) => median(rs.map((r) => r.rssGrowthMb))
    const dropped = pools.map((r) => r.stats?.droppedFileLines ?? 0).join("/")
    return [{
      name:
        `stdout flood ${mb} MiB of 1 KiB lines: the child's write rate (pool with files, ring, a stalled reader; file lines dropped ${dropped}; median of ${rounds})`,
      value: rate(pools),
      unit: "MiB/s",
      baseline: `the same child, raw spawn, stdout discarded (median of ${rounds})`,
      baselineValue: rate(raws),
      better: "higher",
      target: ">= 0.5x",
      met: rate(pools) >= 0.5 * rate(raws)
    }, {
      name: `stdout flood ${mb} MiB: host RSS growth (peak RSS minus RSS once set up; median of ${rounds}, worst ${
        Math.max(...pools.map((r) => r.rssGrowthMb)).toFixed(1)
      } MB)`,
      value: growth(pools),
      unit: "MB",
      baseline: `raw spawn host, stdout discarded (median of ${rounds})`,
      baselineValue: growth(raws),
      better: "lower",
      target: "<= 50 MB",
      met: Math.max(...pools.map((r) => r.rssGrowthMb)) <= 50 // every run, not only the median
    }]
  } finally {
    NodeFs.rmSync(dir, { recursive: true, force: true })
  }
}
