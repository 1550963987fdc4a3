/**
 * No orphans after the host dies, for backends that do not use the child helper: the watchdog
 * ends each backend's group when the host is SIGKILLed, and a pool started later on the same
 * state directory ends what a crashed predecessor left when even the watchdog could not
 * (`Ledger`), never touching a reused pid. The figures are in the package README.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, Ledger, LocalLauncher } from "@isthmus/backend-pool"
import { Effect, Layer } from "effect"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fixture, REAP_TAG, reapTag, reapTagged } from "./helpers.ts"

/** `/proc/<pid>/stat` fields (the oracle of these tests). */
const stat = (pid: number): { state: string; pgrp: number; startTime: number } | undefined => {
  try {
    const text = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return { state: f[0]!, pgrp: Number(f[2]), startTime: Number(f[19]) }
  } catch {
    return undefined
  }
}
const pids = () => NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number)
const alive = (pid: number) => {
  const s = stat(pid)
  return s !== undefined && s.state !== "Z"
}
/** Live members of `groups`. */
const members = (groups: ReadonlyArray<number>) =>
  pids().filter((pid) => {
    const s = stat(pid)
    return s !== undefined && s.state !== "Z" && groups.includes(s.pgrp)
  })
/** Live processes whose command line contains `text`. */
const running = (text: string) =>
  pids().filter((pid) => {
    try {
      return alive(pid) && NodeFs.readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(text)
    } catch {
      return false
    }
  })

const pollUntil = (predicate: () => boolean, timeoutMs: number) =>
  Effect.gen(function*() {
    const start = performance.now()
    while (!predicate()) {
      if (performance.now() - start > timeoutMs) return false
      yield* Effect.sleep(10)
    }
    return true
  })

/**
 * Starts `pool-host.ts`; resolves with its process and the backends' groups once all are Ready.
 * Whatever the test does, the host and every process it started (they all inherit the reap tag:
 * backends, watchdogs, relays, grandchildren, escapees) are SIGKILLed when the test ends.
 */
const host = (mode: string, count: number, graceMs: number, ledgerDir?: string) => {
  const tag = reapTag()
  return Effect.acquireRelease(
    Effect.callback<{ child: NodeChild.ChildProcess; groups: Array<number> }>((resume) => {
      const child = NodeChild.spawn(
        process.execPath,
        [
          fixture("pool-host.ts"),
          mode,
          String(count),
          String(graceMs),
          ...(ledgerDir === undefined ? [] : [ledgerDir])
        ],
        { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, [REAP_TAG]: tag } }
      )
      let text = ""
      child.stdout.on("data", (c: Buffer) => {
        text += c.toString()
        const nl = text.indexOf("\n")
        if (nl !== -1) resume(Effect.succeed({ child, groups: JSON.parse(text.slice(0, nl)).groups }))
      })
      child.on("exit", (code) => resume(Effect.die(new Error(`pool-host.ts exited (${code}) before it was ready`))))
    }).pipe(Effect.timeout("90 seconds")), // six Node/shell starts; ~30 s at load 20 on 2 cores
    ({ child }) => Effect.sync(() => (child.kill("SIGKILL"), reapTagged(tag)))
  ).pipe(Effect.onError(() => Effect.sync(() => reapTagged(tag)))) // also when it never got ready
}

describe("host death, plain backends (no child helper)", () => {
  for (const [mode, graceMs] of [["plain", 1_000], ["stubborn", 1_000]] as const) {
    it.live(
      `host SIGKILL with 5 ${mode} backends and their grandchildren: 0 left after the grace`,
      () =>
        Effect.gen(function*() {
          const { child, groups } = yield* host(mode, 5, graceMs)
          const before = members(groups)
          // Per backend: the watchdog, the shell, two grandchildren (and the stubborn ones' shells).
          assert.isAtLeast(before.length, 5 * 4)
          const killedAt = performance.now()
          child.kill("SIGKILL")
          assert.isTrue(yield* pollUntil(() => members(groups).length === 0, 60_000))
          const took = Math.round(performance.now() - killedAt)
          if (mode === "stubborn") assert.isAtLeast(took, graceMs - 50) // TERM was ignored: KILL after the grace
          // Quiet machine: ~0.1 s (plain) / grace + ~0.2 s (stubborn); bounded generously for load.
          assert.isBelow(took, graceMs + 20_000)
          console.log(
            `host SIGKILL, 5 ${mode} backends (${before.length} processes): 0 left after ${took} ms (grace ${graceMs} ms)`
          )
        }),
      180_000
    )
  }
})

