/**
 * The `child` helper's side of a stop, against real processes: a backend that leads its own group
 * stops it when the host goes away (SIGTERM, the grace, then SIGKILL for what ignored SIGTERM),
 * and the stop message on stdin is a graceful stop (Windows has no signals).
 */
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Protocol } from "@isthmus/backend-pool"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fixture } from "./helpers.ts"

/** Live (non-zombie) members of group `pgid`, from `/proc` (the oracle). */
const members = (pgid: number): Array<number> =>
  NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return Number(fields[2]) === pgid && fields[0] !== "Z"
    } catch {
      return false
    }
  })

const waitFor = async (predicate: () => boolean, ms: number): Promise<boolean> => {
  const start = performance.now()
  while (!predicate()) {
    if (performance.now() - start > ms) return false
    await new Promise((r) => setTimeout(r, 20))
  }
  return true
}

/** How `child` exited. */
const exitOf = (child: NodeChild.ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal }))
  )

/** Groups started by these tests: SIGKILLed after each test, so a failing one leaves nothing behind. */
const started: Array<number> = []
afterEach(() => {
  for (const pgid of started.splice(0)) {
    try {
      process.kill(-pgid, "SIGKILL")
    } catch {
      // already gone
    }
  }
})

/** Starts `helper-tree.mjs` as the leader of its own group, as a backend started by hand would be. */
const start = async (env: Record<string, string>) => {
  const marker = NodePath.join(NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-child-")), "reason")
  const child = NodeChild.spawn(process.execPath, [fixture("helper-tree.mjs"), marker], {
    detached: true,
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, [Protocol.ENV_LIFETIME_FD]: "0", [Protocol.ENV_STOP_GRACE_MS]: "300", ...env }
  })
  started.push(child.pid!)
  const pids = await new Promise<{ coop: number; stubborn: number }>((resolve) => {
    let text = ""
    child.stdout.on("data", (c: Buffer) => {
      text += c.toString()
      if (text.includes("\n")) resolve(JSON.parse(text.slice(0, text.indexOf("\n"))))
    })
  })
  const pgid = child.pid!
  // The leader, the cooperative shell and its sleep, the stubborn shell (exec'd into sleep).
  expect(await waitFor(() => members(pgid).length === 4, 10_000)).toBe(true)
  /** What the cooperative shell's SIGTERM trap wrote ("" when SIGTERM never reached it). */
  const termed = () => NodeFs.existsSync(`${marker}.term`) ? NodeFs.readFileSync(`${marker}.term`, "utf8").trim() : ""
  return { child, pgid, marker, pids, termed }
}

describe("the child helper when the host goes away", () => {
  it("stops its own group: SIGTERM, then SIGKILL after the grace for a child that ignores SIGTERM", async () => {
    const { child, pgid, marker, termed } = await start({})
    const exit = exitOf(child)
    const closedAt = performance.now()
    child.stdin.end()
    // The TERM-ignoring `sleep` dies only by SIGKILL; quiet machine: grace (300 ms) + ~50 ms.
    expect(await waitFor(() => members(pgid).length === 0, 20_000)).toBe(true)
    expect(performance.now() - closedAt).toBeGreaterThanOrEqual(250)
    expect(NodeFs.readFileSync(marker, "utf8")).toBe("eof")
    // The group got SIGTERM first (not only the SIGKILL after the grace): the cooperative shell's trap ran.
    expect(termed()).toBe("term")
    expect(await exit).toEqual({ code: 0, signal: null }) // the default exit code, not a signal
  })

  it("a stopped member gets SIGCONT with the SIGTERM, so it can still exit gracefully", async () => {
    const { child, pgid, pids, termed } = await start({})
    process.kill(pids.coop, "SIGSTOP")
    child.stdin.end()
    expect(await waitFor(() => members(pgid).length === 0, 20_000)).toBe(true)
    // Without SIGCONT the stopped shell would only die by the SIGKILL after the grace, trap unrun.
    expect(termed()).toBe("term")
  })

  it("takes the stop message on stdin as a stop, without waiting for EOF; exits with the exitCode option", async () => {
    const { child, pgid, marker } = await start({ HELPER_EXIT_CODE: "7" })
    const exit = exitOf(child)
    child.stdin.write(`${Protocol.STOP_MESSAGE}\n`)
    expect(await waitFor(() => members(pgid).length === 0, 20_000)).toBe(true)
    expect(NodeFs.readFileSync(marker, "utf8")).toBe("stop")
    expect(await exit).toEqual({ code: 7, signal: null })
    child.stdin.end()
  })

  it("exits as soon as its group has, not after the grace; a graceful exit is not cut short", async () => {
    // Grace 10 min: the members all exit on SIGTERM (one takes 0.5 s to), so the helper exits
    // once they are gone; waiting for the grace, or SIGKILLing early, would fail this test.
    const { child, pgid, termed } = await start({ HELPER_COOPERATIVE: "1", [Protocol.ENV_STOP_GRACE_MS]: "600000" })
    const exit = exitOf(child)
    child.stdin.end()
    expect(await exit).toEqual({ code: 0, signal: null })
    expect(members(pgid)).toEqual([])
    expect(termed()).toBe("term")
  })

  it("without options: EOF stops the group with the defaults and exits 0", async () => {
    const { child, pgid, termed } = await start({ HELPER_NO_HOOK: "1" })
    const exit = exitOf(child)
    child.stdin.end()
    expect(await exit).toEqual({ code: 0, signal: null })
    expect(await waitFor(() => members(pgid).length === 0, 20_000)).toBe(true)
    expect(termed()).toBe("term")
  })

  it("without a shutdown hook, SIGTERM ends the backend as usual, its group untouched", async () => {
    // The pool's stop signals the whole group itself; the helper takes SIGTERM over only for a hook.
    const { child, pgid } = await start({ HELPER_NO_HOOK: "1" })
    const exit = exitOf(child)
    process.kill(pgid, "SIGTERM") // the leader only
    expect(await exit).toEqual({ code: null, signal: "SIGTERM" })
    // The leader is gone; its three children got no signal from it (checked once it had exited).
    expect(members(pgid).length).toBe(3)
    child.stdin.end()
  })

  it("with a shutdown hook, SIGTERM runs it too, stops the group and ends by SIGTERM", async () => {
    const { child, pgid, marker } = await start({})
    const exit = new Promise<NodeJS.Signals | null>((r) => child.once("exit", (_code, signal) => r(signal)))
    process.kill(pgid, "SIGTERM") // the leader only: it stops the rest of its group itself
    expect(await waitFor(() => members(pgid).length === 0, 20_000)).toBe(true)
    expect(NodeFs.readFileSync(marker, "utf8")).toBe("signal")
    expect(await exit).toBe("SIGTERM")
    child.stdin.end()
  })

  it("does not take a bootstrap line on stdin for the stop message; a later line is", async () => {
    const { child, pgid, marker } = await start({ [Protocol.ENV_BOOTSTRAP_FD]: "0" })
    child.stdin.write(`${Protocol.STOP_MESSAGE}\n`)
    child.stdin.write("x".repeat(100_000) + "\n") // a long line is skipped without being kept
    await new Promise((r) => setTimeout(r, 300))
    expect(members(pgid).length).toBe(4)
    child.stdin.write(`${Protocol.STOP_MESSAGE}\r\n`)
    expect(await waitFor(() => members(pgid).length === 0, 20_000)).toBe(true)
    expect(NodeFs.readFileSync(marker, "utf8")).toBe("stop")
  })
})
