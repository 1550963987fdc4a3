/**
 * `pnpm mutate <package> [files…] [--tests test files…] [-- stryker options…]`: mutation testing
 * (Stryker with the vitest runner) of one package, or of some of its files, against that
 * package's vitest project (or only the test files given after `--tests`).
 *
 *   pnpm mutate wsl src/internal/pathCore.ts         # one module (paths relative to the package)
 *   pnpm mutate rpc-protocol src/Framing.ts src/Dialect.ts
 *   pnpm mutate backend-pool src/RestartPolicy.ts --tests test/units.test.ts test/fake.test.ts
 *   pnpm mutate backend-pool                        # the package's default `mutate` globs
 *   pnpm mutate backend-pool src/child/index.ts --tests test/child.test.ts -- --coverageAnalysis off
 *
 * The package's `stryker.config.json` holds its defaults (what to mutate, timeouts); this script
 * adds what every package shares, writes the merged configuration under node_modules/.cache and
 * runs `stryker run` on it. Reports go to `reports/mutation/<package>/` (HTML + JSON). Not in CI:
 * a run costs minutes of both cores.
 *
 * Stryker runs in place, so an interrupted run must not leave mutated sources behind
 * (mutate/leftovers.ts): this script refuses to start while any file is instrumented, keeps a
 * copy of the package's sources, and puts back every file still instrumented when Stryker ends,
 * however it ends (Ctrl-C, SIGTERM, a crash; a signal is passed on and Stryker gets 30 s to clean
 * up). If this script itself is killed, `pnpm mutate --restore` puts the kept copies back, and
 * `pnpm lint` fails until that is done.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { instrumentedFiles, keepOriginals, leftoverAdvice, restoreLeftovers } from "./mutate/leftovers.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const args = process.argv.slice(2)

/** Puts back what an interrupted run left; false (after saying what is left) when it cannot. */
const restore = (): boolean => {
  const { restored, remaining } = restoreLeftovers(root)
  for (const file of restored) console.error(`pnpm mutate: put back the original of ${file}`)
  if (remaining.length > 0) console.error(`pnpm mutate: ${leftoverAdvice(remaining)}`)
  return remaining.length === 0
}
if (args[0] === "--restore") process.exit(restore() ? 0 : 1)
if (instrumentedFiles(root).length > 0 && !restore()) process.exit(2)
const dashes = args.indexOf("--")
const ours = dashes === -1 ? args : args.slice(0, dashes)
const strykerArgs = dashes === -1 ? [] : args.slice(dashes + 1)
const testsFlag = ours.indexOf("--tests")
const [pkg, ...files] = testsFlag === -1 ? ours : ours.slice(0, testsFlag)
const tests = testsFlag === -1 ? [] : ours.slice(testsFlag + 1)

const usage =
  "usage: pnpm mutate <wsl|rpc-protocol|backend-pool> [files…] [--tests test files…] [-- stryker options] (paths relative to the package)"
if (pkg === undefined || pkg.startsWith("-")) {
  console.error(usage)
  process.exit(2)
}
const packageDir = join(root, "packages", pkg)
const packageConfigFile = join(packageDir, "stryker.config.json")
if (!existsSync(packageConfigFile)) {
  console.error(`pnpm mutate: no package "${pkg}" with a stryker.config.json under packages/\n${usage}`)
  process.exit(2)
}

// File arguments are relative to the package (or absolute); Stryker wants them relative to the
// repository root, where it runs. A mutation range (`file:12-30`) is kept as given.
const fromPackage = (file: string) => {
  const [path = "", ...range] = file.split(":")
  const absolute = resolve(packageDir, path)
  if (!existsSync(absolute)) {
    console.error(`pnpm mutate: ${file} does not exist (file paths are relative to packages/${pkg})`)
    process.exit(2)
  }
  return [relative(root, absolute), ...range].join(":")
}
const mutate = files.map(fromPackage)
const testFiles = tests.map(fromPackage)

const packageConfig = JSON.parse(readFileSync(packageConfigFile, "utf8")) as { mutate?: ReadonlyArray<string> }
const reportDir = `reports/mutation/${pkg}`
const config = {
  testRunner: "vitest",
  // Stryker looks for plugins next to itself, where pnpm's layout has none: name the runner's path.
  plugins: [join(root, "node_modules/@stryker-mutator/vitest-runner/dist/src/index.js")],
  // `related`: without `--tests`, run only the test files that import the mutated file (else a
  // static mutant, which runs "all tests", would run the package's whole suite). With `--tests`
  // the files are chosen: vitest's related filter would drop those that reach the module only
  // through processes they spawn (child.test.ts and the child helper: "No tests were found").
  vitest: { configFile: "vitest.mutate.config.ts", related: tests.length === 0 },
  // Mutate the real files (originals are kept in .stryker-tmp and put back at the end): tests
  // import the packages by name through workspace symlinks and spawn processes that load the
  // sources, neither of which would see a sandbox copy.
  inPlace: true,
  // Only the mutated files are rewritten. (Stryker's default adds `// @ts-nocheck` to every test
  // and source file, rewriting them all in place and losing their modes; vitest does not type
  // check, so there is nothing to disable.)
  disableTypeChecks: false,
  coverageAnalysis: "perTest",
  concurrency: 2,
  // Tests spawn processes and wait on real time; a mutant that hangs is a timeout (killed).
  timeoutMS: 10_000,
  timeoutFactor: 2.5,
  dryRunTimeoutMinutes: 15,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: `${reportDir}/mutation.html` },
  jsonReporter: { fileName: `${reportDir}/mutation.json` },
  incrementalFile: `${reportDir}/incremental.json`,
  tempDirName: `.stryker-tmp/${pkg}`,
  cleanTempDir: "always",
  thresholds: { high: 85, low: 70, break: null },
  ...packageConfig,
  $schema: undefined,
  ...(mutate.length > 0 ? { mutate } : {}),
  // Only these test files (the fast unit tests of a module, say): a run in minutes instead of
  // every process-level test that happens to reach the module.
  ...(testFiles.length > 0 ? { testFiles } : {})
}

const cacheDir = join(root, "node_modules/.cache/stryker")
mkdirSync(cacheDir, { recursive: true })
const configFile = join(cacheDir, `${pkg}.config.json`)
writeFileSync(configFile, JSON.stringify(config, null, 2))

console.error(
  `pnpm mutate: ${pkg}: ${(config.mutate ?? []).join(", ")}${
    testFiles.length > 0 ? ` against ${testFiles.join(", ")}` : ""
  }`
)
keepOriginals(root, pkg)
const stryker = spawn(join(root, "node_modules/.bin/stryker"), ["run", configFile, ...strykerArgs], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, ISTHMUS_MUTATE_PROJECT: pkg }
})
// Ctrl-C reaches Stryker too (same process group); other signals are passed on. Either way this
// script waits for Stryker to put its files back, and checks.
const onSignal = (signal: NodeJS.Signals) => {
  if (stryker.exitCode === null && stryker.signalCode === null) {
    stryker.kill(signal)
    setTimeout(() => stryker.kill("SIGKILL"), 30_000).unref()
  }
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal)
const status = await new Promise<number>((settle) => {
  stryker.once("error", (error) => {
    console.error(`pnpm mutate: could not run stryker: ${error.message}`)
    settle(1)
  })
  stryker.once("close", (code, signal) => settle(code ?? (signal === null ? 1 : 128)))
})
const clean = restore()
console.error(`pnpm mutate: report in ${reportDir}/mutation.html (open it in a browser) and ${reportDir}/mutation.json`)
process.exit(clean ? status : 1)
