import { BootstrapEnvelope } from "@isthmus/rpc-protocol"
import { Schema } from "effect"

/** What the host hands the daemon on its bootstrap descriptor: one JSON line, never argv. */
export const DaemonBootstrap = BootstrapEnvelope.make(Schema.Struct({
  name: Schema.String,
  token: Schema.String,
  tickMs: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 10, maximum: 3_600_000 })))
}))
export type DaemonBootstrap = typeof DaemonBootstrap.schema.Type
