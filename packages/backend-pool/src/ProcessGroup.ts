/**
 * POSIX process groups: list their live members (from `/proc` on Linux), signal them, and stop
 * them honestly (signal, grace, SIGKILL, wait until empty).
 *
 * Containment is by construction: every local backend is the leader of its own process group,
 * so its children and grandchildren are in it unless they call `setsid()`/`setpgid()` themselves
 * (a documented escape: such processes leave the group and are not stopped by the pool).
 *
 * @module
 */
import { Clock, Effect } from "effect"
import * as NodeFs from "node:fs"
import type { StopOutcome } from "./Launcher.ts"

const hasProc = process.platform === "linux" && NodeFs.existsSync("/proc/self/stat")

/** Parses `/proc/<pid>/stat`: the state and the process group. */
const readStat = (pid: string): { state: string; pgrp: number } | undefined => {
  try {
    const text = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
    // The command name is in parentheses and may contain spaces or parentheses: split after the last ")".
    const close = text.lastIndexOf(")")
    const fields = text.slice(close + 2).split(" ")
    const state = fields[0] ?? "?"
    const pgrp = Number(fields[2])
    return { state, pgrp }
  } catch {
    return undefined
  }
}

/**
 * Live (non-zombie) members of process group `pgid`. On Linux read from `/proc`; elsewhere
 * `kill(-pgid, 0)` only tells whether the group exists, so the result is `[pgid]` or `[]`.
 */
export const liveMembers = (pgid: number): ReadonlyArray<number> => {
  if (!hasProc) {
    try {
      process.kill(-pgid, 0)
      return [pgid]
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM" ? [pgid] : []
    }
  }
  const out: Array<number> = []
  let entries: Array<string>
  try {
    entries = NodeFs.readdirSync("/proc")
  } catch {
    return []
  }
  for (const entry of entries) {
    const c = entry.charCodeAt(0)
    if (c < 48 || c > 57) continue
    const stat = readStat(entry)
    if (stat !== undefined && stat.pgrp === pgid && stat.state !== "Z" && stat.state !== "X") out.push(Number(entry))
  }
  return out
}

/** Sends `signal` to every process of group `pgid`; false when the group no longer exists. */
export const signalGroup = (pgid: number, signal: NodeJS.Signals): boolean => {
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    return false
  }
}

const pollMillis = 20

/** Waits until group `pgid` has no live member, up to `timeoutMs`; true when it emptied. */
export const awaitEmpty = (pgid: number, timeoutMs: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const deadline = clock.currentTimeMillisUnsafe() + timeoutMs
    while (true) {
      if (liveMembers(pgid).length === 0) return true
      if (clock.currentTimeMillisUnsafe() >= deadline) return false
      yield* Effect.sleep(pollMillis)
    }
  })

/**
 * The stop contract: `signal` to the whole group, wait `graceMs` for it to empty, then SIGKILL the
 * group and wait (up to `killWaitMs`) until no member is left. `graceful` when the group emptied
 * within the grace period, `forced` otherwise, `exited` when it was already empty.
 */
export const stopGroup = (
  pgid: number,
  options: { readonly signal: NodeJS.Signals; readonly graceMs: number; readonly killWaitMs?: number }
): Effect.Effect<StopOutcome> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const started = clock.currentTimeMillisUnsafe()
    const elapsed = () => clock.currentTimeMillisUnsafe() - started
    if (liveMembers(pgid).length === 0) return { method: "exited", durationMs: 0, survivors: 0 } as const
    signalGroup(pgid, options.signal)
    // SIGCONT so a stopped (SIGSTOP) group can act on the signal, as systemd does.
    if (options.signal !== "SIGKILL") signalGroup(pgid, "SIGCONT")
    if (yield* awaitEmpty(pgid, options.graceMs)) {
      return { method: "graceful", durationMs: elapsed(), survivors: 0 } as const
    }
    signalGroup(pgid, "SIGKILL")
    yield* awaitEmpty(pgid, options.killWaitMs ?? 2_000)
    return { method: "forced", durationMs: elapsed(), survivors: liveMembers(pgid).length } as const
  }).pipe(Effect.uninterruptible)
