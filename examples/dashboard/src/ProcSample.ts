/**
 * RSS and CPU of a backend's process group, read from Linux's /proc (where there is one: on other
 * hosts nothing is sampled and the page says so). Parsing is pure; `readGroup` does the reads.
 */
import { readdirSync, readFileSync } from "node:fs"

/** Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux). */
export const clockTicksPerSecond = 100

/** The fields we need from `/proc/<pid>/stat`. */
export interface StatFields {
  readonly pgrp: number
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number
}

/**
 * Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself hold
 * spaces and parentheses, so fields are counted from the last `)` (proc(5)).
 */
export const parseStat = (text: string): StatFields | undefined => {
  const close = text.lastIndexOf(")")
  if (close < 0) return undefined
  // After ") ": field 3 (state) is index 0, so field n is index n - 3.
  const fields = text.slice(close + 2).trim().split(/\s+/)
  const pgrp = Number(fields[5 - 3])
  const utime = Number(fields[14 - 3])
  const stime = Number(fields[15 - 3])
  return Number.isFinite(pgrp) && Number.isFinite(utime) && Number.isFinite(stime)
    ? { pgrp, cpuTicks: utime + stime }
    : undefined
}

/** `VmRSS` of `/proc/<pid>/status`, in bytes (absent for a zombie). */
export const parseRssBytes = (status: string): number | undefined => {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  return match === null ? undefined : Number(match[1]) * 1024
}

/** A group's totals at one moment. */
export interface GroupTotals {
  readonly rssBytes: number
  readonly cpuTicks: number
  readonly members: number
}

const read = (file: string) => {
  try {
    return readFileSync(file, "utf8")
  } catch {
    return undefined // gone meanwhile, or no /proc
  }
}

/**
 * Totals of every process whose process group is `leader` (a launcher starts each run in a group
 * of its own, led by the pid the pool reports), or of `leader` alone when it leads no group.
 * `undefined` without /proc or when the process is gone.
 */
export const readGroup = (leader: number): GroupTotals | undefined => {
  let pids: Array<string>
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name))
  } catch {
    return undefined
  }
  let rssBytes = 0
  let cpuTicks = 0
  let members = 0
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`)
    const fields = stat === undefined ? undefined : parseStat(stat)
    if (fields === undefined || (fields.pgrp !== leader && Number(pid) !== leader)) continue
    members++
    cpuTicks += fields.cpuTicks
    rssBytes += parseRssBytes(read(`/proc/${pid}/status`) ?? "") ?? 0
  }
  return members === 0 ? undefined : { rssBytes, cpuTicks, members }
}

/** CPU use between two readings, percent of one core. */
export const cpuPercent = (before: GroupTotals, after: GroupTotals, elapsedMs: number): number =>
  elapsedMs <= 0
    ? 0
    : Math.max(0, ((after.cpuTicks - before.cpuTicks) / clockTicksPerSecond) / (elapsedMs / 1000) * 100)
