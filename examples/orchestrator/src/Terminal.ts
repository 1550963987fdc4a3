/**
 * The orchestrator's terminal output. On a TTY, a live view: the status table and the latest
 * lines, where only the lines that changed are rewritten. Otherwise plain lines, one per event or
 * step, and the table only when something in it changed (not every tick), for logs and CI.
 */
import type { BackendInstance } from "@isthmus/backend-pool"
import { Effect } from "effect"
import { renderTable } from "./Status.ts"

export interface Output {
  /** A line of narrative (steps, calls, notifications). */
  readonly line: (text: string) => Effect.Effect<void>
  /** The current table: printed as a block on plain output, redrawn in place on a TTY. */
  readonly table: (snapshots: ReadonlyArray<BackendInstance.Snapshot>) => Effect.Effect<void>
}

/**
 * The escape sequences that turn the screen showing `previous` into `next`, rewriting only the
 * lines that differ: `ESC[<row>;1H` moves to a line, `ESC[K` clears the rest of it, `ESC[J`
 * clears below the last line when the frame got shorter. Pure.
 */
export const frameDiff = (previous: ReadonlyArray<string>, next: ReadonlyArray<string>): string => {
  let out = ""
  for (let row = 0; row < next.length; row++) {
    if (previous[row] !== next[row]) out += `\u001b[${row + 1};1H${next[row]}\u001b[K`
  }
  if (next.length < previous.length) out += `\u001b[${next.length + 1};1H\u001b[J`
  return out
}

/** What a table shows apart from the clock (the IN STATE column moves every second). */
const tableKey = (snapshots: ReadonlyArray<BackendInstance.Snapshot>) =>
  JSON.stringify(snapshots.map((s) => [s.id, s.label, s.phase, s.runId, s.restartCount, s.pid, s.url]))

export const makeOutput = (options: {
  readonly tty: boolean
  /** A marker per backend id shown after its label, e.g. `simulated`. */
  readonly marks: ReadonlyMap<string, string>
  readonly write: (text: string) => void
}): Output => {
  if (!options.tty) {
    let lastKey: string | undefined
    return {
      line: (text) => Effect.sync(() => options.write(`${text}\n`)),
      table: (snapshots) =>
        Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
          Effect.flatMap((now) =>
            Effect.sync(() => {
              const key = tableKey(snapshots)
              if (key === lastKey) return // nothing but the clock moved
              lastKey = key
              const table = renderTable(snapshots, { now, marks: options.marks, colour: false })
              options.write(`${table.replace(/^/gm, "  | ")}\n`)
            })
          )
        )
    }
  }
  const recent: Array<string> = []
  let lastTable = ""
  let shown: ReadonlyArray<string> | undefined
  const redraw = () => {
    const frame = [...lastTable.split("\n"), "", ...recent]
    // The first frame clears the screen; after that only changed lines are written.
    options.write(shown === undefined ? `\u001b[H\u001b[2J${frame.join("\n")}` : frameDiff(shown, frame))
    shown = frame
  }
  return {
    line: (text) =>
      Effect.sync(() => {
        recent.push(text)
        if (recent.length > 18) recent.shift()
        redraw()
      }),
    table: (snapshots) =>
      Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
        Effect.flatMap((now) =>
          Effect.sync(() => {
            lastTable = renderTable(snapshots, { now, marks: options.marks, colour: true })
            redraw()
          })
        )
      )
  }
}
