/**
 * `pnpm bench`: runs every benchmark file (`packages/*\/bench/*.bench.ts`, `examples/*\/bench/*.bench.ts`)
 * one after another, in this process, and prints one markdown table with the baseline ratio per row.
 * `pnpm bench wsl` runs only files whose path contains "wsl".
 */
import { readdirSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type BenchRow, ratio } from "./bench-kit.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const filter = process.argv[2]

const benchFiles = ["packages", "examples"].flatMap((top) =>
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

const format = (n: number) =>
  !Number.isFinite(n) ? String(n) : Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toPrecision(3)

const rows: Array<{ file: string; row: BenchRow }> = []
let failed = false
for (const file of benchFiles) {
  const name = relative(root, file)
  process.stderr.write(`bench: ${name}\n`)
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
  `\n${rows.length} rows from ${benchFiles.length} files; node ${process.version}, ${process.platform}/${process.arch}`
)
if (failed) process.exitCode = 1
