/**
 * `node examples/remote-bridge/src/main.ts [--codex PATH] [--port N]`: one supervised app-server
 * session shared by every browser that opens the printed link (tokens are made fresh each start;
 * the full-access link and a read-only one are printed once, never logged elsewhere).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { BackendPool, LocalLauncher } from "@isthmus/backend-pool"
import { Effect, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { pageUrl, startRemoteBridge } from "./host.ts"

const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}
const token = Redacted.make(randomBytes(24).toString("base64url"))
const viewerToken = Redacted.make(randomBytes(24).toString("base64url"))

const pool = BackendPool.layer.pipe(Layer.provide(LocalLauncher.layer), Layer.provide(NodeServices.layer))

const program = Effect.gen(function*() {
  const remote = yield* startRemoteBridge({
    codex: option("--codex"),
    port: option("--port") === undefined ? undefined : Number(option("--port")),
    token,
    viewerToken
  })
  console.log(`backend: ${option("--codex") === undefined ? "fake app-server" : `${option("--codex")} app-server`}`)
  console.log(`open (full access): ${pageUrl(remote, token)}`)
  console.log(`open (read-only):   ${pageUrl(remote, viewerToken)}`)
  console.log("Ctrl-C stops the bridge and the backend.")
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(pool))

NodeRuntime.runMain(program)
