import { defineConfig } from "vitest/config"
import base from "../../vitest.mutate.config.ts"

// The vitest configuration `pnpm mutate wsl` runs (see stryker.config.json): the repository's,
// with the property tests scaled down. Every mutant reruns the property tests that reach it; a
// tenth of their runs keeps a pathCore run within reach on a busy 2-core machine. Fewer runs can
// only catch fewer mutants, so scores measured so are a lower bound (WSL_PROPERTY_SCALE=1 for the
// full count). Pick the tests with `--tests`: `pnpm mutate wsl src/internal/pathCore.ts --tests
// test/WslPath.test.ts`.
const env = { WSL_PROPERTY_SCALE: process.env["WSL_PROPERTY_SCALE"] ?? "0.1" }

export default defineConfig({
  test: {
    ...base.test,
    projects: (base.test?.projects ?? []).map((project) =>
      typeof project === "object" && "test" in project
        ? { ...project, test: { ...project.test, env: { ...project.test?.env, ...env } } }
        : project
    )
  }
})
