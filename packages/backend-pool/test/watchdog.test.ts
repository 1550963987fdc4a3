/**
 * The watchdog against real processes, with every POSIX shell the machine has (dash and bash
 * here), and its output decoder against the byte layout it must remove (any chunking).
 */
import { describe, expect, it } from "@effect/vitest"
import { Watchdog } from "@isthmus/backend-pool"
import * as fc from "fast-check"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fixture } from "./helpers.ts"

const shells = ["/bin/sh", "/usr/bin/dash", "/bin/dash", "/usr/bin/bash", "/bin/bash"]
  .filter((p) => NodeFs.existsSync(p))
  .map((p) => NodeFs.realpathSync(p))
  .filter((p, i, all) => all.indexOf(p) === i)

/** A process's state and group from `/proc` (the oracle: independent of the pool's code). */
const stat = (pid: number): { state: string; pgrp: number } | undefined => {
  try {
    const text = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0]!, pgrp: Number(fields[2]) }
  } catch {
    return undefined
  }
}

/** Live (non-zombie) members of group `pgid`. */
const members = (pgid: number): Array<number> =>
  NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    const s = stat(pid)
    return s !== undefined && s.pgrp === pgid && s.state !== "Z"
  })

/** Polls (process deaths have no event to wait on) until `predicate` holds or `ms` passed. */
const waitFor = async (predicate: () => boolean, ms: number): Promise<boolean> => {
  const start = performance.now()
  while (!predicate()) {
    if (performance.now() - start > ms) return false
    await new Promise((r) => setTimeout(r, 20))
  }
  return true
}

interface Run {
  readonly child: NodeChild.ChildProcess
  readonly decoder: Watchdog.OutputDecoder
  /** The backend's stdout so far (after decoding). */
  readonly out: () => string
  readonly err: () => string
  readonly pgid: Promise<number | null>
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const run = (
  shell: string,
  options: Watchdog.WatchdogOptions,
  command: string,
  args: ReadonlyArray<string>,
  spawnOptions: NodeChild.SpawnOptions = {}
): Run => {
  const child = NodeChild.spawn(shell, [...Watchdog.shellArgs(options, command, args)], {
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
    ...spawnOptions
  })
  const header: { resolve?: (pgid: number | null) => void } = {}
  const pgid = new Promise<number | null>((r) => (header.resolve = r))
  const decoder = new Watchdog.OutputDecoder({ reportExit: options.reportExit, onHeader: (p) => header.resolve?.(p) })
  const chunks: Array<Uint8Array> = []
  let err = ""
  child.stdout!.on("data", (c: Buffer) => chunks.push(decoder.push(new Uint8Array(c))))
  child.stdout!.on("end", () => chunks.push(decoder.end()))
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()))
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal }))
  )
  return {
    child,
    decoder,
    out: () => Buffer.concat(chunks).toString(),
    err: () => err,
    pgid,
    exit
  }
}

/** A directory holding only `sh` (as `shell`) and `tools`, for a PATH without setsid and perl. */
const toolsOnly = (tools: ReadonlyArray<string>, shell: string): string => {
  const bin = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "isthmus-wd-bin-"))
  for (const tool of tools) {
    const path = NodeChild.execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim()
    NodeFs.symlinkSync(path, NodePath.join(bin, tool))
  }
  NodeFs.symlinkSync(shell, NodePath.join(bin, "sh"))
  return bin
}

const lines = (text: string) => text.split("\n").filter((l) => l.length > 0)

