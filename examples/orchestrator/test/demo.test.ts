/**
 * The README's demo, run as a person runs it: a real process supervising real daemons (one of
 * them through fake-wsl), with its output asserted step by step.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

describe("orchestrator scripted demo", () => {
  it("starts, talks, recovers from a crash, follows a settings edit and shuts down cleanly", async () => {
    const started = Date.now()
    const { stdout } = await promisify(execFile)(process.execPath, [main], {
      timeout: 90_000,
      env: { ...process.env, CI: "true" }
    })
    const elapsed = Date.now() - started
    const lines = stdout.split("\n")
    const index = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line))
    const expectInOrder = (...patterns: ReadonlyArray<RegExp>) => {
      let previous = -1
      for (const pattern of patterns) {
        const at = index(pattern)
        expect(at, `missing: ${pattern}`).toBeGreaterThan(-1)
        expect(at, `out of order: ${pattern}`).toBeGreaterThan(previous)
        previous = at
      }
    }

    expect(stdout).toContain("wsl: no WSL on this machine: the WSL backend runs through fake-wsl (simulated)")
    expectInOrder(
      /^step 1\/5 start/,
      /^ {2}\| Ubuntu \(WSL\) \[simulated\] +Ready /,
      /^step 2\/5 talk/,
      /^ {2}rpc {4}native: daemon_info over TCP → pid \d+, mode native/,
      /^ {2}rpc {4}native: a wrong Bearer token is refused before the upgrade/,
      /^ {2}notify native: daemon_tick \{"name":"native"/,
      /^ {2}rpc {4}wsl-ubuntu: daemon_info over TCP → pid \d+, mode wsl \(Ubuntu-24\.04\)/,
      /^ {2}notify wsl-ubuntu: daemon_tick/,
      /^step 3\/5 crash: SIGKILL native \(pid \d+\)/,
      /^ {2}event {2}native: Ready -> Backoff \(run 1\) for \d+ms after Crashed \(SIGKILL\)/,
      /^ {2}event {2}native: Starting -> Ready \(run 2\)/,
      /^ {2}native recovered: run 2, pid \d+, restarts 1, last exit Crashed \(SIGKILL\)/,
      /^step 4\/5 settings/,
      /^ {2}file {3}backends\.json changed: the pool follows/,
      /^ {2}now running: native \(run 1\), wsl-ubuntu \(run 1\)$/,
      /^step 5\/5 shutdown/,
      /^ {2}stopped 2 backends; processes left: 0$/,
      /^done in [\d.]+s$/
    )
    // The settings edit replaced native and removed worker, and kept the WSL backend running.
    expect(stdout).toMatch(/event {2}worker: unregistered \(stop graceful/)
    expect(stdout).toMatch(/event {2}native: unregistered \(stop graceful/)
    expect(index(/event {2}wsl-ubuntu: unregistered/)).toBeGreaterThan(index(/^step 5\/5/))
    // A scripted run is short: the issue asks for under a minute.
    expect(elapsed).toBeLessThan(60_000)
  }, 100_000)
})
