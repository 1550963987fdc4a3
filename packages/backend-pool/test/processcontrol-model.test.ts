/**
 * `ProcessControl.posixWith` against a model of a POSIX host (its `PosixOs`), in virtual time
 * (TestClock): what the real-process tests (`processcontrol.test.ts`) cannot show, either because
 * it changes only how soon a stop returns, or because this machine cannot be that host:
 *
 * - the work a stop does: the whole `/proc` table is read at most once per 500 ms, and not at all
 *   while a member the stop knows is alive; a group that is gone is known from `kill(-pgid, 0)`
 *   alone;
 * - the grace is the grace: SIGKILL goes out when it is up, not a poll later;
 * - a pid reused during the stop is not the escapee it used to be (a process is its pid and its
 *   start time);
 * - a member that outlives SIGKILL is reported once;
 * - a POSIX host without `/proc` (macOS, the BSDs).
 *
 * The model is the oracle, built from the OS's rules, not from the stop's code:
 * - kill(2) with a negative pid (POSIX): the signal goes to every process whose process group is
 *   |pid|, zombies included (a zombie is still in its group until it is reaped); ESRCH, here
 *   `false`, when there is no such process; signal 0 only checks.
 * - `/proc/<pid>/stat` (proc(5)): every process that is not reaped, with its state, parent,
 *   group and start time; a reaped one is gone. A process in uninterruptible sleep (state `D`,
 *   e.g. waiting on a hung NFS server) does not act on any signal, SIGKILL included, until the
 *   sleep ends.
 * - macOS has no `/proc` (its process table is read through `sysctl`/`libproc`, which the pool
 *   does not use): every read finds nothing, as `ProcTable`'s reads do there, while kill(2)
 *   behaves as above.
 */
import { assert, describe, it } from "@effect/vitest"
import { ProcessControl, type ProcTable } from "@isthmus/backend-pool"
import { Clock, Effect, type Fiber } from "effect"
import { TestClock } from "effect/testing"

/** What a modelled process does on SIGTERM: exit (and be reaped), ignore it, or run `act`. */
type OnTerm = "exit" | "ignore" | ((self: ModelProc) => void)

interface ModelProc {
  readonly pid: number
  readonly ppid: number
  pgrp: number
  /** `S` (sleeping, acts on signals), `D` (uninterruptible: acts on none), `Z` (zombie). */
  state: "S" | "D" | "Z"
  readonly startTime: number
  readonly onTerm: OnTerm
}

/**
 * A POSIX host: its process table, what was signalled when, and when `/proc` was read. `now`
 * is the test clock's time (ms), so every record is in virtual time.
 */
const host = (now: () => number, options: { readonly proc: boolean } = { proc: true }) => {
  const table = new Map<number, ModelProc>()
  const signals: Array<{ readonly at: number; readonly pgid: number; readonly signal: NodeJS.Signals }> = []
  const scans: Array<number> = []
  const statReads: Array<number> = []
  const spawn = (
    p: { pid: number; ppid: number; pgrp: number; onTerm?: OnTerm; state?: "S" | "D"; startTime?: number }
  ) =>
    table.set(p.pid, {
      pid: p.pid,
      ppid: p.ppid,
      pgrp: p.pgrp,
      state: p.state ?? "S",
      startTime: p.startTime ?? 100,
      onTerm: p.onTerm ?? "exit"
    })
  /** The process exits and its parent reaps it at once. */
  const exit = (pid: number) => table.delete(pid)
  const statOf = (p: ModelProc): ProcTable.ProcStat => ({
    pid: p.pid,
    ppid: p.ppid,
    pgrp: p.pgrp,
    session: 1,
    state: p.state,
    startTime: p.startTime
  })
  const os: ProcessControl.PosixOs = {
    signalGroup: (pgid, signal) => {
      const group = [...table.values()].filter((p) => p.pgrp === pgid)
      if (group.length === 0) return false
      if (signal === 0) return true
      signals.push({ at: now(), pgid, signal })
      for (const p of group) {
        if (p.state !== "S") continue // a zombie, or uninterruptible: no signal acts on it
        if (signal === "SIGKILL") exit(p.pid)
        else if (signal === "SIGTERM") {
          if (p.onTerm === "exit") exit(p.pid)
          else if (p.onTerm !== "ignore") p.onTerm(p)
        }
      }
      return true
    },
    procAvailable: options.proc,
    readStats: (pids) =>
      Effect.sync(() => {
        const list = [...pids]
        statReads.push(...list)
        if (!options.proc) return []
        return list.flatMap((pid) => {
          const p = table.get(pid)
          return p === undefined ? [] : [statOf(p)]
        })
      }),
    scan: Effect.sync(() => {
      scans.push(now())
      return options.proc ? [...table.values()].map(statOf) : []
    })
  }
  return { os, table, spawn, exit, signals, scans, statReads, control: ProcessControl.posixWith(os) }
}

/** A leader the model knows by pid; `exited` is what its handle would say. */
const refOf = (model: ReturnType<typeof host>, pid: number): ProcessControl.ProcessRef => ({
  pid,
  exited: Effect.sync(() => !model.table.has(pid)),
  awaitExit: Effect.never
})