describe.each(shells)("the watchdog under %s", (shell) => {
  it("reports the group first, relays stdin whole, passes stdout through and ends with the backend's status", async () => {
    // (EOF on stdin also stops the group at once, so the backend is done before stdin closes.)
    const r = run(shell, { graceMs: 1_000, reportExit: true }, "sh", [
      "-c",
      "read l; echo \"first: $l\"; read m; echo \"$m\"; echo \"pg: $(ps -o pgid= -p $$ | tr -d ' ')\"; exit 3"
    ])
    r.child.stdin!.write("bootstrap line\n")
    r.child.stdin!.write("rest of the stream\n")
    const pgid = await r.pgid
    expect(pgid).toBe(r.child.pid)
    expect(await r.exit).toEqual({ code: 3, signal: null })
    expect(lines(r.out())).toEqual(["first: bootstrap line", "rest of the stream", `pg: ${pgid}`])
    expect(r.decoder.exitStatus).toBe(3)
    r.child.stdin!.end()
  })

  it("starts the backend with SIGINT and SIGQUIT at their defaults (an async list would ignore them)", async () => {
    const r = run(shell, { graceMs: 1_000 }, "sh", ["-c", "grep SigIgn /proc/$$/status; read l"])
    await r.pgid
    expect(await waitFor(() => r.out().includes("SigIgn"), 10_000)).toBe(true)
    const ignored = BigInt("0x" + r.out().trim().split(/\s+/)[1])
    expect(ignored & 0b110n).toBe(0n) // bit 1: SIGINT, bit 2: SIGQUIT
    r.child.stdin!.end()
    await r.exit
  })

  it("on EOF of its stdin, sends the signal to the whole group; a cooperative backend exits gracefully", async () => {
    const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "isthmus-wd-"))
    const marker = NodePath.join(dir, "got")
    const r = run(shell, { graceMs: 20_000, signal: "SIGINT" }, "sh", [
      "-c",
      `trap 'echo INT > ${marker}; exit 0' INT; echo up; while :; do sleep 0.05; done`
    ])
    const pgid = (await r.pgid)!
    expect(await waitFor(() => r.out().includes("up"), 10_000)).toBe(true)
    const start = performance.now()
    r.child.stdin!.end()
    // The grace is 20 s: an empty group long before that means the graceful signal did it.
    expect(await waitFor(() => members(pgid).length === 0, 10_000)).toBe(true)
    expect(performance.now() - start).toBeLessThan(15_000)
    expect(NodeFs.readFileSync(marker, "utf8").trim()).toBe("INT")
  })

  it("kills a group that ignores the signal after the grace (grandchildren included)", async () => {
    const r = run(shell, { graceMs: 500 }, "sh", [
      "-c",
      "trap '' TERM; sleep 1001 & sh -c \"trap '' TERM; echo up; exec sleep 1002\" & wait"
    ])
    const pgid = (await r.pgid)!
    expect(await waitFor(() => r.out().includes("up") && members(pgid).length >= 4, 10_000)).toBe(true)
    const start = performance.now()
    r.child.stdin!.end()
    expect(await waitFor(() => members(pgid).length === 0, 20_000)).toBe(true)
    // Not before the grace: the TERM was ignored.
    expect(performance.now() - start).toBeGreaterThanOrEqual(450)
    expect((await r.exit).signal).toBe("SIGKILL")
  })

  it("survives a TERM sent to its group and exits with the backend's own status", async () => {
    const r = run(shell, { graceMs: 1_000 }, "sh", ["-c", "trap 'exit 7' TERM; echo up; while :; do sleep 0.05; done"])
    const pgid = (await r.pgid)!
    expect(await waitFor(() => r.out().includes("up"), 10_000)).toBe(true)
    process.kill(-pgid, "SIGTERM")
    expect(await r.exit).toEqual({ code: 7, signal: null })
    r.child.stdin!.end()
  })

  it("exits 128 + N when a signal ends the backend, which decodeExit reads as that signal", async () => {
    const r = run(shell, { graceMs: 1_000, reportExit: true }, "sh", ["-c", "kill -USR1 $$"])
    const exit = await r.exit
    expect(exit.code).toBe(128 + NodeOs.constants.signals.SIGUSR1)
    expect(Watchdog.decodeExit(exit.code!)).toEqual({ code: null, signal: "SIGUSR1" })
    expect(r.decoder.exitStatus).toBe(exit.code)
    r.child.stdin!.end()
  })

  it("makes itself the leader of a new group (same pid) when it was not started as one", async () => {
    const r = run(shell, { graceMs: 1_000 }, "sh", ["-c", "echo up; read l; exit 4"], { detached: false })
    expect(await r.pgid).toBe(r.child.pid)
    expect(await waitFor(() => r.out().includes("up"), 10_000)).toBe(true)
    expect(stat(r.child.pid!)?.pgrp).toBe(r.child.pid)
    r.child.stdin!.write("go\n")
    expect((await r.exit).code).toBe(4)
    r.child.stdin!.end()
  })

  it("without setsid and perl, refuses to run outside its own group, and says how to start it", async () => {
    const bin = toolsOnly(["cat", "sleep"], shell)
    const r = run(shell, { graceMs: 1_000 }, "sleep", ["1000"], { detached: false, env: { PATH: bin } })
    expect((await r.exit).code).toBe(125)
    expect(r.err()).toContain("must lead its process group")
    expect(await r.pgid).toBe(null)
  })

  it("refuses a grace that is not whole milliseconds and a signal it does not know", async () => {
    const bad = NodeChild.spawnSync(shell, ["-c", Watchdog.script, "isthmus-watchdog", "-g", "1.5", "--", "true"], {
      encoding: "utf8"
    })
    expect(bad.status).toBe(125)
    expect(bad.stderr).toContain("-g takes whole milliseconds, got '1.5'")
    const sig = NodeChild.spawnSync(shell, ["-c", Watchdog.script, "isthmus-watchdog", "-s", "STOP", "--", "true"], {
      encoding: "utf8"
    })
    expect(sig.stderr).toContain("-s takes TERM")
    const none = NodeChild.spawnSync(shell, ["-c", Watchdog.script, "isthmus-watchdog", "--"], { encoding: "utf8" })
    expect(none.stderr).toContain("no command to run")
  })

  it("without setsid and perl, still stops the group (it waits the whole grace)", async () => {
    // A PATH with only what the script needs besides the group exit: sh, cat, sleep.
    const bin = toolsOnly(["cat", "sleep"], shell)
    const r = run(shell, { graceMs: 300 }, "sleep", ["1000"], { env: { PATH: bin } })
    const pgid = (await r.pgid)!
    expect(await waitFor(() => members(pgid).length >= 2, 10_000)).toBe(true)
    r.child.stdin!.end()
    expect(await waitFor(() => members(pgid).length === 0, 20_000)).toBe(true)
  })

  it("a host killed with SIGKILL leaves no process of 5 backends (TERM-ignoring grandchildren) after the grace", async () => {
    const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "isthmus-wd-host-"))
    const scriptFile = NodePath.join(dir, "watchdog.sh")
    NodeFs.writeFileSync(scriptFile, Watchdog.script)
    const graceMs = 500
    const host = NodeChild.spawn(process.execPath, [
      fixture("watchdog-host.mjs"),
      shell,
      String(graceMs),
      "5",
      scriptFile
    ], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    const groups = await new Promise<Array<number>>((resolve) => {
      let text = ""
      host.stdout.on("data", (c) => {
        text += c
        if (text.includes("\n")) resolve(JSON.parse(text).groups)
      })
    })
    const before = groups.flatMap(members)
    expect(before.length).toBeGreaterThanOrEqual(5 * 4)
    const start = performance.now()
    host.kill("SIGKILL")
    // Generous bound for a loaded machine (quiet: grace + ~0.2 s); the figure is in the README.
    expect(await waitFor(() => groups.flatMap(members).length === 0, graceMs + 20_000)).toBe(true)
    const took = performance.now() - start
    expect(took).toBeGreaterThanOrEqual(graceMs - 50)
    console.log(
      `watchdog (${shell}): 5 backends, ${before.length} processes, 0 left ${
        Math.round(took)
      } ms after host SIGKILL (grace ${graceMs} ms)`
    )
  })
})

