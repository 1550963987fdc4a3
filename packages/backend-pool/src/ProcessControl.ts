/**
 * `ProcessControl`: how a process tree on this machine is listed and stopped, behind one interface
 * with a POSIX and a Windows implementation, chosen by platform (`ProcessControl` is a
 * `Context.Reference` whose default follows `process.platform`; provide another to override).
 *
 * - **POSIX** ({@link posix}): the backend leads its own process group (a detached spawn, or the
 *   `Watchdog`), so the group is the tree. Stop: the stop signal (plus SIGCONT) to the group, the
 *   grace, SIGKILL, then wait until no live member is left. Members are read from `/proc`
 *   asynchronously, only the group's known members at each poll and the whole table at most twice
 *   a second (zombies do not count: an init that does not reap must not keep a stop waiting).
 *   Processes that left the group (`setsid`) while their parent was a member, or that were below
 *   a member when the stop began and left during it, are found by parent links and reported as
 *   survivors if they outlive it.
 * - **Windows** ({@link windows}): no groups, no signals (`process.kill` is `TerminateProcess` of one
 *   process). Backends are spawned **not** detached (libuv puts them in its kill-on-close job, so
 *   they die with the host) and with `windowsHide`. Stop: the graceful step is the `child` helper's
 *   control channel (`requestExit`: a stop message on stdin, then EOF; the helper runs its
 *   shutdown hooks and exits); after the grace, `taskkill /PID <pid> /T /F`, which walks living
 *   parent links only (a grandchild whose parent already exited is not found). Descendants are not
 *   enumerated on the stop path, so outcomes say `complete: false`. A backend that does not use
 *   the helper gets no graceful step unless it exits on stdin EOF: it is killed after the grace.
 *
 * Facts: `shared/reference/windows-reality.md` §1; `supervision.md` (b) 10–12.
 *
 * @module
 */
import { Clock, Context, Effect } from "effect"
import * as NodeChild from "node:child_process"
import type { StopOutcome } from "./Launcher.ts"
import * as ProcTable from "./ProcTable.ts"

/** One started process, as the pool knows it: by pid and by its handle. */
export interface ProcessRef {
  /** The leader's pid on this machine (POSIX: also the id of its process group). */
  readonly pid: number
  /** Whether the leader has exited, from its handle (never from the pid: the OS reuses pids). */
  readonly exited: Effect.Effect<boolean>
  /** Completes when the leader exits. */
  readonly awaitExit: Effect.Effect<void>
  /**
   * Asks the backend to exit through its control channel (the `child` helper's stop message on
   * stdin, then EOF). Windows' graceful step; POSIX uses the stop signal.
   */
  readonly requestExit?: Effect.Effect<void> | undefined
}

/** How to stop. */
export interface StopPolicy {
  /** The graceful signal (POSIX). */
  readonly signal: NodeJS.Signals
  /** How long the tree gets to exit before it is killed. */
  readonly graceMs: number
  /** How long to wait for the killed tree to disappear (default 2000 ms). */
  readonly killWaitMs?: number | undefined
}

/** The live processes of a tree, as far as the platform can tell. */
export interface Members {
  readonly pids: ReadonlyArray<number>
  /** `false` when the list may miss processes (Windows; POSIX without `/proc`). */
  readonly complete: boolean
}

/** Process control for one platform. */
export interface ProcessControlShape {
  readonly platform: "posix" | "win32"
  /**
   * Options every backend spawn must use here. POSIX: `detached` (its own process group).
   * Windows: not detached (the host's kill-on-close job) and `windowsHide` (no console window).
   */
  readonly spawnOptions: { readonly detached: boolean; readonly windowsHide: boolean }
  /** The live processes of `ref`'s tree. */
  members(ref: ProcessRef): Effect.Effect<Members>
  /** The honest stop: graceful step, grace, kill, wait; resolves when nothing (visible) is left. */
  stop(ref: ProcessRef, policy: StopPolicy): Effect.Effect<StopOutcome>
}

const msSince = (clock: Clock.Clock, start: bigint) => Number((clock.monotonicTimeNanosUnsafe() - start) / 1_000_000n)

// ---------------------------------------------------------------------------------------------
// POSIX
// ---------------------------------------------------------------------------------------------

