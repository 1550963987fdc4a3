/**
 * `ProcessControl.posix` against real process groups: the stop contract, honest survivors
 * (a `setsid` escapee is reported with its pid), zombies not counted, and `/proc` parsing.
 */
import { assert, describe, it } from "@effect/vitest"
import { BackendPool, ProcessControl, ProcTable } from "@isthmus/backend-pool"
import { Effect } from "effect"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import { livePool } from "./helpers.ts"

/** A live (non-zombie) process, from `/proc` (the oracle). */
const alive = (pid: number): boolean => {
  try {
    const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]
    return state !== "Z" && state !== "X"
  } catch {
    return false
  }
}

/**
 * Spawns `sh -c script` as the leader of a new group; resolves once it printed `n` lines. The
 * group is SIGKILLed when the test ends, so a failing test leaves nothing running.
 */
const group = (script: string, n: number, args: ReadonlyArray<string> = []) =>
  Effect.acquireRelease(
    Effect.callback<{ child: NodeChild.ChildProcess; lines: Array<string> }>((resume) => {
      const child = NodeChild.spawn("sh", ["-c", script, ...args], {
        detached: true,
        stdio: ["ignore", "pipe", "inherit"]
      })
      let text = ""
      child.stdout.on("data", (c) => {
        text += c
        const lines = text.split("\n").filter((l) => l.length > 0)
        if (lines.length >= n) resume(Effect.succeed({ child, lines }))
      })
    }),
    ({ child }) =>
      Effect.sync(() => {
        try {
          process.kill(-child.pid!, "SIGKILL")
        } catch {
          // already gone
        }
      })
  )

/** State and group of a process from `/proc` (the oracle); undefined when it is gone (reaped). */
const statOf = (pid: number): { state: string; pgrp: number } | undefined => {
  try {
    const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0]!, pgrp: Number(fields[2]) }
  } catch {
    return undefined
  }
}

/** SIGKILLs `pid` when the test ends, if it is still there. */
const killAtEnd = (pid: number) =>
  Effect.addFinalizer(() =>
    Effect.sync(() => {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    })
  )

/** Live members of group `pgid`, from `/proc` (the oracle). */
const groupMembers = (pgid: number): Array<number> =>
  NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      return Number(fields[2]) === pgid && fields[0] !== "Z"
    } catch {
      return false
    }
  }).toSorted((a, b) => a - b)

