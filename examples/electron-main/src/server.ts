/**
 * The app's backend: a small HTTP server written with `@isthmus/backend-pool/child`. Electron
 * starts it with its own binary as Node (`ELECTRON_RUN_AS_NODE=1`, set by `Settings.desiredSpecs`).
 * Reads its bootstrap envelope (name and token) on fd 3, binds 127.0.0.1 port 0, reports the URL,
 * answers `GET /` with a bearer token only, and exits when the app goes away.
 */
import { exitWhenHostGone, readBootstrap, signalReady } from "@isthmus/backend-pool/child"
import { BootstrapEnvelope } from "@isthmus/rpc-protocol"
import { Effect, Option, Schema } from "effect"
import { timingSafeEqual } from "node:crypto"
import * as http from "node:http"

const Envelope = BootstrapEnvelope.make(Schema.Struct({ name: Schema.String, token: Schema.String }))

/** Constant-time comparison of the presented bearer token with ours. */
const authorized = (header: string | undefined, token: string): boolean => {
  const presented = Buffer.from(header?.startsWith("Bearer ") ? header.slice(7) : "")
  const expected = Buffer.from(token)
  return presented.length === expected.length && timingSafeEqual(presented, expected)
}

Effect.runPromise(Effect.gen(function*() {
  yield* exitWhenHostGone()
  const boot = yield* readBootstrap(Envelope)
  if (Option.isNone(boot)) return yield* Effect.die(new Error("server.ts: started without a bootstrap envelope"))
  const { name, token } = boot.value
  const server = http.createServer((req, res) => {
    if (!authorized(req.headers.authorization, token)) {
      res.writeHead(401).end()
      return
    }
    res.setHeader("content-type", "application/json")
    res.end(JSON.stringify({ name, electronRunAsNode: process.env["ELECTRON_RUN_AS_NODE"] ?? null }))
  })
  yield* Effect.callback<void>((resume) => {
    server.listen(0, "127.0.0.1", () => resume(Effect.void))
  })
  const { port } = server.address() as { port: number }
  yield* signalReady({ url: `http://127.0.0.1:${port}` })
}))