describe("the ledger: a later pool ends what a crashed one left", () => {
  it.live(
    "leftovers whose watchdog died too (and a setsid escapee) are ended by the next pool on the same state dir",
    () =>
      Effect.gen(function*() {
        const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-ledger-"))
        const { child, groups } = yield* host("escape", 3, 500, dir)
        const ledger = JSON.parse(NodeFs.readFileSync(NodePath.join(dir, "backend-pool.ledger.json"), "utf8"))
        assert.deepStrictEqual(ledger.entries.map((e: { pid: number }) => e.pid).toSorted(), groups.toSorted())
        const escapees = pids().filter((pid) => {
          try {
            return alive(pid) && NodeFs.readFileSync(`/proc/${pid}/cmdline`, "latin1") === "sleep\u00001003\u0000"
          } catch {
            return false
          }
        })
        assert.strictEqual(escapees.length, 3)
        // Take the watchdogs' relays down first (as an OOM killer or a `kill -9 -1` of the session
        // would): then nothing is left to end the groups when the host dies.
        for (const pg of groups) for (const pid of running(`isthmus-relay\0${pg}\0`)) process.kill(pid, "SIGKILL")
        child.kill("SIGKILL")
        yield* Effect.sleep(2_000)
        assert.isAtLeast(members(groups).length, 3 * 3) // left running: orphans
        const survivors = [...members(groups), ...escapees].filter(alive)
        const swept = yield* Effect.gen(function*() {
          return yield* Ledger.Ledger
        }).pipe(
          Effect.provide(
            BackendPool.layer.pipe(
              Layer.provide(LocalLauncher.layer),
              Layer.provideMerge(Ledger.layer({ dir })),
              Layer.provide(NodeServices.layer)
            )
          ),
          Effect.map((l) => l.swept)
        )
        assert.deepStrictEqual([...swept.groups].toSorted(), groups.toSorted())
        assert.isTrue(escapees.every((pid) => swept.processes.includes(pid)))
        assert.isTrue(yield* pollUntil(() => survivors.every((pid) => !alive(pid)), 20_000))
      }),
    180_000
  )

  it.live("a recorded pid now used by another process is left alone; entries of an earlier boot are dropped", () =>
    Effect.gen(function*() {
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "bp-ledger-"))
      const bystander = yield* Effect.acquireRelease(
        Effect.sync(() => NodeChild.spawn("sleep", ["1000"], { detached: true, stdio: "ignore" })),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      const s = stat(bystander.pid!)!
      const boot = NodeFs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
      const entry = (startTime: number) => ({
        id: "old",
        pid: bystander.pid!,
        startTime,
        token: "0".repeat(32),
        graceMs: 100
      })
      const file = NodePath.join(dir, "backend-pool.ledger.json")
      NodeFs.writeFileSync(file, JSON.stringify({ version: 1, bootId: boot, entries: [entry(s.startTime - 1)] }))
      const reused = yield* Ledger.sweep(file)
      assert.deepStrictEqual(reused.reused, [bystander.pid!])
      assert.deepStrictEqual(reused.groups, [])
      NodeFs.writeFileSync(file, JSON.stringify({ version: 1, bootId: "another-boot", entries: [entry(s.startTime)] }))
      const stale = yield* Ledger.sweep(file)
      assert.strictEqual(stale.staleBoot, 1)
      yield* Effect.sleep(300)
      assert.isTrue(alive(bystander.pid!))
      // The same entry with its real start time is ours: its group is stopped.
      NodeFs.writeFileSync(file, JSON.stringify({ version: 1, bootId: boot, entries: [entry(s.startTime)] }))
      const ours = yield* Ledger.sweep(file)
      assert.deepStrictEqual(ours.groups, [bystander.pid!])
      assert.isTrue(yield* pollUntil(() => !alive(bystander.pid!), 10_000))
      // A file that is not a ledger is ignored, not trusted.
      NodeFs.writeFileSync(file, "{\"version\":2}")
      assert.deepStrictEqual((yield* Ledger.sweep(file)).groups, [])
    }))
})
