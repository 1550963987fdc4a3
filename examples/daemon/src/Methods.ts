import { MethodTable } from "@isthmus/rpc-protocol"
import { Schema } from "effect"

/** The daemon's methods, shared by the daemon and its clients (typed calls on both sides). */
export const DaemonMethods = MethodTable.make({
  daemon_info: MethodTable.method({
    params: Schema.Unknown,
    result: Schema.Struct({
      name: Schema.String,
      version: Schema.String,
      pid: Schema.Int,
      mode: Schema.Literals(["native", "wsl"]),
      distro: Schema.NullOr(Schema.String),
      node: Schema.String,
      uptimeMs: Schema.Number,
      endpoints: Schema.Struct({ tcp: Schema.String, ws: Schema.String })
    }),
    idempotent: true
  }),
  list_dir: MethodTable.method({
    params: Schema.Struct({ path: Schema.String }),
    result: Schema.Struct({
      path: Schema.String,
      entries: Schema.Array(Schema.Struct({
        name: Schema.String,
        kind: Schema.Literals(["file", "dir", "other"]),
        bytes: Schema.Number
      })),
      truncated: Schema.Boolean
    }),
    idempotent: true
  }),
  process_stats: MethodTable.method({
    params: Schema.Unknown,
    result: Schema.Struct({
      rssBytes: Schema.Number,
      heapUsedBytes: Schema.Number,
      uptimeMs: Schema.Number,
      loadAverage: Schema.Array(Schema.Number)
    }),
    idempotent: true
  })
})
export type DaemonMethods = typeof DaemonMethods

/** The notification every authenticated client receives each tick. */
export const DaemonTick = Schema.Struct({ name: Schema.String, seq: Schema.Int, rssBytes: Schema.Number })
export type DaemonTick = typeof DaemonTick.Type
