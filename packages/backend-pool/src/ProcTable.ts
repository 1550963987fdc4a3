/**
 * Linux's process table, read from `/proc` asynchronously (never a synchronous scan on the event
 * loop: an Electron main process would freeze while it runs).
 *
 * @module
 */
import { Effect } from "effect"
import * as NodeFs from "node:fs"

/** The fields of `/proc/<pid>/stat` the pool uses. */
export interface ProcStat {
  readonly pid: number
  /** `R`, `S`, `D`, `Z` (zombie), `T`, … */
  readonly state: string
  readonly ppid: number
  readonly pgrp: number
  readonly session: number
  /** When the process started, in clock ticks since boot: with the pid, its identity. */
  readonly startTime: number
}

/**
 * Parses one `/proc/<pid>/stat` line. The command name sits in parentheses and may itself contain
 * spaces and parentheses, so the fields are read after the last `)`.
 */
export const parseStat = (pid: number, text: string): ProcStat | undefined => {
  const close = text.lastIndexOf(")")
  if (close === -1) return undefined
  const fields = text.slice(close + 2).split(" ")
  // fields[0] is field 3 (state); field N is fields[N - 3].
  const state = fields[0]
  const ppid = Number(fields[1])
  const pgrp = Number(fields[2])
  const session = Number(fields[3])
  const startTime = Number(fields[19])
  if (state === undefined || state === "" || ![ppid, pgrp, session, startTime].every(Number.isInteger)) return undefined
  return { pid, state, ppid, pgrp, session, startTime }
}

/** Whether `/proc/<pid>/stat` can be read here (Linux, WSL). */
export const available: boolean = process.platform === "linux" && NodeFs.existsSync("/proc/self/stat")

/** Whether a process is alive: not a zombie (`Z`) or dead (`X`). */
export const isLive = (stat: ProcStat): boolean => stat.state !== "Z" && stat.state !== "X"

/** Reads one process's stat; `undefined` when it is gone (or `/proc` is absent). */
export const readStat = (pid: number): Effect.Effect<ProcStat | undefined> =>
  Effect.promise(() =>
    NodeFs.promises.readFile(`/proc/${pid}/stat`, "latin1").then(
      (text) => parseStat(pid, text),
      () => undefined
    )
  )

/** Reads several processes' stats (the ones that are gone are left out). */
export const readStats = (pids: Iterable<number>): Effect.Effect<ReadonlyArray<ProcStat>> =>
  Effect.map(
    Effect.forEach(pids, readStat, { concurrency: 16 }),
    (stats) => stats.filter((s): s is ProcStat => s !== undefined)
  )

/** The whole process table (an async scan: a few ms of I/O off the event loop, for rare use). */
export const scan: Effect.Effect<ReadonlyArray<ProcStat>> = Effect.flatMap(
  Effect.promise(() => NodeFs.promises.readdir("/proc").catch(() => [] as Array<string>)),
  (entries) => readStats(entries.filter((e) => e.charCodeAt(0) >= 48 && e.charCodeAt(0) <= 57).map(Number))
)

/**
 * The descendants of `root` in `table` by parent links (not including `root`), whatever their
 * group: this is how a process that left the group (`setsid`) is still found while its parent
 * lives.
 */
export const descendants = (table: ReadonlyArray<ProcStat>, root: number): ReadonlyArray<ProcStat> => {
  const children = new Map<number, Array<ProcStat>>()
  for (const s of table) {
    const list = children.get(s.ppid)
    if (list === undefined) children.set(s.ppid, [s])
    else list.push(s)
  }
  const out: Array<ProcStat> = []
  const seen = new Set<number>([root])
  const queue = [root]
  while (queue.length > 0) {
    const next = queue.shift()!
    for (const child of children.get(next) ?? []) {
      if (seen.has(child.pid)) continue
      seen.add(child.pid)
      out.push(child)
      queue.push(child.pid)
    }
  }
  return out
}