/** `kill(-pgid, signal)`: false when there is no such group. */
const signalGroup = (pgid: number, signal: NodeJS.Signals | 0): boolean => {
  if (!Number.isInteger(pgid) || pgid <= 1) return false // never -0 (our own group) or -1 (everyone)
  try {
    process.kill(-pgid, signal)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Polling period of a POSIX stop, and the least time between two full `/proc` scans. */
const pollMillis = 25
const scanMillis = 500

/**
 * What the POSIX stop needs from the OS: signals to a process group, and the process table.
 * {@link posixOsLive} is this machine's; {@link posixWith} takes another, as {@link windows}
 * takes a {@link WindowsOs}, so a model can show what a stop does where the real OS cannot: a
 * POSIX host without `/proc` (macOS), and how often the whole table is read.
 *
 * @internal
 */
export interface PosixOs {
  /** `kill(-pgid, signal)`: false when there is no such group. */
  readonly signalGroup: (pgid: number, signal: NodeJS.Signals | 0) => boolean
  /** Whether `/proc` can be read (Linux, WSL); without it only the group's existence is known. */
  readonly procAvailable: boolean
  /** The stats of these processes (the ones that are gone are left out). */
  readonly readStats: (pids: Iterable<number>) => Effect.Effect<ReadonlyArray<ProcTable.ProcStat>>
  /** The whole process table. */
  readonly scan: Effect.Effect<ReadonlyArray<ProcTable.ProcStat>>
}

/** This machine: `process.kill` and `/proc`. @internal */
export const posixOsLive: PosixOs = {
  signalGroup,
  procAvailable: ProcTable.available,
  readStats: ProcTable.readStats,
  scan: ProcTable.scan
}

/**
 * Tracks one group's live members cheaply: `kill(-pgid, 0)` first, then `/proc` stats of the
 * members seen last, and a full scan only when none of those is left (bounded rate).
 */
const groupTracker = (os: PosixOs, pgid: number, initial: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    let known: ReadonlyArray<number> = initial
    let lastScan = clock.monotonicTimeNanosUnsafe()
    const live = Effect.gen(function*() {
      if (!os.signalGroup(pgid, 0)) return (known = [])
      if (!os.procAvailable) return (known = [pgid])
      const stats = yield* os.readStats(known)
      const still = stats.filter((s) => s.pgrp === pgid && ProcTable.isLive(s)).map((s) => s.pid)
      if (still.length > 0) return (known = still)
      if (msSince(clock, lastScan) < scanMillis) return known
      lastScan = clock.monotonicTimeNanosUnsafe()
      const table = yield* os.scan
      return (known = table.filter((s) => s.pgrp === pgid && ProcTable.isLive(s)).map((s) => s.pid))
    })
    /** Waits up to `ms` (monotonic) for the group to have no live member. */
    const awaitEmpty = (ms: number) =>
      Effect.gen(function*() {
        const start = clock.monotonicTimeNanosUnsafe()
        while (true) {
          if ((yield* live).length === 0) return true
          if (msSince(clock, start) >= ms) return false
          yield* Effect.sleep(pollMillis)
        }
      })
    return { live, awaitEmpty, known: () => known }
  })

/** POSIX process control over `os` ({@link posixOsLive} in {@link posix}, a model in tests). @internal */
export const posixWith = (os: PosixOs): ProcessControlShape => ({
  platform: "posix",
  spawnOptions: { detached: true, windowsHide: true },
  members: (ref) =>
    Effect.gen(function*() {
      if (!os.procAvailable) return { pids: os.signalGroup(ref.pid, 0) ? [ref.pid] : [], complete: false }
      const table = yield* os.scan
      return { pids: table.filter((s) => s.pgrp === ref.pid && ProcTable.isLive(s)).map((s) => s.pid), complete: true }
    }),
  stop: (ref, policy) =>
    Effect.gen(function*() {
      const clock = yield* Clock.Clock
      const start = clock.monotonicTimeNanosUnsafe()
      const pgid = ref.pid
      // No group at all (the common end of a run): nothing to scan for.
      if (!os.signalGroup(pgid, 0)) {
        const none: StopOutcome = {
          method: "exited",
          durationMs: 0,
          survivors: 0,
          survivorPids: [],
          complete: os.procAvailable,
          gracefulStep: "none"
        }
        return none
      }
      // One scan when the stop begins: the members, and every process below them by parent links
      // (with its start time), whatever its group: those outside the group when the stop ends
      // escaped it, before the stop (setsid) or during it (a member that leaves the group when it
      // gets the signal), and are reported if they are still the same live processes.
      const table = os.procAvailable ? yield* os.scan : []
      const members = table.filter((s) => s.pgrp === pgid && ProcTable.isLive(s))
      const below = new Map<number, number>()
      for (const member of members) {
        for (const d of ProcTable.descendants(table, member.pid)) below.set(d.pid, d.startTime)
      }
      const tracker = yield* groupTracker(os, pgid, members.map((s) => s.pid))
      const survivingEscapees = Effect.map(
        os.readStats(below.keys()),
        (stats) =>
          stats.filter((s) => s.pgrp !== pgid && ProcTable.isLive(s) && below.get(s.pid) === s.startTime).map((s) =>
            s.pid
          )
      )
      const outcome = (method: StopOutcome["method"], left: ReadonlyArray<number>) =>
        Effect.map(survivingEscapees, (escaped): StopOutcome => {
          const survivorPids = [...left, ...escaped]
          return {
            method,
            durationMs: msSince(clock, start),
            survivors: survivorPids.length,
            survivorPids,
            complete: os.procAvailable,
            gracefulStep: method === "exited" ? "none" : "signal"
          }
        })
      if ((yield* tracker.live).length === 0) return yield* outcome("exited", [])
      os.signalGroup(pgid, policy.signal)
      // SIGCONT so a stopped (SIGSTOP) group can act on the signal, as systemd does.
      if (policy.signal !== "SIGKILL") os.signalGroup(pgid, "SIGCONT")
      if (yield* tracker.awaitEmpty(policy.graceMs)) return yield* outcome("graceful", [])
      os.signalGroup(pgid, "SIGKILL")
      yield* tracker.awaitEmpty(policy.killWaitMs ?? 2_000)
      return yield* outcome("forced", tracker.known())
    }).pipe(Effect.uninterruptible)
})

/** POSIX process control: process groups, signals, `/proc`. */
export const posix: ProcessControlShape = posixWith(posixOsLive)

// ---------------------------------------------------------------------------------------------
// Windows
// ---------------------------------------------------------------------------------------------

/** What the Windows implementation needs from the OS (the model replaces it in tests). */
export interface WindowsOs {
  /** Runs `taskkill.exe` with `args` (hidden window); its exit code and output. */
  readonly taskkill: (args: ReadonlyArray<string>) => Effect.Effect<{ readonly code: number; readonly output: string }>
}

/** The real `taskkill.exe` (`%SystemRoot%\System32`), spawned with `windowsHide`, no shell. */
export const windowsOsLive: WindowsOs = {
  taskkill: (args) =>
    Effect.callback((resume) => {
      const root = process.env["SystemRoot"] ?? "C:\\Windows"
      const child = NodeChild.execFile(
        `${root}\\System32\\taskkill.exe`,
        [...args],
        { windowsHide: true, timeout: 10_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
          resume(Effect.succeed({ code, output: `${stdout}${stderr}` }))
        }
      )
      return Effect.sync(() => child.kill())
    })
}

/** The `taskkill` arguments that end `pid` and the descendants reachable from it. */
export const taskkillArgs = (pid: number): ReadonlyArray<string> => ["/PID", String(pid), "/T", "/F"]

/** Windows process control over `os` ({@link windowsOsLive} on Windows, a model in tests). */
export const windows = (os: WindowsOs): ProcessControlShape => ({
  platform: "win32",
  spawnOptions: { detached: false, windowsHide: true },
  members: (ref) => Effect.map(ref.exited, (exited) => ({ pids: exited ? [] : [ref.pid], complete: false })),
  stop: (ref, policy) =>
    Effect.gen(function*() {
      const clock = yield* Clock.Clock
      const start = clock.monotonicTimeNanosUnsafe()
      const waitExit = (ms: number) =>
        ref.awaitExit.pipe(Effect.as(true), Effect.timeoutOrElse({ duration: ms, orElse: () => Effect.succeed(false) }))
      const outcome = (
        method: StopOutcome["method"],
        survivorPids: ReadonlyArray<number>,
        gracefulStep: StopOutcome["gracefulStep"]
      ): StopOutcome => ({
        method,
        durationMs: msSince(clock, start),
        survivors: survivorPids.length,
        survivorPids,
        complete: false,
        gracefulStep
      })
      // A leader that is gone is never looked up by pid again: the pid may be another process now.
      if (yield* ref.exited) return outcome("exited", [], "none")
      const step = ref.requestExit === undefined ? "none" : "message"
      if (ref.requestExit !== undefined) {
        yield* ref.requestExit
        if (yield* waitExit(policy.graceMs)) return outcome("graceful", [], step)
      }
      const result = yield* os.taskkill(taskkillArgs(ref.pid))
      // 0: terminated; 128: not found (it exited meanwhile); anything else (1: access denied).
      const gone = yield* waitExit(policy.killWaitMs ?? 2_000)
      if (result.code === 128 && gone && ref.requestExit !== undefined) return outcome("graceful", [], step)
      return outcome("forced", gone ? [] : [ref.pid], step)
    }).pipe(Effect.uninterruptible)
})

/** The process control of this platform: {@link windows} on Windows, {@link posix} elsewhere. */
export const forPlatform = (platform: NodeJS.Platform): ProcessControlShape =>
  platform === "win32" ? windows(windowsOsLive) : posix

/**
 * The process control launchers use. Defaults to this platform's ({@link forPlatform}); provide
 * another (e.g. the Windows model of `@isthmus/backend-pool/testing`) to run the same launcher
 * code against it.
 */
export const ProcessControl = Context.Reference<ProcessControlShape>("@isthmus/backend-pool/ProcessControl", {
  defaultValue: () => forPlatform(process.platform)
})
