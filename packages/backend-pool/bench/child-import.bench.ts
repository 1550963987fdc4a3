/**
 * What a backend pays for `@isthmus/backend-pool/child`, as a user gets it: the packages are built
 * (tsup, as `pnpm pack-check` does) and laid out in a scratch project the way an install lays out
 * the published tarballs (`publishConfig.exports`, the `dist/` files, the peer dependencies next
 * to them), then a fresh `node` imports the helper. Against a bare `node -e ''` started the same
 * way in the same run: the difference in wall time and in peak RSS is the helper's cost (targets:
 * +150 ms, +20 MiB). A third row, `effect/Effect` alone, is the floor of any Effect-based helper.
 *
 * Each figure is the median of 9 alternating runs (after one warm-up of each, so every row reads
 * the files from the page cache): the machine is shared and single runs swing with the load.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import type { BenchRow } from "../../../scripts/bench-kit.ts"
import { median } from "./_shared.ts"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const rounds = 9
const packages = ["wsl", "rpc-protocol", "backend-pool"]
/** Installed next to the packages, as a consumer's install would (dependencies and peers). */
const dependencies = ["effect", "@effect/platform-node", "semver", "ws"]

/** A scratch project with the built packages installed as their tarballs would be. */
const consumer = (): string => {
  for (const name of packages) {
    execFileSync("pnpm", ["exec", "tsup", "--silent"], { cwd: NodePath.join(root, "packages", name), stdio: "ignore" })
  }
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-bench-child-"))
  for (const name of packages) {
    const from = NodePath.join(root, "packages", name)
    const manifest = JSON.parse(NodeFs.readFileSync(NodePath.join(from, "package.json"), "utf8")) as {
      publishConfig?: object
    }
    const to = NodePath.join(dir, "node_modules/@isthmus", name)
    NodeFs.mkdirSync(to, { recursive: true })
    NodeFs.writeFileSync(NodePath.join(to, "package.json"), JSON.stringify({ ...manifest, ...manifest.publishConfig }))
    NodeFs.cpSync(NodePath.join(from, "dist"), NodePath.join(to, "dist"), {
      recursive: true,
      filter: (f) => !f.endsWith(".map") && !f.endsWith(".d.ts") && !f.endsWith(".tsbuildinfo")
    })
  }
  for (const name of dependencies) {
    const link = NodePath.join(dir, "node_modules", name)
    NodeFs.mkdirSync(NodePath.dirname(link), { recursive: true })
    const installed = ["backend-pool", "rpc-protocol"].map((p) =>
      NodePath.join(root, "packages", p, "node_modules", name)
    )
      .find((candidate) => NodeFs.existsSync(candidate))
    if (installed === undefined) throw new Error(`${name} is not installed in the workspace (pnpm install)`)
    NodeFs.symlinkSync(NodeFs.realpathSync(installed), link)
  }
  return dir
}

interface Sample {
  readonly ms: number
  readonly rssMiB: number
}

/** Runs `node --input-type=module -e <code>` in `cwd`; wall time of the whole process, and its peak RSS. */
const sample = (cwd: string, code: string): Sample => {
  const script = `${code}process.stdout.write(String(process.resourceUsage().maxRSS))`
  const started = performance.now()
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd, encoding: "utf8" })
  const ms = performance.now() - started
  if (r.status !== 0) throw new Error(`node -e ${JSON.stringify(script)} failed: ${r.stderr}`)
  return { ms, rssMiB: Number(r.stdout) / 1024 }
}

export default async (): Promise<ReadonlyArray<BenchRow>> => {
  const dir = consumer()
  try {
    const cases = {
      bare: "",
      child: `await import("@isthmus/backend-pool/child");`,
      effect: `await import("effect/Effect");`
    }
    const samples = { bare: [] as Array<Sample>, child: [] as Array<Sample>, effect: [] as Array<Sample> }
    for (const code of Object.values(cases)) sample(dir, code) // warm the page cache
    for (let i = 0; i < rounds; i++) {
      for (const [name, code] of Object.entries(cases)) samples[name as keyof typeof cases].push(sample(dir, code))
    }
    const ms = (name: keyof typeof cases) => median(samples[name].map((s) => s.ms))
    const rss = (name: keyof typeof cases) => median(samples[name].map((s) => s.rssMiB))
    const bare = { ms: ms("bare"), rss: rss("bare") }
    const baseline = `a bare \`node -e ''\` (median of ${rounds})`
    return [{
      name: `import @isthmus/backend-pool/child from the built dist/: process wall time (median of ${rounds})`,
      value: ms("child"),
      unit: "ms",
      baseline,
      baselineValue: bare.ms,
      better: "lower",
      target: "<= +150 ms",
      met: ms("child") - bare.ms <= 150
    }, {
      name: `import @isthmus/backend-pool/child from the built dist/: peak RSS (median of ${rounds})`,
      value: rss("child"),
      unit: "MiB",
      baseline,
      baselineValue: bare.rss,
      better: "lower",
      target: "<= +20 MiB",
      met: rss("child") - bare.rss <= 20
    }, {
      name: `for reference, import effect/Effect alone: wall time / peak RSS ${
        rss("effect").toFixed(1)
      } MiB (median of ${rounds})`,
      value: ms("effect"),
      unit: "ms",
      baseline,
      baselineValue: bare.ms,
      better: "lower"
    }]
  } finally {
    NodeFs.rmSync(dir, { recursive: true, force: true })
  }
}
