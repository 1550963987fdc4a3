/**
 * The Promise facade from plain TypeScript: this file imports nothing from `effect` (checked by
 * the last test). Real processes (`test/fixtures/daemon.mjs`, a backend on the `child` helper),
 * real HTTP to the URL they report, and `/proc`-free liveness checks with `process.kill(pid, 0)`.
 */
import { type BackendSpecInput, createPool, type Pool, type PoolEvent } from "@isthmus/backend-pool/promise"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"

const daemon = fileURLToPath(new URL("./fixtures/daemon.mjs", import.meta.url))

const spec = (id: string, extra: Partial<BackendSpecInput> = {}): BackendSpecInput => ({
  id,
  launcher: { _tag: "Local", command: process.execPath, args: [daemon] },
  secrets: { API_KEY: "key-that-must-not-leak" },
  bootstrap: { delivery: "stdin", envelope: { token: "t", greeting: `hello from ${id}` } },
  readiness: { check: { _tag: "Signal" } },
  restart: { mode: "always", backoff: { initialMs: 50, maxMs: 200 } },
  stop: { graceMs: 2_000 },
  ...extra
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Reads `iterator` until `predicate` holds, returning every event read. */
const readUntil = async (iterator: AsyncIterator<PoolEvent>, predicate: (e: PoolEvent) => boolean) => {
  const seen: Array<PoolEvent> = []
  while (true) {
    const next = await iterator.next()
    if (next.done) throw new Error(`events ended before the awaited one; saw ${JSON.stringify(seen)}`)
    seen.push(next.value)
    if (predicate(next.value)) return seen
  }
}

const describeEvent = (e: PoolEvent) => e._tag === "Transition" ? `${e.id} ${e.from}>${e.to}` : `${e.id} ${e._tag}`

const pools: Array<Pool> = []
afterEach(async () => {
  for (const pool of pools.splice(0)) await pool.close()
})
const newPool = async () => {
  const pool = await createPool()
  pools.push(pool)
  return pool
}

// Real processes on a shared 2-core machine: a start that takes 0.3 s when quiet took 10 s under a
// load of 20, so each test gets two minutes (no assertion depends on time).
describe("createPool (Promise facade)", { timeout: 120_000 }, () => {
  it("reconciles to a real backend, which is ready at the URL it reported, with no event missed", async () => {
    const pool = await newPool()
    const events = pool.events() // before anything happens: the first event must be there
    const plan = await pool.reconcile([spec("api")])
    expect(plan).toEqual({ started: ["api"], replaced: [], updated: [], kept: [], stopped: [] })
    const ready = await pool.awaitReady("api")
    expect(ready.phase).toBe("Ready")
    expect(await (await fetch(ready.url!)).text()).toBe("hello from api")
    const seen = await readUntil(events, (e) => e._tag === "Transition" && e.to === "Ready")
    expect(seen.map(describeEvent)).toEqual(["api Registered", "api Idle>Starting", "api Starting>Ready"])
    await events.return?.()
    const lines = (await pool.logs("api")).map((l) => `${l.source}: ${l.text}`)
    expect(lines).toContain("stdout: bootstrap: received greeting=hello from api")
    expect(lines).toContain("stdout: secret present: true")
    expect(JSON.stringify(lines)).not.toContain("key-that-must-not-leak")
  })

  it("a killed backend is restarted, seen by an `on` listener and in status", async () => {
    const pool = await newPool()
    const transitions: Array<string> = []
    const off = pool.on("Transition", (e) => transitions.push(`${e.from}>${e.to}`))
    const events = pool.events()
    await pool.register(spec("api"))
    await pool.start("api")
    const first = await pool.awaitReady("api")
    process.kill(first.pid!, "SIGKILL")
    await readUntil(events, (e) => e._tag === "Transition" && e.to === "Ready" && e.runId === 2)
    const [snapshot] = await pool.status()
    expect(snapshot).toMatchObject({ id: "api", phase: "Ready", runId: 2, restartCount: 1 })
    expect(snapshot!.lastExit).toMatchObject({ runId: 1, signal: "SIGKILL", reason: "Crashed" })
    expect(transitions).toEqual([
      "Idle>Starting",
      "Starting>Ready",
      "Ready>Backoff",
      "Backoff>Starting",
      "Starting>Ready"
    ])
    off()
    await pool.restart("api")
    await pool.awaitReady("api")
    expect(transitions).toHaveLength(5) // removed: it saw none of the restart's transitions
  })

  it("typed errors keep their _tag and say what to fix", async () => {
    const pool = await newPool()
    await pool.register(spec("api"))
    await expect(pool.register(spec("api"))).rejects.toMatchObject({ _tag: "DuplicateBackendError", id: "api" })
    await expect(pool.get("nope")).rejects.toMatchObject({ _tag: "UnknownBackendError", id: "nope" })
    await expect(pool.unregister("nope")).rejects.toMatchObject({ _tag: "UnknownBackendError" })
    const invalid = await pool.reconcile([{ ...spec("bad"), stop: { graceMs: -1 } }]).catch((e: unknown) => e)
    expect(invalid).toBeInstanceOf(Error)
    expect(invalid).toMatchObject({ _tag: "InvalidDesiredStateError" })
    expect((invalid as Error).message).toContain(`the spec for "bad" is invalid`)
    expect((invalid as Error).message).toContain("graceMs")
    const notArray = await pool.reconcile({ id: "x" } as never).catch((e: unknown) => e)
    expect(notArray).toMatchObject({ _tag: "InvalidDesiredStateError" })
    // Nothing was applied by the refused reconciles.
    expect((await pool.status()).map((s) => s.id)).toEqual(["api"])
  })

  it("followLogs gives the recent lines then live ones; an unknown id rejects on the first read", async () => {
    const pool = await newPool()
    await pool.reconcile([
      spec("api", { launcher: { _tag: "Local", command: process.execPath, args: [daemon, "--print", "3"] } })
    ])
    await pool.awaitReady("api")
    const follow = pool.followLogs("api")
    const texts: Array<string> = []
    while (!texts.includes("line 2")) texts.push((await follow.next()).value!.text)
    expect(texts).toEqual(expect.arrayContaining(["line 0", "line 1", "line 2"]))
    await follow.return?.()
    await expect(pool.followLogs("nope").next()).rejects.toMatchObject({ _tag: "UnknownBackendError" })
  })

  it("close stops every process, ends event iterators, and later calls reject with PoolClosedError", async () => {
    const pool = await createPool()
    await pool.reconcile([spec("a"), spec("b")])
    const pids = [(await pool.awaitReady("a")).pid!, (await pool.awaitReady("b")).pid!]
    const events = pool.events()
    await pool.close()
    expect(pids.filter(alive)).toEqual([])
    expect(await events.next()).toEqual({ done: true, value: undefined })
    await expect(pool.status()).rejects.toMatchObject({ _tag: "PoolClosedError" })
    await pool.close() // idempotent
  })

  it("unregister stops the process group and reports how", async () => {
    const pool = await newPool()
    await pool.reconcile([spec("api")])
    const { pid } = await pool.awaitReady("api")
    const outcome = await pool.unregister("api")
    expect(outcome.method).toBe("graceful")
    expect(alive(pid!)).toBe(false)
    expect(await pool.status()).toEqual([])
  })

  it.skipIf(process.platform !== "linux")(
    "usage(): the group's processes and RSS as ps counts them, CPU, log counts",
    async () => {
      const pool = await newPool()
      await pool.reconcile([spec("api")])
      const { pid } = await pool.awaitReady("api")
      // ps (procps) reads the process table on its own: the oracle for members and RSS.
      const rows = execFileSync("ps", ["-o", "stat=,rss=", "-g", String(pid)], { encoding: "utf8" })
        .trim().split("\n").map((l) => l.trim().split(/\s+/)).filter((r) => !r[0]!.startsWith("Z"))
      const psRss = rows.reduce((n, r) => n + Number(r[1]) * 1024, 0)
      const linesBefore = (await pool.logs("api")).length
      const [first] = await pool.usage()
      const linesAfter = (await pool.logs("api")).length
      expect(first!.id).toBe("api")
      expect(first!.processes).toBe(rows.length)
      expect(first!.rssBytes).toBeGreaterThan(psRss * 0.9)
      expect(first!.rssBytes).toBeLessThan(psRss * 1.1)
      expect(first!.cpuPercent).toBe(undefined) // nothing to compare with yet
      expect(first!.log.droppedLiveLines).toBe(0)
      // Lines only come in: the count is between the ring's lengths read before and after.
      expect(first!.log.lines).toBeGreaterThanOrEqual(linesBefore)
      expect(first!.log.lines).toBeLessThanOrEqual(linesAfter)
      const [second] = await pool.usage()
      expect(second!.cpuPercent).toBeGreaterThanOrEqual(0)
      expect(second!.cpuSeconds).toBeGreaterThanOrEqual(first!.cpuSeconds!)
      await pool.stop("api")
      const [stopped] = await pool.usage()
      expect(stopped!.processes).toBe(undefined)
    }
  )

  it("this file uses the facade without importing effect", () => {
    const source = readFileSync(new URL(import.meta.url), "utf8")
    expect(source).not.toMatch(/from\s+["'](effect|@effect\/)/)
  })
})
