/**
 * The orchestrator's terminal output. On a TTY, a live view: the status table and the latest
 * lines, redrawn in place. Otherwise plain lines, one per event or step, for logs and CI.
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

export const makeOutput = (options: {
  readonly tty: boolean
  /** A marker per backend id shown after its label, e.g. `simulated`. */
  readonly marks: ReadonlyMap<string, string>
  readonly write: (text: string) => void
}): Output => {
  if (!options.tty) {
    return {
      line: (text) => Effect.sync(() => options.write(`${text}\n`)),
      table: (snapshots) =>
        Effect.clockWith((clock) => clock.currentTimeMillis).pipe(
          Effect.map((now) => renderTable(snapshots, { now, marks: options.marks, colour: false })),
          Effect.flatMap((table) => Effect.sync(() => options.write(`${table.replace(/^/gm, "  | ")}\n`)))
        )
    }
  }
  const recent: Array<string> = []
  let lastTable = ""
  const redraw = () => options.write(`\u001b[H\u001b[2J${lastTable}\n\n${recent.join("\n")}\n`)
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
