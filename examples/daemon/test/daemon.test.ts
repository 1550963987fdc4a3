/**
 * The example daemon over real loopback sockets: token auth first on TCP, Bearer on the
 * WebSocket upgrade, and `list_dir` confined to the daemon's root.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, RpcPeer } from "@isthmus/rpc-protocol"
import { connectTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Redacted, Stream } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connectDaemonTcp, connectDaemonWs, parseTcpUrl } from "../../orchestrator/src/DaemonClient.ts"
import { startDaemon } from "../src/Daemon.ts"
import { DaemonMethods } from "../src/Methods.ts"

const token = Redacted.make("daemon-test-token")

const withDaemon = Effect.gen(function*() {
  const root = mkdtempSync(join(tmpdir(), "daemon-root-"))
  mkdirSync(join(root, "src"))
  writeFileSync(join(root, "README.md"), "hello")
  const daemon = yield* startDaemon({ name: "test", token, root })
  return { root, daemon }
})

describe("example daemon", () => {
  it.live("answers nothing but ping before auth, then everything after it", () =>
    Effect.gen(function*() {
      const { daemon } = yield* withDaemon
      const address = parseTcpUrl(daemon.tcpUrl)!
      const anonymous = yield* RpcPeer.make({
        connect: connectTcp(address),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: DaemonMethods
      })
      assert.deepStrictEqual(yield* anonymous.request("ping"), { ok: true })
      const refused = yield* Effect.flip(anonymous.call("daemon_info", undefined))
      assert.strictEqual(refused.message, "unauthorized")
      const wrong = yield* Effect.flip(anonymous.request("auth", { token: "nope" }))
      assert.strictEqual(wrong.message, "invalid token")

      const peer = yield* connectDaemonTcp(daemon.tcpUrl, token)
      const info = yield* peer.call("daemon_info", undefined)
      assert.strictEqual(info.name, "test")
      assert.strictEqual(info.pid, process.pid)
      assert.deepStrictEqual(info.endpoints, { tcp: daemon.tcpUrl, ws: daemon.wsUrl })
    }).pipe(Effect.scoped))

  it.live("list_dir lists below its root and refuses to climb out of it", () =>
    Effect.gen(function*() {
      const { daemon } = yield* withDaemon
      const peer = yield* connectDaemonTcp(daemon.tcpUrl, token)
      const listing = yield* peer.call("list_dir", { path: "." })
      assert.deepStrictEqual(listing.entries.map((e) => [e.name, e.kind]), [["README.md", "file"], ["src", "dir"]])
      assert.strictEqual(listing.entries[0]?.bytes, 5)
      for (const path of ["..", "../..", "/etc", "src/../../x"]) {
        const error = yield* Effect.flip(peer.call("list_dir", { path }))
        assert.match(error.message, /outside the daemon's root/)
      }
    }).pipe(Effect.scoped))

  it.live("WebSocket: Bearer token on the upgrade, a wrong one refused, ticks reach authenticated clients", () =>
    Effect.gen(function*() {
      const { daemon } = yield* withDaemon
      const refused = yield* Effect.exit(connectDaemonWs(daemon.wsUrl, Redacted.make("wrong")))
      assert.strictEqual(refused._tag, "Failure")
      const peer = yield* connectDaemonWs(daemon.wsUrl, token)
      const notifications = yield* peer.subscribe
      const stats = yield* peer.call("process_stats", undefined)
      assert.isAbove(stats.rssBytes, 0)
      yield* daemon.tick
      const tick = yield* Stream.runHead(notifications)
      assert.strictEqual(tick._tag === "Some" ? tick.value.method : "none", "daemon_tick")
      assert.deepInclude(tick._tag === "Some" ? tick.value.params : {}, { name: "test", seq: 1 })
    }).pipe(Effect.scoped))
})
