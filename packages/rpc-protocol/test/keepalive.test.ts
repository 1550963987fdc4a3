/**
 * Keepalive and half-open detection (issue #11 point 4): a proxy on loopback stops forwarding
 * without closing anything, as a NAT or a mobile network does; the peer notices through
 * WebSocket ping/pong or an application-level ping, closes the connection as `HalfOpen`, and
 * reconnects. Intervals are short (200 ms, with a 1 s answer timeout that a loaded machine's pauses
 * stay under) so the test is quick; it waits on status events, never on a wall-clock bound.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, connectWebSocket, serveTcp, serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Effect, Fiber, Stream } from "effect"
import { freezingProxy } from "./support/proxy.ts"

/** Collects statuses until the peer is connected for the second time. */
const untilSecondConnection = (peer: RpcPeer.RpcPeer) =>
  Effect.forkChild(
    peer.statusChanges.pipe(
      Stream.takeUntil((s) => s._tag === "Connected" && s.connection === 2),
      Stream.runCollect
    ),
    { startImmediately: true }
  )

const halfOpenBackoff = (statuses: ReadonlyArray<RpcPeer.PeerStatus>) => {
  const backoff = statuses.find((s) => s._tag === "BackingOff")
  return backoff?._tag === "BackingOff" ? backoff.lastError.reason : undefined
}

describe("half-open detection", () => {
  it.live("WebSocket: no pong within the timeout closes the connection as HalfOpen and reconnects", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: {},
        handlers: {},
        // The server's own pings would notice too; leave the detection to the client here.
        idleTimeout: "1 hour"
      })
      const { port } = yield* serveWebSocket(server, { keepalive: false })
      const proxy = yield* freezingProxy(port)
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${proxy.port}/`, {
          keepalive: { interval: "200 millis", timeout: "1 second" }
        }),
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        reconnect: { initialDelay: "20 millis" }
      })
      assert.deepStrictEqual(yield* peer.request("ping"), { ok: true })
      const statuses = yield* untilSecondConnection(peer)
      proxy.freeze()
      const seen = yield* Fiber.join(statuses)
      assert.strictEqual(halfOpenBackoff(seen), "HalfOpen")
      assert.isAtLeast(proxy.accepted(), 2)
      assert.deepStrictEqual(yield* peer.request("ping"), { ok: true })
    }))

  it.live("NDJSON: an unanswered keepalive ping closes the connection as HalfOpen and reconnects", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: {},
        handlers: {}
      })
      const { port } = yield* serveTcp(server)
      const proxy = yield* freezingProxy(port)
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port: proxy.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        keepalive: { interval: "200 millis", timeout: "1 second" },
        reconnect: { initialDelay: "20 millis" }
      })
      yield* peer.awaitReady
      const statuses = yield* untilSecondConnection(peer)
      proxy.freeze()
      const seen = yield* Fiber.join(statuses)
      assert.strictEqual(halfOpenBackoff(seen), "HalfOpen")
      assert.deepStrictEqual(yield* peer.request("ping"), { ok: true })
    }))

  it.live("an idle connection whose pings are answered stays up (the keepalive is the only traffic)", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: {},
        handlers: {}
      })
      const { port } = yield* serveTcp(server)
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        // A timeout far above any pause a loaded machine causes: the point is that answered pings keep it up.
        keepalive: { interval: "100 millis", timeout: "20 seconds" }
      })
      yield* peer.awaitReady
      // Five intervals without any call: pings go out and come back.
      yield* Effect.sleep("500 millis")
      assert.strictEqual(yield* peer.state, "connected")
      assert.strictEqual((yield* peer.stats).connections, 1)
    }))

  it.live("the WebSocket server drops a client that stopped answering its pings", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: {},
        handlers: {}
      })
      const { port } = yield* serveWebSocket(server, { keepalive: { interval: "200 millis", timeout: "1 second" } })
      const proxy = yield* freezingProxy(port)
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${proxy.port}/`, { keepalive: false }),
        dialect: Dialect.lite,
        framing: Framing.webSocket()
      })
      assert.deepStrictEqual(yield* peer.request("ping"), { ok: true })
      assert.strictEqual(yield* server.connections, 1)
      proxy.freeze()
      while ((yield* server.connections) > 0) yield* Effect.sleep("50 millis")
    }))
})
