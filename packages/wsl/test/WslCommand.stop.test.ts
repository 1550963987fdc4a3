// The in-distro stop and the pgid report, checked against real shells and real process groups
// (the kernel is the oracle), not against a model.
import { assert, describe, it } from "@effect/vitest"
import { WslCommand } from "@isthmus/wsl"
import { execFileSync, spawn } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const alive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * A process group led by `sh -c script` in its own session, like a command wsl.exe launches, and
 * orphaned at once so init reaps it (a zombie still counts as a member of its group).
 */
const group = (script: string): number =>
  Number(
    execFileSync("sh", ["-c", "setsid sh -c \"$1\" </dev/null >/dev/null 2>&1 & echo $!", "sh", script], {
      encoding: "utf8"
    }).trim()
  )

/** Waits for a group to be gone: polls /proc-backed kill(0) every 50 ms, at most 10 s (generous: init reaps). */
const gone = async (pgid: number): Promise<boolean> => {
  for (let i = 0; i < 200; i++) {
    if (!alive(pgid)) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

/** Waits for `file` to exist (the group's own signal), polling every 20 ms, at most 30 s (generous: a loaded machine). */
const appeared = async (file: string): Promise<boolean> => {
  for (let i = 0; i < 1500; i++) {
    if (existsSync(file)) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return false
}

const shells = ["dash", "bash"].filter((s) => existsSync(`/bin/${s}`) || existsSync(`/usr/bin/${s}`))

describe("WslCommand.stopGroupScript on real shells and process groups", () => {
  for (const shell of shells) {
    it(`${shell}: TERM ends a cooperative group (exit ${WslCommand.stopExit.graceful})`, () => {
      const pgid = group("sleep 60 & sleep 60; wait")
      const status = runStop(shell, pgid, 5_000)
      assert.strictEqual(status, WslCommand.stopExit.graceful)
    })
    it(`${shell}: a group that ignores TERM is killed after the grace (exit ${WslCommand.stopExit.forced})`, async () => {
      // Stop it only once its trap is set (it says so with a file): on a loaded machine a TERM
      // sent earlier ends the shell before it can ignore anything, a graceful stop.
      const ready = join(mkdtempSync(join(tmpdir(), "stop-test-")), "ready")
      const pgid = group(`trap '' TERM HUP; : > '${ready}'; sleep 60 & sleep 60; wait`)
      assert.isTrue(await appeared(ready), "the group set its trap")
      const status = runStop(shell, pgid, 300)
      // The killed members are zombies until init reaps them; on a loaded machine that can take
      // longer than the script's one second, which it then reports honestly (`survived`).
      assert.include([WslCommand.stopExit.forced, WslCommand.stopExit.survived], status)
      assert.isTrue(await gone(pgid), `group ${pgid} still has members 10 s after SIGKILL`)
    })
    it(`${shell}: a group that is already gone (exit ${WslCommand.stopExit.gone})`, () => {
      assert.strictEqual(runStop(shell, 999_999, 100), WslCommand.stopExit.gone)
    })
  }
  it("refuses a pgid that would signal everything (0, 1, negative)", () => {
    for (const pgid of [0, 1, -5, 1.5]) assert.throws(() => WslCommand.stopGroupScript(pgid, 100))
  })
})

const runStop = (shell: string, pgid: number, graceMillis: number): number => {
  try {
    execFileSync(shell, ["-c", WslCommand.stopGroupScript(pgid, graceMillis), "sh"], { stdio: "ignore" })
    return 0
  } catch (error) {
    return (error as { status: number }).status
  }
}

describe("WslCommand.reportGroup", () => {
  for (const shell of shells) {
    it(`${shell}: the wrapper prints its pid = pgid, then execs the argv word for word`, () => {
      const argv = WslCommand.reportGroup(["printf", "%s|", "a b", "$HOME", "'q'", ""], "00ff00ff00ff00ff")
      const child = spawn(shell, argv.slice(1), { detached: true })
      const out: Array<Buffer> = []
      const err: Array<Buffer> = []
      child.stdout.on("data", (c: Buffer) => out.push(c))
      child.stderr.on("data", (c: Buffer) => err.push(c))
      return new Promise<void>((resolve) =>
        child.on("close", () => {
          assert.strictEqual(Buffer.concat(out).toString(), "a b|$HOME|'q'||")
          assert.strictEqual(Buffer.concat(err).toString(), `@@isthmus-pgid:00ff00ff00ff00ff ${child.pid}\n`)
          resolve()
        })
      )
    })
  }
  it("unwrapReportGroup gives back the argv and token, and nothing for other command lines", () => {
    const argv = ["node", "-e", "x"]
    assert.deepStrictEqual(WslCommand.unwrapReportGroup(WslCommand.reportGroup(argv, "abcdef0123456789")), {
      token: "abcdef0123456789",
      argv
    })
    assert.isUndefined(WslCommand.unwrapReportGroup(["sh", "-c", "echo hi", "sh", "x"]))
    assert.isUndefined(WslCommand.unwrapReportGroup(argv))
  })
})
