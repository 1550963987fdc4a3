/**
 * `pnpm bench`: runs every benchmark file (`packages/*\/bench/*.bench.ts`, `examples/*\/bench/*.bench.ts`)
 * one after another, in this process, and prints one markdown table with the baseline ratio per row.
 * `pnpm bench wsl` runs only files whose path contains "wsl".
 *
 * The latency benchmarks (tens of microseconds per call) run first, each once the machine has
 * settled (waiting at most 20 s, and saying how busy it was), so the benchmarks that spawn hundreds
 * of processes do not leave their load on them. The machine's load is printed under the table.
 */
import { readdirSync } from "node:fs"
import * as os from "node:os"
import { join, relative } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type BenchRow, ratio } from "./bench-kit.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const filter = process.argv[2]

const found = ["packages", "examples"].flatMap((top) =>
  readdirSync(join(root, top), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => {
      const dir = join(root, top, d.name, "bench")
      try {
        return readdirSync(dir).filter((f) => f.endsWith(".bench.ts")).map((f) => join(dir, f))
      } catch {
        return []
      }
    })
).filter((file) => filter === undefined || file.includes(filter))

// Latency benchmarks, run first and after the machine settled (in this order).
const latencySensitive = ["rpc-protocol/bench/roundtrip.bench.ts", "rpc-protocol/bench/bridge.bench.ts"]
const rank = (file: string) => {
  const i = latencySensitive.findIndex((suffix) => file.endsWith(suffix))
  return i === -1 ? latencySensitive.length : i
}
const benchFiles = found.toSorted((a, b) => rank(a) - rank(b))

/** CPU time so far, summed over the CPUs: busy and all. */
const cpuTime = (cpus: ReadonlyArray<os.CpuInfo>) =>
  cpus.reduce(
    (sum, cpu) => {
      const t = cpu.times
      return {
        busy: sum.busy + t.user + t.nice + t.sys + t.irq,
        all: sum.all + t.user + t.nice + t.sys + t.irq + t.idle
      }
    },
    { busy: 0, all: 0 }
  )

/** How many CPUs' worth of time the machine spent busy over `ms` (this process waits meanwhile). */
const busyCpus = async (ms: number): Promise<number> => {
  const before = cpuTime(os.cpus())
  await new Promise((resolve) => setTimeout(resolve, ms))
  const after = cpuTime(os.cpus())
  const all = after.all - before.all
  return all <= 0 ? 0 : ((after.busy - before.busy) / all) * os.cpus().length
}

/** Waits (at most `maxMs`) until at most half a CPU is busy, then says how busy the machine was. */
const settle = async (name: string, maxMs = 20_000) => {
  const started = performance.now()
  let busy = await busyCpus(500)
  while (busy > 0.5 && performance.now() - started < maxMs) busy = await busyCpus(500)
  const waited = (performance.now() - started) / 1000
  process.stderr.write(
    `bench: ${name}: starting with ${busy.toFixed(1)} of ${os.cpus().length} CPUs busy elsewhere, 1-min load ` +
      `${os.loadavg()[0]!.toFixed(1)} (waited ${waited.toFixed(1)} s${
        busy > 0.5 ? ", the limit: the machine stayed busy" : ""
      })\n`
  )
}
const loadAtStart = os.loadavg()[0]!

const format = (n: number) =>
  !Number.isFinite(n) ? String(n) : Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toPrecision(3)

const rows: Array<{ file: string; row: BenchRow }> = []
let failed = false
for (const file of benchFiles) {
  const name = relative(root, file)
  process.stderr.write(`bench: ${name}\n`)
  if (rank(file) < latencySensitive.length) await settle(name)
  try {
    const module = (await import(pathToFileURL(file).href)) as { default: () => Promise<ReadonlyArray<BenchRow>> }
    for (const row of await module.default()) rows.push({ file: name, row })
  } catch (error) {
    failed = true
    process.stderr.write(`bench: ${name} failed: ${error instanceof Error ? error.stack : String(error)}\n`)
  }
}

console.log("| benchmark | ours | baseline | baseline value | ratio | target |")
console.log("|---|---|---|---|---|---|")
for (const { row } of rows) {
  const r = ratio(row)
  const verdict = row.target === undefined ? "" : `${row.target} ${row.met === undefined ? "" : row.met ? "✅" : "❌"}`
  console.log(
    `| ${row.name} | ${format(row.value)} ${row.unit} | ${row.baseline} | ${format(row.baselineValue)} ${row.unit} | ${
      format(r)
    }x (${row.better} is better) | ${verdict} |`
  )
}
console.log(
  `\n${rows.length} rows from ${benchFiles.length} files; node ${process.version}, ${process.platform}/${process.arch}, ` +
    `${os.cpus().length} CPUs; 1-min load ${loadAtStart.toFixed(1)} at the start, ${
      os.loadavg()[0]!.toFixed(1)
    } at the end`
)
if (failed) process.exitCode = 1