/**
 * Runs `effect` while the test clock moves `ms` ahead; fails (rather than hangs) if it has not
 * returned by then. Virtual time: a stop that waits too long shows as a stop that did not end.
 */
const within = <A>(ms: number, effect: Effect.Effect<A>) =>
  Effect.gen(function*() {
    const fiber: Fiber.Fiber<A> = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(ms)
    const exit = fiber.pollUnsafe()
    if (exit === undefined) return assert.fail(`not done after ${ms} ms of virtual time`)
    if (exit._tag === "Failure") return assert.fail(`failed: ${String(exit.cause)}`)
    return exit.value
  })

/** The test clock's time in ms, for the model's records. */
const clockMs = Effect.gen(function*() {
  const clock = yield* Clock.Clock
  return () => clock.currentTimeMillisUnsafe()
})

const signalsOf = (model: ReturnType<typeof host>) => model.signals.map((s) => `${s.signal}@${s.at}`)

describe("ProcessControl.posix against a model of the host (virtual time)", () => {
  it.effect("no full /proc scan while a member it knows is alive; SIGKILL when the grace is up", () =>
    Effect.gen(function*() {
      const model = host(yield* clockMs)
      model.spawn({ pid: 100, ppid: 1, pgrp: 100, onTerm: "ignore" })
      model.spawn({ pid: 101, ppid: 100, pgrp: 100, onTerm: "ignore" })
      const outcome = yield* within(
        60_000,
        model.control.stop(refOf(model, 100), { signal: "SIGTERM", graceMs: 2_000, killWaitMs: 2_000 })
      )
      assert.strictEqual(outcome.method, "forced")
      assert.deepStrictEqual(outcome.survivorPids, [])
      // Members it knows (100, 101) were alive all through the grace: polled by pid, never a scan
      // beyond the one that found them when the stop began.
      assert.deepStrictEqual(model.scans, [0])
      // The group got its whole grace, and not a poll (25 ms) more.
      assert.deepStrictEqual(signalsOf(model), ["SIGTERM@0", "SIGCONT@0", "SIGKILL@2000"])
      assert.strictEqual(outcome.durationMs, 2_000)
    }))

  it.effect("a group that is gone is known from kill(-pgid, 0): the stop returns at once", () =>
    Effect.gen(function*() {
      const model = host(yield* clockMs)
      model.spawn({ pid: 200, ppid: 1, pgrp: 200 })
      model.spawn({ pid: 201, ppid: 200, pgrp: 200 })
      const outcome = yield* within(
        60_000,
        model.control.stop(refOf(model, 200), { signal: "SIGTERM", graceMs: 10_000 })
      )
      assert.strictEqual(outcome.method, "graceful")
      assert.deepStrictEqual(outcome.survivorPids, [])
      // Both exited on SIGTERM: the next check (at once, no poll) finds no group, without a
      // stale list of members to wait out until the next full scan.
      assert.strictEqual(outcome.durationMs, 0)
      assert.deepStrictEqual(model.scans, [0])
    }))

  it.effect("a member it does not know: the whole table is read again 500 ms after the last read, no sooner", () =>
    Effect.gen(function*() {
      // On SIGTERM the leader forks a member that ignores SIGTERM (it missed the group's signal)
      // and exits: no member the stop knows is left, the group is not empty. Only a full scan
      // finds the new one; the last was when the stop began (t = 0), so the next is at 500 ms.
      // Then it is known and polled by pid: no more scans until SIGKILL ends it.
      const model = host(yield* clockMs)
      model.spawn({
        pid: 300,
        ppid: 1,
        pgrp: 300,
        onTerm: (self) => {
          model.spawn({ pid: 301, ppid: self.pid, pgrp: self.pgrp, onTerm: "ignore" })
          model.exit(self.pid)
        }
      })
      const outcome = yield* within(
        60_000,
        model.control.stop(refOf(model, 300), { signal: "SIGTERM", graceMs: 2_000 })
      )
      assert.strictEqual(outcome.method, "forced")
      assert.deepStrictEqual(outcome.survivorPids, [])
      assert.deepStrictEqual(model.scans, [0, 500])
      assert.deepStrictEqual(signalsOf(model), ["SIGTERM@0", "SIGCONT@0", "SIGKILL@2000"])
      assert.isFalse(model.table.has(301))
    }))

  it.effect("a pid reused during the stop is not the escapee it replaced (pid and start time)", () =>
    Effect.gen(function*() {
      // Member 401 has an escaped child (402, setsid: a group of its own) and a second one (403)
      // that stays. On SIGTERM 401 ends 402 and exits; the kernel then gives pid 402 to an
      // unrelated process (a later start time). 403 outlives the stop: a survivor; 402 is not.
      const model = host(yield* clockMs)
      model.spawn({ pid: 400, ppid: 1, pgrp: 400 })
      model.spawn({
        pid: 401,
        ppid: 400,
        pgrp: 400,
        onTerm: (self) => {
          model.exit(402)
          model.exit(self.pid)
          model.spawn({ pid: 402, ppid: 1, pgrp: 402, startTime: 9_000 })
        }
      })
      model.spawn({ pid: 402, ppid: 401, pgrp: 402, startTime: 150 })
      model.spawn({ pid: 403, ppid: 401, pgrp: 403, startTime: 160 })
      const outcome = yield* within(
        60_000,
        model.control.stop(refOf(model, 400), { signal: "SIGTERM", graceMs: 5_000 })
      )
      assert.strictEqual(outcome.method, "graceful")
      assert.deepStrictEqual(outcome.survivorPids, [403])
      assert.strictEqual(model.table.get(402)?.startTime, 9_000) // the pid is in use, by another
    }))

  it.effect("a member that outlives SIGKILL (uninterruptible sleep) is reported once", () =>
    Effect.gen(function*() {
      const model = host(yield* clockMs)
      model.spawn({ pid: 500, ppid: 1, pgrp: 500, onTerm: "ignore" })
      model.spawn({ pid: 501, ppid: 500, pgrp: 500, state: "D" })
      const outcome = yield* within(
        60_000,
        model.control.stop(refOf(model, 500), { signal: "SIGTERM", graceMs: 300, killWaitMs: 1_000 })
      )
      assert.strictEqual(outcome.method, "forced")
      assert.deepStrictEqual(outcome.survivorPids, [501])
      assert.strictEqual(outcome.survivors, 1)
      assert.isTrue(outcome.complete)
    }))
})

