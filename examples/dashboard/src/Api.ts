/**
 * The dashboard's wire contract, shared by the orchestrator (server) and the page (browser).
 * Browser-safe: only `effect` and the core entry of `@isthmus/rpc-protocol`.
 */
import { MethodTable } from "@isthmus/rpc-protocol"
import { Schema } from "effect"

/** One backend as the page shows it. */
export const InstanceView = Schema.Struct({
  id: Schema.String,
  label: Schema.String,
  /** Where it runs: `local`, `wsl:<distro>`, `ssh:<user@host:port>`, `attach:<url>`. */
  location: Schema.String,
  phase: Schema.String,
  runId: Schema.Int,
  pid: Schema.NullOr(Schema.Int),
  url: Schema.NullOr(Schema.String),
  restartCount: Schema.Int,
  /** e.g. "Crashed (signal SIGKILL)", null before any exit. */
  lastExit: Schema.NullOr(Schema.String),
  /** When the instance entered its phase, epoch ms. */
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
  dashboard_start: MethodTable.method({ params: ById, result: Ok }),
  dashboard_stop: MethodTable.method({ params: ById, result: Ok }),
  dashboard_restart: MethodTable.method({ params: ById, result: Ok })
})
export type DashboardMethods = typeof DashboardMethods

/** Notifications the page receives: `instance` (an InstanceView) and `log` (a LogLineView). */
export const Notifications = { instance: "instance", log: "log" } as const
