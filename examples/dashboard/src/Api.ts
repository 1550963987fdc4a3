/**
 * The dashboard's wire contract, shared by the orchestrator (server) and the page (browser).
 * Browser-safe: only `effect` and the core entry of `@isthmus/rpc-protocol`.
 */
import { MethodTable } from "@isthmus/rpc-protocol"
import { Schema } from "effect"

/** Why an instance is parked or backing off, with the last lines it printed. */
export const FailureView = Schema.Struct({
  reason: Schema.String,
  message: Schema.String,
  /** The last log lines at the time (at most 20). */
  tail: Schema.Array(Schema.String)
})
export type FailureView = typeof FailureView.Type

/** One backend as the page shows it. */
export const InstanceView = Schema.Struct({
  id: Schema.String,
  label: Schema.String,
  phase: Schema.String,
  runId: Schema.Int,
  pid: Schema.NullOr(Schema.Int),
  url: Schema.NullOr(Schema.String),
  restartCount: Schema.Int,
  /** The launcher kind: `Local`, `Wsl`, `Ssh`, `Attach` or a custom kind. */
  launcher: Schema.String,
  /** Where it runs: "this machine", the WSL distro, the SSH host, the attached URL's host. */
  host: Schema.String,
  /** e.g. "Crashed (signal SIGKILL)", null before any exit. */
  lastExit: Schema.NullOr(Schema.String),
  /** When the last exit happened, epoch ms. */
  lastExitAt: Schema.NullOr(Schema.Number),
  failure: Schema.NullOr(FailureView),
  /** When the instance entered its phase, epoch ms (uptime, while Ready). */
  since: Schema.Number,
  /** Where its log file is, when it has one. */
  logFile: Schema.NullOr(Schema.String)
})
export type InstanceView = typeof InstanceView.Type

/** One stamped log line. */
export const LogLineView = Schema.Struct({
  id: Schema.String,
  seq: Schema.Int,
  runId: Schema.Int,
  time: Schema.Number,
  source: Schema.Literals(["stdout", "stderr", "system"]),
  text: Schema.String
})
export type LogLineView = typeof LogLineView.Type

/**
 * One sample of an instance: its process group's RSS, CPU and processes (from /proc, for a running
 * Local instance where there is one: `ResourceUsage` of `@isthmus/backend-pool`), and its log's
 * losses and queues.
 */
export const SampleView = Schema.Struct({
  id: Schema.String,
  time: Schema.Number,
  rssBytes: Schema.NullOr(Schema.Number),
  /** CPU used since the previous sample, percent of one core. */
  cpuPercent: Schema.NullOr(Schema.Number),
  /** Live processes in the group. */
  processes: Schema.NullOr(Schema.Int),
  restartCount: Schema.Int,
  /** Log lines lost so far (slow live subscribers and the file writer). */
  logDropped: Schema.Int,
  /** Lines waiting in the fullest live log subscriber's buffer. */
  logQueued: Schema.Int,
  /** Log bytes waiting for the disk. */
  logPendingBytes: Schema.Int
})
export type SampleView = typeof SampleView.Type

const ById = Schema.Struct({ id: Schema.String })
const Ok = Schema.Struct({ ok: Schema.Boolean })

/** Methods the page calls (after the token `auth`). */
export const DashboardMethods = MethodTable.make({
  dashboard_status: MethodTable.method({ result: Schema.Array(InstanceView), idempotent: true }),
  dashboard_logs: MethodTable.method({
    params: Schema.Struct({
      id: Schema.String,
      limit: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1000 }))
    }),
    result: Schema.Array(LogLineView),
    idempotent: true
  }),
  /** The samples kept for every instance (the last minutes), oldest first. */
  dashboard_samples: MethodTable.method({ result: Schema.Array(SampleView), idempotent: true }),
  dashboard_start: MethodTable.method({ params: ById, result: Ok }),
  dashboard_stop: MethodTable.method({ params: ById, result: Ok }),
  dashboard_restart: MethodTable.method({ params: ById, result: Ok })
})
export type DashboardMethods = typeof DashboardMethods

/** Notifications the page receives: `instance` (an InstanceView), `log` (a LogLineView), `sample` (a SampleView). */
export const Notifications = { instance: "instance", log: "log", sample: "sample" } as const

/** How long samples are kept (and plotted). */
export const sampleWindowMs = 5 * 60_000

/**
 * What a log line is, for the page: the pool's own lines (`system`: run boundaries, exits),
 * protocol traffic a backend writes on its output (the ready signal, JSON-RPC messages), or the
 * backend's ordinary `stdout` / `stderr`. Pure, so both sides and the tests agree.
 */
export const lineKind = (line: Pick<LogLineView, "source" | "text">): "system" | "protocol" | "stdout" | "stderr" => {
  if (line.source === "system") return "system"
  const text = line.text.trimStart()
  if (text.startsWith("@@isthmus:") || /^\{\s*"(jsonrpc|id|method)"\s*:/.test(text)) return "protocol"
  return line.source
}

/**
 * The WebSocket next to the page: `/rpc` on the scheme, host and port the page was loaded from
 * (`location`), so the dashboard works through a port forward or a proxy on another port.
 */
export const pageWsUrl = (page: { readonly protocol: string; readonly host: string }): string =>
  `${page.protocol === "https:" ? "wss:" : "ws:"}//${page.host}/rpc`