const refOf = (child: NodeChild.ChildProcess): ProcessControl.ProcessRef => {
  const exit = new Promise<void>((
    r
  ) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", () => r())))
  return {
    pid: child.pid!,
    exited: Effect.sync(() => child.exitCode !== null || child.signalCode !== null),
    awaitExit: Effect.promise(() => exit)
  }
}

/** A table row for the pure tests. */
const s = (pid: number, ppid: number, pgrp: number): ProcTable.ProcStat => ({
  pid,
  ppid,
  pgrp,
  session: 1,
  state: "S",
  startTime: 0
})

describe("ProcessControl.posix", () => {
  it.live("a graceful stop of a cooperative group", () =>
    Effect.gen(function*() {
      const { child } = yield* group("sleep 1000 & echo up; wait", 1)
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 20_000 })
      assert.strictEqual(outcome.method, "graceful")
      assert.deepStrictEqual(outcome.survivorPids, [])
      assert.strictEqual(outcome.gracefulStep, "signal")
      assert.isTrue(outcome.complete)
      assert.deepStrictEqual((yield* ProcessControl.posix.members(refOf(child))).pids, [])
    }))

  it.live("a process that left the group with setsid is reported as a survivor, with its pid", () =>
    Effect.gen(function*() {
      const { child, lines } = yield* group("setsid sh -c 'echo $$; exec sleep 1000' & wait", 1)
      const escapee = Number(lines[0])
      yield* Effect.addFinalizer(() => Effect.sync(() => alive(escapee) && process.kill(escapee, "SIGKILL")))
      assert.isTrue(alive(escapee))
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 20_000 })
      assert.strictEqual(outcome.method, "graceful") // the group itself emptied at once
      assert.deepStrictEqual(outcome.survivorPids, [escapee])
      assert.strictEqual(outcome.survivors, 1)
      assert.isTrue(alive(escapee))
      process.kill(escapee, "SIGKILL")
    }))

  it.live("a member that leaves the group when it gets the signal (setsid) is reported as a survivor", () =>
    Effect.gen(function*() {
      // The member (perl, a child of the leader) calls setsid() in its SIGTERM handler and lives
      // on: the group empties at once (graceful), and the process that escaped during the stop is
      // a survivor as much as one that escaped before it.
      const member = "$| = 1; use POSIX (); $SIG{TERM} = sub { POSIX::setsid() }; print \"$$\\n\"; sleep 1 while 1"
      const { child, lines } = yield* group(`perl -e '${member}' & wait`, 1)
      const leaver = Number(lines[0])
      yield* killAtEnd(leaver)
      assert.strictEqual(statOf(leaver)?.pgrp, child.pid)
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 20_000 })
      // Only the leaver is left, in a group of its own (the oracle: /proc).
      assert.deepStrictEqual(groupMembers(child.pid!), [])
      assert.isTrue(alive(leaver))
      assert.strictEqual(statOf(leaver)?.pgrp, leaver)
      assert.strictEqual(outcome.method, "graceful") // not waiting for it as if it were a member
      assert.deepStrictEqual(outcome.survivorPids, [leaver])
      assert.strictEqual(outcome.survivors, 1)
    }))

  it.live("zombies are not survivors: a member and an escapee that die during the stop and are not reaped", () =>
    Effect.gen(function*() {
      // Below the leader (sh), perl D moves to a group of its own and never reaps its children:
      // E (setsid: an escapee) and C (back in the leader's group: a member). On SIGTERM, C ends
      // E and waits until E is a zombie, then exits: the group then holds only zombie C, and E is
      // a zombie. Only D outlives the stop. (Deterministic: no reaping by pid 1 is involved.)
      const program = [
        "$| = 1; use POSIX (); my $leader = getppid(); setpgrp(0, 0);",
        "my $e = fork(); if ($e == 0) { POSIX::setsid(); print \"E $$\\n\"; sleep 1 while 1 }",
        "my $c = fork(); if ($c == 0) { setpgrp(0, $leader);",
        "  $SIG{TERM} = sub { kill \"TERM\", $e; while (1) { open(my $f, \"<\", \"/proc/$e/stat\") or last;",
        "    my $s = <$f>; close $f; last if $s =~ /\\) Z /; select(undef, undef, undef, 0.01) } exit 0 };",
        "  print \"C $$\\n\"; sleep 1 while 1 }",
        "print \"D $$\\n\"; sleep 1 while 1"
      ].join(" ")
      // And M, a member that leaves the group on SIGTERM (setsid) while zombie C keeps the group
      // in existence: the stop must not count M as a member any more.
      const leaver = "$| = 1; use POSIX (); $SIG{TERM} = sub { POSIX::setsid() }; print \"M $$\\n\"; sleep 1 while 1"
      const { child, lines } = yield* group(`perl -e "$0" & perl -e "$1" & wait`, 4, [program, leaver])
      const pid = (name: string) => Number(lines.find((l) => l.startsWith(`${name} `))!.slice(2))
      const [d, e, c, m] = [pid("D"), pid("E"), pid("C"), pid("M")]
      for (const p of [d, e, c, m]) yield* killAtEnd(p)
      assert.deepStrictEqual(groupMembers(child.pid!), [child.pid!, c, m].toSorted((a, b) => a - b))
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 20_000 })
      // The oracle: C a zombie still in the group, E a zombie, D alive.
      assert.deepStrictEqual(statOf(c), { state: "Z", pgrp: child.pid })
      assert.strictEqual(statOf(e)?.state, "Z")
      assert.isTrue(alive(d))
      assert.strictEqual(statOf(m)?.pgrp, m)
      assert.strictEqual(outcome.method, "graceful") // neither the zombie member nor M keeps the stop waiting
      assert.deepStrictEqual((outcome.survivorPids ?? []).toSorted((a, b) => a - b), [d, m].toSorted((a, b) => a - b)) // no zombies
    }))

  it.live("exited: no group at all", () =>
    Effect.gen(function*() {
      const { child } = yield* group("echo done", 1)
      yield* refOf(child).awaitExit
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 1_000 })
      assert.deepStrictEqual(outcome, {
        method: "exited",
        durationMs: 0,
        survivors: 0,
        survivorPids: [],
        complete: true,
        gracefulStep: "none"
      })
    }))

  it.live("forced: a group that ignores the signal is SIGKILLed after the grace, grandchildren too", () =>
    Effect.gen(function*() {
      const { child } = yield* group(
        "trap '' TERM; sh -c \"trap '' TERM; exec sleep 1000\" & sh -c \"trap '' TERM; exec sleep 1001\" & " +
          "sleep 0.2; echo up; wait",
        1
      )
      const before = groupMembers(child.pid!)
      assert.strictEqual(before.length, 3)
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 300 })
      assert.strictEqual(outcome.method, "forced")
      assert.strictEqual(outcome.survivors, 0)
      assert.deepStrictEqual(outcome.survivorPids, [])
      assert.strictEqual(outcome.gracefulStep, "signal")
      assert.isAtLeast(outcome.durationMs, 300)
      assert.deepStrictEqual(groupMembers(child.pid!), [])
    }))

  it.live("a member forked during the grace is found (by a full /proc scan) and killed after it: forced", () =>
    Effect.gen(function*() {
      // On SIGTERM the leader forks a process that ignores SIGTERM and exits itself: every member
      // the stop knew is gone, but the group is not empty. (The new member missed the SIGTERM,
      // which went to the group before it existed.) Grace 5 s: the leader is gone long before.
      const { child } = yield* group(
        "trap 'sh -c \"trap \\\"\\\" TERM; exec sleep 1000\" & exit 0' TERM; echo up; while :; do sleep 0.05; done",
        1
      )
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 5_000 })
      assert.strictEqual(outcome.method, "forced")
      assert.isAtLeast(outcome.durationMs, 5_000)
      assert.deepStrictEqual(outcome.survivorPids, [])
      assert.deepStrictEqual(groupMembers(child.pid!), [])
    }))

  it("is the process control of every platform but Windows", () => {
    assert.strictEqual(ProcessControl.posix.platform, "posix")
    assert.strictEqual(ProcessControl.forPlatform("linux"), ProcessControl.posix)
    assert.strictEqual(ProcessControl.forPlatform("darwin"), ProcessControl.posix)
    assert.strictEqual(ProcessControl.forPlatform("win32").platform, "win32")
    // Its own process group for every backend: the group is the tree the stop signals.
    assert.isTrue(ProcessControl.posix.spawnOptions.detached)
  })

  it.live("a stopped (SIGSTOP) member gets SIGCONT with the signal and exits gracefully", () =>
    Effect.gen(function*() {
      const { child, lines } = yield* group(
        "sh -c 'trap \"exit 0\" TERM; echo $$; while :; do sleep 0.05; done' & wait",
        1
      )
      process.kill(Number(lines[0]), "SIGSTOP")
      // Without SIGCONT the stopped shell keeps the TERM pending and is only SIGKILLed after the
      // grace: "forced". Generous grace for a loaded machine; a graceful stop ends far sooner.
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 15_000 })
      assert.strictEqual(outcome.method, "graceful")
      assert.deepStrictEqual(groupMembers(child.pid!), [])
    }))

  it.live("members: the group's live processes, from a complete /proc scan", () =>
    Effect.gen(function*() {
      const { child } = yield* group("sleep 1000 & sleep 1001 & echo up; wait", 1)
      const members = yield* ProcessControl.posix.members(refOf(child))
      assert.isTrue(members.complete)
      assert.deepStrictEqual([...members.pids].toSorted((a, b) => a - b), groupMembers(child.pid!))
      assert.strictEqual(members.pids.length, 3)
    }))

  it.live("a group of zombies counts as empty (an init that does not reap must not force every stop)", () =>
    Effect.gen(function*() {
      // `( … & )` orphans the inner shell at once: it is reparented to pid 1 and, once it exits,
      // stays a zombie in the group wherever pid 1 does not reap (this container's init does not).
      const { child } = yield* group("(sh -c 'sleep 0.2; exit 0' &); echo up", 1)
      yield* refOf(child).awaitExit
      yield* Effect.sleep(1_000)
      const outcome = yield* ProcessControl.posix.stop(refOf(child), { signal: "SIGTERM", graceMs: 20_000 })
      assert.strictEqual(outcome.method, "exited")
      assert.strictEqual(outcome.survivors, 0)
      assert.strictEqual(outcome.gracefulStep, "none") // nothing was signalled
    }))

  it("parses /proc/<pid>/stat with spaces and parentheses in the command name", () => {
    const line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100"
    assert.deepStrictEqual(ProcTable.parseStat(4242, line), {
      pid: 4242,
      state: "S",
      ppid: 1,
      pgrp: 4242,
      session: 4242,
      startTime: 987654
    })
    assert.strictEqual(ProcTable.parseStat(1, "garbage"), undefined)
    const self = ProcTable.parseStat(process.pid, NodeFs.readFileSync("/proc/self/stat", "latin1"))
    assert.strictEqual(self?.ppid, process.ppid)
  })

  it("finds descendants by parent links, whatever their group", () => {
    const table = [s(10, 1, 10), s(11, 10, 10), s(12, 11, 12), s(13, 12, 12), s(20, 1, 20)]
    assert.deepStrictEqual(ProcTable.descendants(table, 10).map((p) => p.pid), [11, 12, 13])
  })
})

describe("the pool's stop is honest about escapees", () => {
  it.live("stop and the snapshot list a setsid escapee that outlived the stop", () =>
    Effect.gen(function*() {
      const pool = yield* BackendPool
      const instance = yield* pool.register({
        id: "escapes",
        launcher: { _tag: "Local", command: "sh", args: ["-c", "setsid sh -c 'echo $$; exec sleep 1000' & wait"] },
        readiness: { check: { _tag: "LogLine", pattern: "^\\d+$" } },
        stop: { graceMs: 5_000 }
      })
      yield* instance.start
      yield* instance.awaitReady
      const escapee = Number((yield* instance.log.recent).map((l) => l.text).find((t) => /^\d+$/.test(t)))
      yield* Effect.addFinalizer(() => Effect.sync(() => alive(escapee) && process.kill(escapee, "SIGKILL")))
      const outcome = yield* instance.stop
      assert.deepStrictEqual(outcome.survivorPids, [escapee])
      assert.deepStrictEqual((yield* instance.snapshot).lastStop?.survivorPids, [escapee])
      assert.isTrue(alive(escapee))
      process.kill(escapee, "SIGKILL")
    }).pipe(Effect.provide(livePool)))
})
