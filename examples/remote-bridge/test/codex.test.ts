/**
 * The real `codex app-server` behind the same host, when a `codex` binary is present (set
 * `CODEX_BIN`, or have `codex` on PATH). It is never installed by this repository, so the test is
 * skipped, with the reason, on machines without it. Offline, codex answers `initialize` and
 * `thread/list`; no turn can run without a model account.
 */
import { NodeServices } from "@effect/platform-node"
import { BackendPool, LocalLauncher } from "@isthmus/backend-pool"
import { Dialect, Framing, Handshake, RpcPeer } from "@isthmus/rpc-protocol"
import { connectWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Layer, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { startRemoteBridge } from "../src/host.ts"

const findCodex = (): string | undefined => {
  if (process.env["CODEX_BIN"] !== undefined) return process.env["CODEX_BIN"]
  try {
    return execFileSync("sh", ["-c", "command -v codex"], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}
const codex = findCodex()
const pool = BackendPool.layer.pipe(Layer.provide(LocalLauncher.layer), Layer.provide(NodeServices.layer))

describe("remote bridge with the real codex app-server", () => {
  // Skipped without the binary: codex is not an npm or Debian package this repository installs.
  it.skipIf(codex === undefined)("initializes through the pool's handshake and lists threads", async () => {
    const token = Redacted.make("codex-test-token")
    const out = await Effect.runPromise(
      Effect.gen(function*() {
        const remote = yield* startRemoteBridge({ token, codex })
        const peer = yield* RpcPeer.make({
          connect: connectWebSocket(remote.wsUrl),
          dialect: Dialect.lite,
          framing: Framing.webSocket(),
          handshake: Handshake.sequence(
            Handshake.tokenAuth(token),
            Handshake.initialize({ clientInfo: { name: "codex_test", version: "1" } })
          )
        })
        return yield* peer.request("thread/list", {})
      }).pipe(Effect.scoped, Effect.provide(pool))
    )
    expect(out).toHaveProperty("data")
  }, 60_000)
})