describe("ProcessControl.posix on a POSIX host without /proc (a model of macOS)", () => {
  it.effect("members: only whether the group exists, never complete", () =>
    Effect.gen(function*() {
      const model = host(yield* clockMs, { proc: false })
      model.spawn({ pid: 600, ppid: 1, pgrp: 600 })
      model.spawn({ pid: 601, ppid: 600, pgrp: 600 })
      assert.deepStrictEqual(yield* model.control.members(refOf(model, 600)), { pids: [600], complete: false })
      model.exit(600)
      model.exit(601)
      assert.deepStrictEqual(yield* model.control.members(refOf(model, 600)), { pids: [], complete: false })
    }))

  it.effect("a stop signals the group and waits for it by kill(-pgid, 0) alone; not complete", () =>
    Effect.gen(function*() {
      const model = host(yield* clockMs, { proc: false })
      model.spawn({ pid: 700, ppid: 1, pgrp: 700 })
      model.spawn({ pid: 701, ppid: 700, pgrp: 700 })
      const outcome = yield* within(
        60_000,
        model.control.stop(refOf(model, 700), { signal: "SIGTERM", graceMs: 5_000 })
      )
      assert.deepStrictEqual(outcome, {
        method: "graceful",
        durationMs: 0,
        survivors: 0,
        survivorPids: [],
        complete: false,
        gracefulStep: "signal"
      })
      // Both exited on SIGTERM, so the SIGCONT after it found no group (ESRCH): nothing to deliver.
      assert.deepStrictEqual(signalsOf(model), ["SIGTERM@0"])
      assert.deepStrictEqual([model.scans, model.statReads], [[], []]) // nothing tries /proc
    }))

  it.effect("a group that ignores the signal is SIGKILLed after the grace; one that outlives it is reported", () =>
    Effect.gen(function*() {
      const model = host(yield* clockMs, { proc: false })
      model.spawn({ pid: 800, ppid: 1, pgrp: 800, onTerm: "ignore" })
      const forced = yield* within(
        60_000,
        model.control.stop(refOf(model, 800), { signal: "SIGTERM", graceMs: 1_000 })
      )
      assert.deepStrictEqual([forced.method, forced.survivorPids, forced.complete], ["forced", [], false])
      assert.deepStrictEqual(signalsOf(model), ["SIGTERM@0", "SIGCONT@0", "SIGKILL@1000"])
      // Without /proc its members are unknown: the group (by its id) is what outlived SIGKILL.
      const stuck = host(yield* clockMs, { proc: false })
      stuck.spawn({ pid: 900, ppid: 1, pgrp: 900, onTerm: "ignore" })
      stuck.spawn({ pid: 901, ppid: 900, pgrp: 900, state: "D" })
      const left = yield* within(
        60_000,
        stuck.control.stop(refOf(stuck, 900), { signal: "SIGTERM", graceMs: 1_000, killWaitMs: 1_000 })
      )
      assert.deepStrictEqual([left.method, left.survivorPids, left.complete], ["forced", [900], false])
      assert.deepStrictEqual([model.scans, model.statReads, stuck.scans, stuck.statReads], [[], [], [], []])
    }))

  it.effect("no group at all: exited, not complete", () =>
    Effect.gen(function*() {
      const model = host(yield* clockMs, { proc: false })
      const outcome = yield* within(
        1_000,
        model.control.stop(refOf(model, 1000), { signal: "SIGTERM", graceMs: 1_000 })
      )
      assert.deepStrictEqual(outcome, {
        method: "exited",
        durationMs: 0,
        survivors: 0,
        survivorPids: [],
        complete: false,
        gracefulStep: "none"
      })
      assert.deepStrictEqual(model.signals, [])
    }))
})
