/**
 * RSS and CPU of each backend's process group, for metrics ({@link PoolMetrics}) and dashboards.
 *
 * Read from Linux's `/proc` (proc(5)); elsewhere nothing is sampled. A host's event loop never
 * waits on it: every read is asynchronous, and a {@link Sampler} reads only the processes of the
 * groups it samples — `/proc/<pid>/stat` and `/proc/<pid>/status` of each member it knows (the
 * group leader at least). New members (a backend's workers) are found by one asynchronous scan of
 * `/proc` shared by every group, at most every `discoverEvery` (default 10 s), or once a second
 * while a group is younger than that (a backend starts its workers early). The caller's schedule
 * bounds the rate of everything else.
 *
 * Only instances started by the `Local` launcher are sampled: their pid leads the backend's
 * process group (the watchdog's, see `Watchdog`). Other launchers' pids are relays on this
 * machine (`wsl.exe`, `ssh`) or none, so their backend's usage is not known here.
 *
 * @module
 */
import { Clock, Duration, Effect } from "effect"
import * as NodeFs from "node:fs"
import type { BackendPool } from "./BackendPool.ts"
import * as ProcTable from "./ProcTable.ts"

/** `/proc/<pid>/stat` times are in `USER_HZ` ticks, 100 per second on Linux whatever the kernel's HZ (proc(5), times(2)). */
export const clockTicksPerSecond = 100

/** What usage needs from `/proc/<pid>/stat`. */
export interface StatUsage {
  /** The process group (field 5). */
  readonly pgrp: number
  /** Not a zombie (`Z`) or dead (`X`). */
  readonly live: boolean
  /** `utime` + `stime` (fields 14 and 15), in clock ticks. */
  readonly cpuTicks: number
  /** `starttime` (field 22): with the pid, the process's identity. */
  readonly startTime: number
}

/**
 * Parses `/proc/<pid>/stat`. The command name (field 2) sits in parentheses and may itself hold
 * spaces and parentheses, so fields are counted after the last `)`.
 */
export const parseStat = (text: string): StatUsage | undefined => {
  const close = text.lastIndexOf(")")
  if (close === -1) return undefined
  // After ") ": field 3 (state) is index 0, so field n is index n - 3.
  const fields = text.slice(close + 2).trim().split(" ")
  const state = fields[0]
  const pgrp = Number(fields[2])
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  const startTime = Number(fields[19])
  if (state === undefined || state === "" || ![pgrp, utime, stime, startTime].every(Number.isInteger)) return undefined
  return { pgrp, live: state !== "Z" && state !== "X", cpuTicks: utime + stime, startTime }
}

/** `VmRSS` of `/proc/<pid>/status`, in bytes; `undefined` when absent (a zombie, a kernel thread). */
export const parseRssBytes = (status: string): number | undefined => {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  return match === null ? undefined : Number(match[1]) * 1024
}

/** One group's usage at one reading. */
export interface GroupUsage {
  /** The process group (its leader's pid). */
  readonly pgid: number
  /** Live processes of the group. */
  readonly processes: number
  /** Sum of their resident set sizes. */
  readonly rssBytes: number
  /** Sum of their CPU time (user + system) so far, in seconds. */
  readonly cpuSeconds: number
  /**
   * CPU use since the previous reading of this group, in percent of one core (200 = two cores
   * busy), counting the processes seen in both readings; `undefined` on a group's first reading.
   */
  readonly cpuPercent: number | undefined
  /** Time since the previous reading (monotonic), in milliseconds; 0 on the first. */
  readonly elapsedMs: number
  /** When this reading was taken (wall clock, ms since the epoch). */
  readonly at: number
}

/** Reads groups' usage, remembering members and CPU times between readings. */
export interface Sampler {
  /**
   * Reads each group named in `groups` (key → pgid) and returns its usage under the same key;
   * groups with no live process left are left out. What a sampler remembers of a key is dropped
   * when the key is absent or names another group.
   */
  readonly sample: (groups: ReadonlyMap<string, number>) => Effect.Effect<ReadonlyMap<string, GroupUsage>>
}

interface Member {
  readonly pid: number
  readonly stat: StatUsage
  readonly rssBytes: number
}

const readText = (file: string) =>
  Effect.promise(() => NodeFs.promises.readFile(file, "latin1").then((t) => t as string | undefined, () => undefined))

