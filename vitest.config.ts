import { defineConfig } from "vitest/config"

// One runner for the whole repository: each package and example is a project, so
// `vitest run --project wsl` focuses on one of them.
export default defineConfig({
  test: {
    projects: [
      { test: { name: "wsl", root: "packages/wsl", include: ["test/**/*.test.ts"] } },
      { test: { name: "rpc-protocol", root: "packages/rpc-protocol", include: ["test/**/*.test.ts"] } },
      { test: { name: "backend-pool", root: "packages/backend-pool", include: ["test/**/*.test.ts"] } },
      { test: { name: "examples", root: "examples", include: ["*/test/**/*.test.ts"] } },
      { test: { name: "repo", root: "test", include: ["**/*.test.ts"] } }
    ],
    // Generous: CI machines are shared, and tests that spawn processes or run property checks
    // take 10x longer under load (scripts/test-under-load.sh). A hung test still fails, later.
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
