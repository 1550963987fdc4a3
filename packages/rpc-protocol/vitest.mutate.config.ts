import { defineConfig } from "vitest/config"
import base from "../../vitest.mutate.config.ts"

// The tests `pnpm mutate rpc-protocol` runs (see stryker.config.json): every fast test of the
// wire-level modules whose mutation scores the README reports (token compare and auth gate,
// framings, dialect id matching; `metrics` reads the gate's auth-failure and gate-timeout
// counters). Left out, for time only: the headless-Chromium, TLS (openssl), bootstrap (child
// processes), keepalive (real intervals), flood (RSS) and RpcBridge suites, none of which is
// needed to kill a mutant of those modules. Scores are therefore a lower bound.
const all = [
  "test/Dialect.test.ts",
  "test/Dialect.ids.test.ts",
  "test/Framing.test.ts",
  "test/Framing.edges.test.ts",
  "test/gate.test.ts",
  "test/metrics.test.ts",
  "test/limits.test.ts",
  "test/wire.test.ts",
  "test/daemon.test.ts",
  "test/defaults.test.ts",
  "test/Transports.test.ts",
  "test/interop.test.ts",
  "test/RpcPeer.test.ts",
  "test/incoming.test.ts",
  "test/connection-errors.test.ts"
]
// RPC_MUTATE_TESTS=test/a.test.ts,test/b.test.ts narrows a run to the tests aimed at one module
// (the scores in the README say which set each was measured with).
const fast = process.env["RPC_MUTATE_TESTS"]?.split(",").filter((t) => t.length > 0) ?? all

export default defineConfig({
  test: {
    ...base.test,
    projects: (base.test?.projects ?? []).map((project) =>
      typeof project === "object" && "test" in project
        ? { ...project, test: { ...project.test, include: fast } }
        : project
    )
  }
})
