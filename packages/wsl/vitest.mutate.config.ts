import { defineConfig } from "vitest/config"
import base from "../../vitest.mutate.config.ts"

// The tests `pnpm mutate wsl` runs (see stryker.config.json). By default the fast, pure suites
// (no processes): they are what reaches `pathCore`, `Wslenv`, `DistroList`, `WslCommand` and
// `Networking`. WSL_MUTATE_TESTS=test/a.test.ts,test/b.test.ts picks others, e.g. the
// process-level suites for `fake-wsl` (with `-- --coverageAnalysis all`). The README says which
// set each reported score was measured with.
const fast = [
  "test/WslPath.test.ts",
  "test/Wslenv.test.ts",
  "test/DistroName.test.ts",
  "test/DistroList.test.ts",
  "test/WslCommand.test.ts",
  "test/Networking.test.ts"
]
const include = process.env["WSL_MUTATE_TESTS"]?.split(",").filter((t) => t.length > 0) ?? fast
// Every mutant reruns the property tests that reach it: a tenth of their runs keeps a pathCore run
// within minutes on a busy 2-core machine (WSL_PROPERTY_SCALE=1 for the full count).
const env = { WSL_PROPERTY_SCALE: process.env["WSL_PROPERTY_SCALE"] ?? "0.1" }

export default defineConfig({
  test: {
    ...base.test,
    projects: (base.test?.projects ?? []).map((project) =>
      typeof project === "object" && "test" in project
        ? { ...project, test: { ...project.test, include, env: { ...project.test?.env, ...env } } }
        : project
    )
  }
})
