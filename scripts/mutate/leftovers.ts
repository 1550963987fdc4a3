/**
 * Stryker's in-place leftovers. `pnpm mutate` runs Stryker in place: the files being mutated are
 * rewritten with every mutant behind a switch (a `stryNS_…` helper at the top of the file), and
 * put back when Stryker ends. A run that is killed before that (SIGKILL, a closed terminal, a
 * crash) leaves instrumented sources that type-check, pass most tests, and get committed.
 *
 * So `pnpm mutate` keeps its own copy of the package's sources before it starts and puts back
 * every file still instrumented when Stryker ends, however it ends (`restoreLeftovers`); a run
 * that could not do even that (the wrapper itself was killed) leaves the copy, and the next
 * `pnpm mutate` (or `pnpm mutate --restore`) uses it. `pnpm lint` fails while any file holds
 * instrumentation (`check.ts`).
 */
import { spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"

/** Stryker's helper name (`stryNS_` and five hex digits in Stryker 10); the regex does not match itself. */
export const instrumentationPattern = "stryNS_[0-9a-f]{5}"
const instrumented = new RegExp(instrumentationPattern)

/** Where `pnpm mutate` keeps the originals of a package while it runs. */
export const originalsDir = (root: string, pkg: string) => join(root, "node_modules/.cache/stryker", `${pkg}.originals`)

/**
 * Files under packages/, examples/ and scripts/ (tracked, or new and not ignored) that hold
 * Stryker's instrumentation, relative to `root`.
 */
export const instrumentedFiles = (root: string): Array<string> => {
  const r = spawnSync(
    "git",
    ["grep", "--untracked", "-lE", instrumentationPattern, "--", "packages", "examples", "scripts"],
    { cwd: root, encoding: "utf8" }
  )
  if (r.status === 1) return [] // no match
  if (r.status !== 0) throw new Error(`git grep failed (${r.status}): ${r.stderr}`)
  return r.stdout.split("\n").filter((line) => line.length > 0)
}

/** The package's sources, tracked or new and not ignored, relative to `root`. */
const packageFiles = (root: string, pkg: string): Array<string> => {
  const r = spawnSync("git", ["ls-files", "-co", "--exclude-standard", "--", join("packages", pkg)], {
    cwd: root,
    encoding: "utf8"
  })
  if (r.status !== 0) throw new Error(`git ls-files failed (${r.status}): ${r.stderr}`)
  return r.stdout.split("\n").filter((f) => /\.(m|c)?[jt]sx?$/.test(f) && existsSync(join(root, f)))
}

/** Copies the package's sources aside before Stryker rewrites some of them. */
export const keepOriginals = (root: string, pkg: string) => {
  const dir = originalsDir(root, pkg)
  rmSync(dir, { recursive: true, force: true })
  for (const file of packageFiles(root, pkg)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    cpSync(join(root, file), join(dir, file))
  }
}

/**
 * Puts back, from every package's kept originals, each file that is instrumented now and was not
 * when it was kept; forgets the originals of packages that have nothing left to put back.
 * Returns the files put back and the ones still instrumented (no clean copy kept).
 */
export const restoreLeftovers = (root: string): { restored: Array<string>; remaining: Array<string> } => {
  const restored: Array<string> = []
  const cache = join(root, "node_modules/.cache/stryker")
  for (const file of instrumentedFiles(root)) {
    const pkg = /^packages\/([^/]+)\//.exec(file)?.[1]
    const copy = pkg === undefined ? undefined : join(originalsDir(root, pkg), file)
    if (copy !== undefined && existsSync(copy) && !instrumented.test(readFileSync(copy, "utf8"))) {
      cpSync(copy, join(root, file))
      restored.push(file)
    }
  }
  const remaining = instrumentedFiles(root)
  if (existsSync(cache)) {
    for (const entry of readdirSync(cache)) {
      const pkg = /^(.+)\.originals$/.exec(entry)?.[1]
      if (pkg !== undefined && !remaining.some((f) => f.startsWith(`packages/${pkg}/`))) {
        rmSync(join(cache, entry), { recursive: true, force: true })
      }
    }
  }
  return { restored, remaining }
}

/** What to do about files still instrumented. */
export const leftoverAdvice = (files: ReadonlyArray<string>) =>
  `${files.length} file(s) hold Stryker's instrumentation (a \`pnpm mutate\` run was interrupted):\n` +
  files.map((f) => `  ${f}\n`).join("") +
  "Run `pnpm mutate --restore` to put back the originals the run kept; if it has none, restore each file " +
  "from git (`git checkout -- <file>`, losing uncommitted edits in it). Never commit these files as they are."