/** Runs the stop loop without blocking this process (its children must be reaped meanwhile). */
const stopLoop = (pgid: number, graceMs: number) =>
  new Promise<string>((resolve) => {
    const child = NodeChild.spawn("sh", [...Watchdog.stopArgs(pgid, graceMs)], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (c) => (out += c))
    child.on("close", () => resolve(out.trim()))
  })

describe("the stop loop", () => {
  it("reports exited, graceful or forced, and a line the parser reads", async () => {
    expect(Watchdog.parseStopLine(await stopLoop(999_999_999, 100))).toEqual({ method: "exited", survivors: [] })
    const polite = NodeChild.spawn("sleep", ["1000"], { detached: true, stdio: "ignore" })
    expect(Watchdog.parseStopLine(await stopLoop(polite.pid!, 20_000))).toEqual({ method: "graceful", survivors: [] })
    const stubborn = NodeChild.spawn("sh", ["-c", "trap '' TERM; sleep 1000"], { detached: true, stdio: "ignore" })
    await waitFor(() => members(stubborn.pid!).length === 2, 10_000)
    expect(Watchdog.parseStopLine(await stopLoop(stubborn.pid!, 200))).toEqual({ method: "forced", survivors: [] })
    expect(members(stubborn.pid!)).toEqual([])
  })

  it("counts a group of zombies as empty (an init that does not reap)", async () => {
    // The orphaned `sleep` is reparented to pid 1; whether or not pid 1 reaps it, the loop is done.
    const leader = NodeChild.spawn("sh", ["-c", "sleep 1000 & exit 0"], { detached: true, stdio: "ignore" })
    await new Promise((r) => leader.on("exit", r))
    expect(members(leader.pid!).length).toBe(1)
    expect(Watchdog.parseStopLine(await stopLoop(leader.pid!, 20_000))).toEqual({ method: "graceful", survivors: [] })
  })

  it("parses survivors, and nothing else", () => {
    expect(Watchdog.parseStopLine("@@stop survivors 12 345")).toEqual({ method: "forced", survivors: [12, 345] })
    expect(Watchdog.parseStopLine("@@stop survivors")).toEqual({ method: "forced", survivors: [] })
    expect(Watchdog.parseStopLine("@@stop gracefully")).toBe(undefined)
    expect(Watchdog.parseStopLine("stop graceful")).toBe(undefined)
  })

  it("fits in one single-quoted shell word (the watchdog embeds it so)", () => {
    expect(Watchdog.stopScript.includes("'")).toBe(false)
  })
})