/** One process, when it is alive and still in `pgid`. */
const readMember = (pid: number, pgid: number): Effect.Effect<Member | undefined> =>
  Effect.gen(function*() {
    const text = yield* readText(`/proc/${pid}/stat`)
    const stat = text === undefined ? undefined : parseStat(text)
    if (stat === undefined || stat.pgrp !== pgid || !stat.live) return undefined
    const status = yield* readText(`/proc/${pid}/status`)
    return { pid, stat, rssBytes: parseRssBytes(status ?? "") ?? 0 }
  })

/** A {@link Sampler}. */
export const makeSampler = (
  options?: { readonly discoverEvery?: Duration.Input | undefined }
): Effect.Effect<Sampler> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const discoverMs = Duration.toMillis(Duration.fromInputUnsafe(options?.discoverEvery ?? "10 seconds"))
    const nowMs = () => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n)
    let lastScan: number | undefined
    const groupsState = new Map<
      string,
      {
        pgid: number
        firstSeen: number
        known: ReadonlyArray<number>
        ticks: Map<string, number>
        at: number | undefined
      }
    >()

    const sample = (groups: ReadonlyMap<string, number>) =>
      Effect.gen(function*() {
        const out = new Map<string, GroupUsage>()
        if (!ProcTable.available) return out
        for (const [key, state] of groupsState) {
          if (groups.get(key) !== state.pgid) groupsState.delete(key)
        }
        const now = nowMs()
        const young = [...groups.keys()].some((key) => {
          const state = groupsState.get(key)
          return state === undefined || now - state.firstSeen < discoverMs
        })
        const due = lastScan === undefined || now - lastScan >= discoverMs || (young && now - lastScan >= 1_000)
        let table: ReadonlyArray<ProcTable.ProcStat> | undefined
        if (due && groups.size > 0) {
          lastScan = now
          table = yield* ProcTable.scan
        }
        yield* Effect.forEach(groups, ([key, pgid]) =>
          Effect.gen(function*() {
            const state = groupsState.get(key) ?? { pgid, firstSeen: now, known: [], ticks: new Map(), at: undefined }
            const candidates = new Set<number>([pgid, ...state.known])
            if (table !== undefined) { for (const s of table) if (s.pgrp === pgid) candidates.add(s.pid) }
            const members = (yield* Effect.forEach(candidates, (pid) => readMember(pid, pgid), { concurrency: 8 }))
              .filter((m): m is Member => m !== undefined)
            if (members.length === 0) {
              groupsState.delete(key)
              return
            }
            const at = nowMs()
            const ticks = new Map(members.map((m) => [`${m.pid}:${m.stat.startTime}`, m.stat.cpuTicks]))
            let deltaTicks = 0
            for (const [id, t] of ticks) {
              const before = state.ticks.get(id)
              if (before !== undefined) deltaTicks += Math.max(0, t - before)
            }
            const elapsedMs = state.at === undefined ? 0 : at - state.at
            out.set(key, {
              pgid,
              processes: members.length,
              rssBytes: members.reduce((n, m) => n + m.rssBytes, 0),
              cpuSeconds: members.reduce((n, m) => n + m.stat.cpuTicks, 0) / clockTicksPerSecond,
              cpuPercent: state.at === undefined || elapsedMs <= 0
                ? undefined
                : (deltaTicks / clockTicksPerSecond) / (elapsedMs / 1000) * 100,
              elapsedMs,
              at: clock.currentTimeMillisUnsafe()
            })
            groupsState.set(key, { pgid, firstSeen: state.firstSeen, known: members.map((m) => m.pid), ticks, at })
          }), { concurrency: 4, discard: true })
        return out
      })
    return { sample }
  })

/**
 * The process groups of a pool's running `Local` instances (id → pgid), to hand to
 * {@link Sampler.sample}.
 */
export const localGroups = (pool: BackendPool["Service"]): Effect.Effect<ReadonlyMap<string, number>> =>
  Effect.gen(function*() {
    const groups = new Map<string, number>()
    for (const instance of yield* pool.list) {
      const snapshot = yield* instance.snapshot
      if (snapshot.pid === undefined) continue
      const spec = yield* instance.spec
      if (spec.launcher._tag === "Local") groups.set(snapshot.id, snapshot.pid)
    }
    return groups as ReadonlyMap<string, number>
  })
