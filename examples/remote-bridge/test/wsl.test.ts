/**
 * `--wsl`: the same host with `codex app-server` inside a WSL distro over `wsl.exe`'s stdio, run
 * through `fake-wsl` (`@isthmus/wsl/testing`, which models WSL#2496: killing `wsl.exe` leaves the
 * Linux process running). The "codex" in the distro is a script that runs the fake app-server.
 */
import { NodeServices } from "@effect/platform-node"
import { BackendPool, WslLauncher } from "@isthmus/backend-pool"
import { Dialect, Framing, Handshake, RpcPeer } from "@isthmus/rpc-protocol"
import { connectWebSocket } from "@isthmus/rpc-protocol/node"
import { Wsl } from "@isthmus/wsl/node"
import { fakeWslHostOptions } from "@isthmus/wsl/testing"
import { Effect, Layer, Redacted } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { describe, expect, it } from "vitest"
import { fakeAppServerEntry, startRemoteBridge } from "../src/host.ts"

/** Live processes whose command line carries `mark` (zombies do not count). */
const marked = (mark: string): Array<number> =>
  NodeFs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
    try {
      const stat = NodeFs.readFileSync(`/proc/${pid}/stat`, "latin1")
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false
      return NodeFs.readFileSync(`/proc/${pid}/cmdline`, "latin1").includes(mark)
    } catch {
      return false
    }
  })

describe("remote bridge with codex app-server inside WSL (fake-wsl)", () => {
  it(
    "initializes through the pool's handshake over wsl.exe's stdio, serves a client, and leaves nothing in the distro",
    async () => {
      const mark = NodeCrypto.randomUUID()
      const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), `remote-wsl-${mark}-`))
      // `codex` inside the distro: takes `app-server`, speaks its protocol on stdio.
      const codex = NodePath.join(dir, "codex")
      NodeFs.writeFileSync(
        codex,
        `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${
          JSON.stringify(fakeAppServerEntry)
        } --delta-delay-ms 1 --mark ${mark}\n`,
        { mode: 0o755 }
      )
      const record = NodePath.join(dir, "record.jsonl")
      const host = fakeWslHostOptions({
        record,
        distros: [{ name: "Ubuntu", state: "Running", default: true, networkingMode: "nat" }]
      })
      const pool = BackendPool.layer.pipe(
        Layer.provide(WslLauncher.layer({ host })),
        Layer.provide(Wsl.layer({ host })),
        Layer.provide(NodeServices.layer)
      )
      const token = Redacted.make("wsl-remote-token")
      const out = await Effect.runPromise(
        Effect.gen(function*() {
          const remote = yield* startRemoteBridge({ token, codex, wsl: "Ubuntu" })
          const peer = yield* RpcPeer.make({
            connect: connectWebSocket(remote.wsUrl),
            dialect: Dialect.lite,
            framing: Framing.webSocket(),
            handshake: Handshake.sequence(
              Handshake.tokenAuth(token),
              Handshake.initialize({ clientInfo: { name: "wsl_client", version: "1" } })
            )
          })
          const started = (yield* peer.request("thread/start", {})) as { thread: { id: string } }
          const listed = (yield* peer.request("thread/list", {})) as { data: Array<{ id: string }> }
          return { started: started.thread.id, listed: listed.data.map((t) => t.id), running: marked(mark).length }
        }).pipe(Effect.scoped, Effect.provide(pool))
      )
      expect([out.started, out.listed]).toEqual(["thr_1", ["thr_1"]])
      expect(out.running).toBeGreaterThanOrEqual(3) // fake-wsl, the watchdog, the backend
      const launch = NodeFs.readFileSync(record, "utf8").trim().split("\n").map((l) =>
        JSON.parse(l) as { argv: Array<string> }
      ).find((i) => i.argv.includes(codex))!
      expect(launch.argv.slice(0, 4)).toEqual(["--distribution", "Ubuntu", "--exec", "sh"])
      expect(launch.argv.slice(-2)).toEqual([codex, "app-server"])
      // The pool stopped it inside the distro when the host's scope closed: nothing of it is left.
      expect(marked(mark)).toEqual([])
      NodeFs.rmSync(dir, { recursive: true, force: true })
    },
    120_000
  )
})
