/**
 * The orchestrator's command line (effect/cli): --help exits 0, bad usage prints the usage and
 * exits 2, a run that cannot happen exits 1 with a message and no stack trace.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
const run = (...args: Array<string>) =>
  spawnSync(process.execPath, [main, ...args], { encoding: "utf8", timeout: 120_000 })

// Each case starts Node: generous time for a loaded machine.
describe("orchestrator command line", { timeout: 120_000 }, () => {
  it("--help prints the flags and the exit codes, and exits 0", () => {
    const r = run("--help")
    expect(r.status).toBe(0)
    expect(r.stdout).toContain("--watch")
    expect(r.stdout).toContain("--settings")
    expect(r.stdout).toContain("2 bad usage")
  })

  it("an unknown flag prints the usage and the error, and exits 2", () => {
    const r = run("--bogus")
    expect(r.status).toBe(2)
    expect(r.stdout).toContain("USAGE")
    expect(r.stderr).toContain("Unrecognized flag: --bogus")
  })

  it("a flag without its value exits 2", () => {
    const r = run("--settings")
    expect(r.status).toBe(2)
    expect(r.stderr).toContain("Missing value for flag --settings")
  })

  it("a settings file that does not exist exits 1 with a message, not a stack trace", () => {
    const r = run("--settings", "/nonexistent/backends.json")
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("orchestrator stopped: ")
    expect(r.stderr).toContain("/nonexistent/backends.json")
    expect(r.stderr).not.toMatch(/^\s+at /m)
  })
})
