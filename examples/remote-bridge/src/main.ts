/**
 * `node examples/remote-bridge/src/main.ts [--codex PATH [--wsl DISTRO]] [--port N]`: one supervised
 * app-server session shared by every browser that opens the printed link (tokens are made fresh
 * each start; the full-access link and a read-only one are printed once, never logged elsewhere).
 * With `--wsl`, `codex app-server` runs inside that distro over `wsl.exe`'s stdio, and PATH is
 * its Linux path there.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { BackendPool, LocalLauncher, WslLauncher } from "@isthmus/backend-pool"
import { Wsl } from "@isthmus/wsl/node"
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

const wsl = option("--wsl")
if (wsl !== undefined && option("--codex") === undefined) {
  console.error("--wsl DISTRO runs codex app-server inside the distro: give its Linux path there with --codex PATH")
  process.exit(2)
}
const pool = BackendPool.layer.pipe(
  Layer.provide(wsl === undefined ? LocalLauncher.layer : Layer.provide(WslLauncher.layer(), Wsl.layer())),
  Layer.provide(NodeServices.layer)
)

const program = Effect.gen(function*() {
  const remote = yield* startRemoteBridge({
    codex: option("--codex"),
    wsl,
    port: option("--port") === undefined ? undefined : Number(option("--port")),
    token,
    viewerToken
  })
  const where = wsl === undefined ? "" : ` in WSL (${wsl})`
  console.log(
    `backend: ${option("--codex") === undefined ? "fake app-server" : `${option("--codex")} app-server${where}`}`
  )
  console.log(`open (full access): ${pageUrl(remote, token)}`)
  console.log(`open (read-only):   ${pageUrl(remote, viewerToken)}`)
  console.log("Ctrl-C stops the bridge and the backend.")
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(pool))

NodeRuntime.runMain(program)
