/**
 * How the orchestrator shows the pool in a terminal: a table of instances (redrawn in place on a
 * TTY) and one plain line per event otherwise. Pure string functions.
 */
import type { BackendInstance, PoolEvent } from "@isthmus/backend-pool"

const pad = (text: string, width: number) =>
  text.length >= width ? text.slice(0, width) : text + " ".repeat(width - text.length)

const colours = {
  Ready: "\u001b[32m",
  Starting: "\u001b[33m",
  Stopping: "\u001b[33m",
  Backoff: "\u001b[35m",
  CrashLoop: "\u001b[31m",
  Failed: "\u001b[31m",
  Stopped: "\u001b[90m",
  Idle: "\u001b[90m"
} as const

const formatDuration = (ms: number) =>
  ms < 1000 ?
    `${Math.round(ms)}ms` :
    ms < 60_000 ?
    `${(ms / 1000).toFixed(1)}s` :
    `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`

export const describeExit = (exit: BackendInstance.LastExit | undefined): string =>
  exit === undefined ? "" : `${exit.reason} (${exit.signal === null ? `code ${exit.code}` : exit.signal})`

/**
 * The status table: where each backend runs (`WHERE`: local, wsl:…, ssh:…), `marks` after the
 * label (e.g. `[simulated]`); `colour` adds ANSI colours for TTYs.
 */
export const renderTable = (
  snapshots: ReadonlyArray<BackendInstance.Snapshot>,
  options: { readonly now: number; readonly marks: ReadonlyMap<string, string>; readonly colour: boolean }
): string => {
  const header = `${pad("BACKEND", 26)} ${pad("STATE", 10)} ${pad("RUN", 4)} ${pad("RESTARTS", 8)} ${pad("PID", 8)} ${
    pad("IN STATE", 9)
  } ${pad("WHERE", 28)} URL`
  const lines = [header]
  for (const s of snapshots) {
    const mark = options.marks.get(s.id)
    const label = `${s.label}${mark === undefined ? "" : ` [${mark}]`}`
    const phase = pad(s.phase, 10)
    const state = options.colour ? `${colours[s.phase]}${phase}\u001b[0m` : phase
    lines.push(
      `${pad(label, 26)} ${state} ${pad(String(s.runId), 4)} ${pad(String(s.restartCount), 8)} ${
        pad(s.pid === undefined ? "-" : String(s.pid), 8)
      } ${pad(formatDuration(Math.max(0, options.now - s.since)), 9)} ${pad(s.location, 28)} ${s.url ?? "-"}`
    )
  }
  if (snapshots.length === 0) lines.push("(no backends)")
  return lines.join("\n")
}

/** One line per pool event, for logs and non-TTY output. */
export const describeEvent = (event: PoolEvent): string => {
  switch (event._tag) {
    case "Registered":
      return `${event.id}: registered`
    case "Unregistered":
      return `${event.id}: unregistered (stop ${event.stop.method}, ${event.stop.durationMs}ms)`
    case "Transition": {
      const s = event.snapshot
      const extra = event.to === "Ready"
        ? ` at ${s.url ?? "?"} (pid ${s.pid ?? "?"})`
        : event.to === "Backoff"
        ? ` for ${s.backoffMs ?? "?"}ms after ${describeExit(s.lastExit)}`
        : event.to === "Failed" || event.to === "CrashLoop"
        ? `: ${s.failure?.message ?? ""}`
        : ""
      return `${event.id}: ${event.from} -> ${event.to} (run ${event.runId})${extra}`
    }
  }
}
