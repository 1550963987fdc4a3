/**
 * /proc parsing against proc(5)'s layout (a command name with spaces and parentheses) and, for
 * this very process, against `ps` as an independent reader of the same numbers.
 */
import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { cpuPercent, parseRssBytes, parseStat, readGroup } from "../src/ProcSample.ts"

describe("ProcSample", () => {
  it("counts fields from the last parenthesis, so a command name cannot shift them", () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    const stat = "4242 (my (odd) name) S 1 4240 4240 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 123 456 789"
    expect(parseStat(stat)).toEqual({ pgrp: 4240, cpuTicks: 300 })
    expect(parseStat("garbage")).toBe(undefined)
  })

  it("reads VmRSS in kB as bytes, and nothing for a zombie", () => {
    expect(parseRssBytes("Name:\tnode\nVmRSS:\t  123456 kB\nThreads:\t7\n")).toBe(123456 * 1024)
    expect(parseRssBytes("Name:\tzombie\nState:\tZ (zombie)\n")).toBe(undefined)
  })

  it("CPU percent of one core between two readings", () => {
    const before = { rssBytes: 0, cpuTicks: 1000, members: 1 }
    expect(cpuPercent(before, { ...before, cpuTicks: 1050 }, 1000)).toBe(50)
    expect(cpuPercent(before, { ...before, cpuTicks: 1200 }, 1000)).toBe(200)
    expect(cpuPercent(before, before, 0)).toBe(0)
  })

  it.skipIf(process.platform !== "linux")("this process's RSS agrees with ps (within 10%)", () => {
    const ours = readGroup(process.pid)!
    const ps = Number(execFileSync("ps", ["-o", "rss=", "-p", String(process.pid)], { encoding: "utf8" }).trim()) * 1024
    // readGroup sums the group led by this pid; vitest's worker leads none, so it is this process alone.
    expect(ours.members).toBeGreaterThanOrEqual(1)
    expect(Math.abs(ours.rssBytes - ps) / ps).toBeLessThan(0.1)
  })
})
