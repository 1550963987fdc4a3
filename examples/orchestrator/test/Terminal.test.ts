/**
 * The watch view: on a TTY only changed lines are rewritten, checked by replaying the escape
 * sequences on a small model of a terminal screen (cursor moves, erase to end of line, erase
 * below; ECMA-48); without a TTY the table is printed only when something other than the clock
 * changed.
 */
import type { BackendInstance } from "@isthmus/backend-pool"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { frameDiff, makeOutput } from "../src/Terminal.ts"

const esc = String.fromCharCode(27)
const controls = new RegExp(`${esc}\\[(\\d*)(?:;(\\d*))?([HKJm])|([^${esc}\\n]+)|(\\n)`, "g")

/** A screen that understands CUP (ESC[r;cH), EL (ESC[K), ED (ESC[J, ESC[2J), SGR (ignored) and text. */
const replay = (screen: Array<string>, output: string) => {
  let row = 0
  let col = 0
  for (const m of output.matchAll(controls)) {
    if (m[3] === "m") continue // colours do not move anything
    if (m[3] === "H") {
      row = Number(m[1] || 1) - 1
      col = Number(m[2] || 1) - 1
    } else if (m[3] === "K") {
      screen[row] = (screen[row] ?? "").slice(0, col)
    } else if (m[3] === "J") {
      if (m[1] === "2") screen.length = 0
      else {
        screen[row] = (screen[row] ?? "").slice(0, col)
        screen.length = Math.min(screen.length, row + 1)
      }
    } else if (m[4] !== undefined) {
      const line = (screen[row] ?? "").padEnd(col)
      screen[row] = line.slice(0, col) + m[4] + line.slice(col + m[4].length)
      col += m[4].length
    } else if (m[5] !== undefined) {
      row++
      col = 0
    }
  }
  while (screen.length > 0 && screen.at(-1) === "") screen.pop()
  return screen
}

const snapshot = (id: string, phase: BackendInstance.Phase, since: number): BackendInstance.Snapshot => ({
  id,
  label: id,
  phase,
  runId: 1,
  pid: 100,
  url: "tcp://127.0.0.1:1",
  restartCount: 0,
  attempt: 0,
  nextRestartAt: undefined,
  backoffMs: undefined,
  lastExit: undefined,
  lastStop: undefined,
  failure: undefined,
  since,
  location: "this machine",
  port: 1,
  timeInStateMs: 0,
  launchHash: "",
  policyHash: ""
})

describe("frameDiff", () => {
  it("turns one frame into the next, writing only the lines that changed", () => {
    const before = ["header", "alpha Ready 1s", "beta  Ready 2s", "", "event one"]
    const after = ["header", "alpha Ready 2s", "beta  Ready 2s", ""]
    const diff = frameDiff(before, after)
    expect(replay([...before], diff)).toEqual(["header", "alpha Ready 2s", "beta  Ready 2s"])
    expect(diff).not.toContain("header")
    expect(diff).not.toContain("beta")
    expect(frameDiff(after, after)).toBe("")
  })

  it("a longer frame adds its lines", () => {
    const before = ["a", "b"]
    const after = ["a", "B", "c"]
    expect(replay([...before], frameDiff(before, after))).toEqual(after)
  })
})

const run = (tty: boolean, steps: (out: ReturnType<typeof makeOutput>) => Effect.Effect<void>) => {
  const writes: Array<string> = []
  const out = makeOutput({ tty, marks: new Map(), write: (t) => writes.push(t) })
  Effect.runSync(steps(out))
  return writes
}

describe("makeOutput", () => {
  it("without a TTY, prints the table only when something but the clock changed", () => {
    const writes = run(false, (out) =>
      Effect.gen(function*() {
        yield* out.table([snapshot("a", "Ready", 0)])
        yield* out.table([snapshot("a", "Ready", 0)]) // a second later: same rows
        yield* out.table([snapshot("a", "Ready", 0)])
        yield* out.table([snapshot("a", "Stopping", 5)])
      }))
    expect(writes).toHaveLength(2)
    expect(writes[0]).toContain("Ready")
    expect(writes[1]).toContain("Stopping")
  })

  it("on a TTY, clears once and then rewrites only the changed lines", () => {
    const writes = run(true, (out) =>
      Effect.gen(function*() {
        yield* out.table([snapshot("a", "Ready", 0), snapshot("b", "Ready", 0)])
        yield* out.table([snapshot("a", "Ready", 0), snapshot("b", "Stopping", 0)])
      }))
    expect(writes[0]).toContain(`${esc}[2J`)
    expect(writes[1]).not.toContain(`${esc}[2J`)
    const screen = replay(replay([], writes[0]!), writes[1]!)
    expect(screen.some((l) => /^b\s+Stopping/.test(l))).toBe(true)
    expect(screen.some((l) => /^a\s+Ready/.test(l))).toBe(true)
    expect(writes[1]).not.toMatch(/a\s+Ready/) // row a did not change (its IN STATE may: not here)
  })
})