const enc = new TextEncoder()
const decodeChunks = (chunks: ReadonlyArray<Uint8Array>, reportExit: boolean) => {
  const d = new Watchdog.OutputDecoder({ reportExit })
  const out = [...chunks.map((c) => d.push(c)), d.end()]
  return { text: Buffer.concat(out).toString(), pgid: d.pgid, exit: d.exitStatus }
}
/** Splits `bytes` at the given cut points. */
const split = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].toSorted((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let last = 0
  for (const p of points) {
    out.push(bytes.subarray(last, p))
    last = p
  }
  out.push(bytes.subarray(last))
  return out
}

describe("the output decoder", () => {
  const body = fc.array(
    fc.oneof(
      fc.string({ unit: fc.constantFrom("a", "@", "e", "x", "i", "t", " ", "1", "\r", "é") }),
      fc.constantFrom("@@exit", "@@exit ", "@@exit x", "@@exi", "@@pgid 4", "@@exit 12 ")
    ),
    { maxLength: 8 }
  ).map((ls) => ls.map((l) => l + "\n").join(""))

  it("removes the header and any `@@exit N` line, whatever the chunking (property)", () => {
    fc.assert(
      fc.property(
        body,
        body,
        fc.integer({ min: 0, max: 255 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (a, b, status, cuts) => {
          const bytes = enc.encode(`@@pgid 4242\n${a}@@exit ${status}\n${b}`)
          const got = decodeChunks(split(bytes, cuts), true)
          expect(got.pgid).toBe(4242)
          expect(got.exit).toBe(status)
          expect(got.text).toBe(a + b)
        }
      )
    )
  })

  it("passes every byte through after the header when it does not look for an exit line (property)", () => {
    fc.assert(
      fc.property(body, fc.array(fc.nat(), { maxLength: 12 }), (a, cuts) => {
        const bytes = enc.encode(`@@pgid 7\n${a}@@exit 3\n`)
        const got = decodeChunks(split(bytes, cuts), false)
        expect(got.text).toBe(`${a}@@exit 3\n`)
        expect(got.exit).toBe(undefined)
      })
    )
  })

  it("passes noise lines before the header (a login shell's), keeps a line without newline at the end", () => {
    expect(decodeChunks([enc.encode("motd\nbanner\n@@pgid 9\nhello\nno newline")], true)).toEqual({
      text: "motd\nbanner\nhello\nno newline",
      pgid: 9,
      exit: undefined
    })
    expect(decodeChunks([enc.encode("@@pgid 9\r\nx\n@@exit 5\r\n")], true)).toEqual({ text: "x\n", pgid: 9, exit: 5 })
  })

  it("gives up on the header after 64 KiB or at the end, and passes everything through", () => {
    const big = "x".repeat(70 * 1024) + "\n"
    const got = decodeChunks([enc.encode(big), enc.encode("@@pgid 3\n")], false)
    expect(got.pgid).toBe(null)
    expect(got.text).toBe(big + "@@pgid 3\n")
    expect(decodeChunks([enc.encode("@@pgid 3")], false)).toEqual({ text: "@@pgid 3", pgid: null, exit: undefined })
  })
})
