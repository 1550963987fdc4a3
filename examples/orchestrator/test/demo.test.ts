/**
 * The README's demo, run as a person runs it: a real process supervising real daemons (one of
 * them through fake-wsl), with its output asserted step by step.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

describe("orchestrator scripted demo", () => {
  it("starts, talks, recovers from a crash, follows a settings edit and shuts down cleanly", async () => {
    // About 10 s when quiet. The demo's own waits give up (and say which step) long before this.
    const { stdout } = await promisify(execFile)(process.execPath, [main], {
      timeout: 280_000,
      env: { ...process.env, CI: "true" }
    })
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
    // The SSH backend runs on a real sshd the demo starts (Debian's openssh-server, which the
    // set-up installs); without one it is left out and the demo says so.
    const ssh = /^ssh: an OpenSSH server started for the demo/m.test(stdout)
    expectInOrder(
      ...(ssh
        ? [
          /^ssh: an OpenSSH server started for the demo (in its own network namespace at [\d.]+:22|on 127\.0\.0\.1:\d+)/,
          /^ {2}\| Remote \(SSH\) \[ssh lab\] +Ready .* ssh:\S+@\S+ +tcp:\/\/127\.0\.0\.1:\d+$/,
          /^ {2}rpc {4}ssh-lab: daemon_info over TCP → pid \d+, mode native, node v[\d.]+, on ssh:/,
          /^ {2}notify ssh-lab: daemon_tick \{"name":"ssh-lab"/,
          /^ {2}event {2}ssh-lab: unregistered \(stop graceful/
        ]
        : [/^ssh: no SSH server could be started \(.*\), so the ssh backend is left out$/])
    )
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
      ssh
        ? /^ {2}now running: native \(run 1\), ssh-lab \(run 1\), wsl-ubuntu \(run 1\)$/
        : /^ {2}now running: native \(run 1\), wsl-ubuntu \(run 1\)$/,
      /^step 5\/5 shutdown/,
      ssh ? /^ {2}stopped 3 backends; processes left: 0$/ : /^ {2}stopped 2 backends; processes left: 0$/,
      /^done in [\d.]+s$/
    )
    // The settings edit replaced native and removed worker, and kept the WSL backend running.
    expect(stdout).toMatch(/event {2}worker: unregistered \(stop graceful/)
    expect(stdout).toMatch(/event {2}native: unregistered \(stop graceful/)
    expect(index(/event {2}wsl-ubuntu: unregistered/)).toBeGreaterThan(index(/^step 5\/5/))
    // How long it took is printed ("done in …"), not asserted: speed belongs in benchmarks, and a
    // wall-clock bound here failed on a loaded machine.
  }, 300_000)

  it(
    "a step that cannot happen is named, with where each backend was and what to look at, and no stack trace",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "orchestrator-demo-"))
      const settings = join(dir, "backends.json")
      writeFileSync(
        settings,
        JSON.stringify({
          backends: [
            { id: "native", label: "Native daemon", kind: "local" },
            { id: "wsl-nope", label: "A distro the host does not have", kind: "wsl", distro: "Nope" }
          ]
        })
      )
      const failed = await promisify(execFile)(process.execPath, [main, "--settings", settings], {
        timeout: 280_000,
        env: { ...process.env, CI: "true" }
      }).then(() => undefined, (error: { code: number; stdout: string; stderr: string }) => error)
      rmSync(dir, { recursive: true, force: true })
      expect(failed, "the run should fail").toBeDefined()
      expect(failed!.code).toBe(1)
      const stderr = failed!.stderr
      expect(stderr).toContain("orchestrator stopped: step 1/5 start: wsl-nope is Failed, so this will not happen:")
      expect(stderr).toMatch(
        /^ {4}wsl-nope: Failed, run 0, failure: PreflightFailed: .*no distribution with the supplied name/m
      )
      expect(stderr).toMatch(/^ {4}native: \w+, run \d+/m)
      expect(stderr).toMatch(/look at: each backend's log in \S+logs/)
      expect(stderr).not.toMatch(/^\s+at /m)
      // The step line was printed before it failed, and nothing after it ran.
      expect(failed!.stdout).toMatch(/^step 1\/5 start/m)
      expect(failed!.stdout).not.toMatch(/^step 2\/5/m)
    },
    300_000
  )
})
