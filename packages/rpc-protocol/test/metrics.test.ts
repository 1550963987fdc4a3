/**
 * RpcMetrics after scripted runs over real loopback TCP: every value is compared with what the
 * test itself did or saw (calls it made and how each ended, handlers it saw start, lines a raw
 * client read off the socket), never with the peers' own counters.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  Dialect,
  Framing,
  Handshake,
  MethodTable,
  RpcBridge,
  RpcError,
  RpcMetrics,
  RpcPeer,
  RpcServer
} from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Deferred, Effect, Fiber, Metric, Queue, Redacted, Schema, Stream } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { readFileSync } from "node:fs"
import { type Json, jsonLines, reply } from "./support/jsonLines.ts"

/** One series' value (a counter's count or a gauge's value); fails the test when it is not exactly one series. */
const read = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>) =>
  Effect.map(Metric.snapshot, (snapshots) => {
    const matching = snapshots.filter((s) =>
      s.id === metric.id &&
      Object.entries(attributes).every(([k, v]) => (s.attributes as Record<string, string> | undefined)?.[k] === v)
    )
    assert.strictEqual(matching.length, 1, `one series of ${metric.id} ${JSON.stringify(attributes)}`)
    const state = matching[0]!.state as { readonly count?: number; readonly value?: number }
    return state.count ?? state.value ?? Number.NaN
  })

/** Runs `effect` with a metric registry of its own, so other tests' peers do not add up. */
const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

const Methods = MethodTable.make({
  echo: MethodTable.method({ params: Schema.String, result: Schema.String }),
  fail: MethodTable.method({}),
  slow: MethodTable.method({})
})

/** A server that holds one connection and closes one that does not authenticate within 200 ms. */
const gatedServer = (name: string) =>
  RpcServer.make({
    dialect: Dialect.daemon,
    framing: Framing.ndjson(),
    methods: MethodTable.make({}),
    handlers: {},
    maxConnections: 1,
    auth: { token: Redacted.make("t") },
    authTimeout: "200 millis",
    metrics: { name }
  })

describe("RpcMetrics", () => {
  it.live("a server and two clients: calls and errors by tag, requests, auth failures, in flight, pending", () =>
    isolated(
      Effect.gen(function*() {
        const entered = yield* Queue.unbounded<void>()
        const release = yield* Deferred.make<void>()
        const server = yield* RpcServer.make({
          dialect: Dialect.daemon, // no cancel message: a timed-out call's handler runs on
          framing: Framing.ndjson(),
          methods: Methods,
          handlers: {
            echo: (text) => Effect.succeed(text),
            fail: () => Effect.fail(new RpcError({ message: "refused on purpose" })),
            slow: () => Effect.andThen(Queue.offer(entered, undefined), Deferred.await(release))
          },
          auth: { token: Redacted.make("right") },
          concurrency: 3,
          maxQueuedRequests: 1,
          metrics: { name: "svc" }
        })
        const { port } = yield* serveTcp(server)
        const client = (name: string, token: string) =>
          RpcPeer.make({
            connect: connectTcp({ port }),
            dialect: Dialect.daemon,
            framing: Framing.ndjson(),
            methods: Methods,
            handshake: Handshake.tokenAuth(Redacted.make(token)),
            metrics: { name }
          })
        const app = yield* client("app", "right")
        const intruder = yield* client("intruder", "wrong")

        // The script, and what the test itself counts of it.
        for (let i = 0; i < 7; i++) assert.strictEqual(yield* app.call("echo", `hi ${i}`), `hi ${i}`)
        for (let i = 0; i < 3; i++) {
          assert.strictEqual((yield* Effect.flip(app.call("fail", undefined)))._tag, "RpcError")
        }
        const schemaFailure = yield* Effect.flip(app.call("echo", 42 as unknown as string))
        assert.strictEqual(schemaFailure._tag, "RpcSchemaError") // refused before it was sent
        for (let i = 0; i < 2; i++) {
          const timedOut = yield* Effect.flip(app.call("slow", undefined, { timeout: "100 millis" }))
          assert.strictEqual(timedOut._tag, "RpcTimeoutError")
        }
        const third = yield* Effect.forkChild(app.call("slow", undefined), { startImmediately: true })
        for (let i = 0; i < 3; i++) yield* Queue.take(entered) // every slow handler has started
        // The connection's 3 slots are taken: one more waits for a slot, the next is refused.
        const fourth = yield* Effect.forkChild(app.call("slow", undefined), { startImmediately: true })
        const overloaded = yield* Effect.flip(app.call("slow", undefined))
        assert.strictEqual(overloaded._tag, "RpcError")
        const rejected = yield* Effect.flip(intruder.call("echo", "let me in"))
        assert.strictEqual(rejected._tag, "HandshakeError")

        const appSeries = { name: "app", role: "client" }
        assert.strictEqual(yield* read(RpcMetrics.calls, appSeries), 7 + 3 + 1 + 2 + 1 + 1 + 1)
        assert.strictEqual(yield* read(RpcMetrics.callErrors, { ...appSeries, error: "RpcError" }), 3 + 1)
        assert.strictEqual(yield* read(RpcMetrics.callErrors, { ...appSeries, error: "RpcSchemaError" }), 1)
        assert.strictEqual(yield* read(RpcMetrics.callErrors, { ...appSeries, error: "RpcTimeoutError" }), 2)
        assert.strictEqual(yield* read(RpcMetrics.callErrors, { ...appSeries, error: "PeerDisconnectedError" }), 0)
        assert.strictEqual(yield* read(RpcMetrics.callsPending, appSeries), 2) // the third and fourth slow calls
        assert.strictEqual(yield* read(RpcMetrics.connectionsTotal, appSeries), 1)
        assert.strictEqual(yield* read(RpcMetrics.connections, appSeries), 1)
        const intruderSeries = { name: "intruder", role: "client" }
        assert.strictEqual(yield* read(RpcMetrics.calls, intruderSeries), 1)
        assert.strictEqual(yield* read(RpcMetrics.callErrors, { ...intruderSeries, error: "HandshakeError" }), 1)
        assert.strictEqual(yield* read(RpcMetrics.connections, intruderSeries), 0)

        const svc = { name: "svc", role: "server" }
        // Requests handed to a handler: app's auth + 7 echo + 3 fail + 3 slow, the intruder's auth.
        assert.strictEqual(yield* read(RpcMetrics.requests, svc), 1 + 7 + 3 + 3 + 1)
        assert.strictEqual(yield* read(RpcMetrics.requestErrors, svc), 3 + 1)
        assert.strictEqual(yield* read(RpcMetrics.requestsInFlight, svc), 3) // the three blocked handlers
        assert.strictEqual(yield* read(RpcMetrics.requestsQueued, svc), 1) // the fourth
        assert.strictEqual(yield* read(RpcMetrics.requestsOverloaded, svc), 1) // the fifth
        assert.strictEqual(yield* read(RpcMetrics.authFailures, { name: "svc" }), 1)
        assert.strictEqual(yield* read(RpcMetrics.connectionsTotal, svc), 2)

        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(third)
        yield* Fiber.join(fourth)
        assert.strictEqual(yield* read(RpcMetrics.requests, svc), 1 + 7 + 3 + 3 + 1 + 1) // the fourth got its slot
        yield* app.close
        yield* intruder.close
        // Counters keep what closed peers counted.
        assert.strictEqual(yield* read(RpcMetrics.calls, appSeries), 16)
        // An exporter of Effect's own reads the same series.
        const scrape = yield* PrometheusMetrics.format()
        assert.include(scrape, `isthmus_rpc_calls_total{name="app",role="client"} 16`)
        assert.include(scrape, `isthmus_rpc_call_errors_total{name="app",role="client",error="RpcTimeoutError"} 2`)
        assert.strictEqual(yield* read(RpcMetrics.connections, appSeries), 0)
      }).pipe(Effect.scoped)
    ))

  it.live("a subscriber that falls behind: notifications received, buffered and dropped", () =>
    isolated(
      Effect.gen(function*() {
        const server = yield* RpcServer.make({
          dialect: Dialect.strict,
          framing: Framing.ndjson(),
          methods: MethodTable.make({}),
          handlers: {},
          metrics: { name: "events" }
        })
        const { port } = yield* serveTcp(server)

        // A peer with two subscribers: one reads everything (the oracle), one reads nothing.
        const peer = yield* RpcPeer.make({
          connect: connectTcp({ port }),
          dialect: Dialect.strict,
          framing: Framing.ndjson(),
          notificationBuffer: { capacity: 2 },
          metrics: { name: "listener" }
        })
        const lagging = yield* peer.subscribe
        const all = yield* peer.subscribeWith({ capacity: 1024 })
        yield* peer.request("ping")
        const listener = { name: "listener", role: "client" }
        assert.strictEqual(yield* read(RpcMetrics.notificationSubscribers, listener), 2)
        const sent = 10
        for (let i = 0; i < sent; i++) yield* server.broadcast("tick", { i })
        const received = yield* all.stream.pipe(Stream.take(sent), Stream.runCollect)
        assert.strictEqual(received.length, sent)
        assert.strictEqual(yield* read(RpcMetrics.notificationsReceived, listener), sent)
        assert.strictEqual(yield* read(RpcMetrics.notificationSubscribers, listener), 1) // `all` ended with its take
        assert.strictEqual(yield* read(RpcMetrics.notificationsBuffered, listener), 2) // the lagging one's 2
        const kept = yield* lagging.pipe(Stream.take(2), Stream.runCollect)
        assert.deepStrictEqual(kept.map((n) => (n.params as { i: number }).i), [sent - 2, sent - 1])
        assert.strictEqual(yield* read(RpcMetrics.notificationsDropped, listener), sent - kept.length)
      }).pipe(Effect.scoped)
    ))

  it.live("a server connection that is not read: its queue depth and the broadcasts dropped to it", () =>
    isolated(
      Effect.gen(function*() {
        const capacity = 4
        const server = yield* RpcServer.make({
          dialect: Dialect.strict,
          framing: Framing.ndjson(),
          methods: MethodTable.make({}),
          handlers: {},
          outbound: { capacity, whenFull: "drop" },
          metrics: { name: "events" }
        })
        const { port } = yield* serveTcp(server)
        // A raw client, the only connection, that stops reading: its queue fills, broadcasts are dropped.
        const raw = yield* jsonLines(port)
        yield* raw.send({ jsonrpc: "2.0", id: 1, method: "ping" })
        yield* raw.until(reply(1))
        raw.raw.socket.pause()
        const big = "x".repeat(256 * 1024)
        let broadcasts = 0
        let queueAtDrop = -1
        // Until one broadcast did not reach it (the kernel's buffers are full by then).
        for (let delivered = 1; delivered === 1 && broadcasts < 4096; broadcasts++) {
          delivered = yield* server.broadcast("blob", { big, n: broadcasts })
          if (delivered === 0) queueAtDrop = yield* read(RpcMetrics.outboundQueued, { name: "events", role: "server" })
        }
        assert.strictEqual(queueAtDrop, capacity) // the raw connection's queue is full
        // A reply is queued after every notification that was kept: read up to it, counting blobs.
        raw.raw.socket.resume()
        yield* raw.send({ jsonrpc: "2.0", id: 2, method: "ping" })
        const lines: Array<Json> = yield* raw.until(reply(2))
        const blobs = lines.filter((m) => m["method"] === "blob").length
        assert.isBelow(blobs, broadcasts)
        assert.strictEqual(
          yield* read(RpcMetrics.outboundDropped, { name: "events", role: "server" }),
          broadcasts - blobs
        )
      }).pipe(Effect.scoped)
    ))

  it.live("a full server refuses and counts a connection; a gate timeout is counted", () =>
    isolated(
      Effect.gen(function*() {
        const gated = yield* serveTcp(yield* gatedServer("gated"))
        // A connection that never authenticates: closed by the gate.
        const idle = yield* jsonLines(gated.port)
        yield* idle.raw.closed
        assert.strictEqual(yield* read(RpcMetrics.gateTimeouts, { name: "gated" }), 1)

        const { port } = yield* serveTcp(yield* gatedServer("tiny"))
        const first = yield* RpcPeer.make({
          connect: connectTcp({ port }),
          dialect: Dialect.daemon,
          framing: Framing.ndjson(),
          handshake: Handshake.tokenAuth(Redacted.make("t"))
        })
        yield* first.request("ping")
        const second = yield* jsonLines(port)
        yield* second.raw.closed // refused: the server holds one connection at most
        assert.strictEqual(yield* read(RpcMetrics.connectionsRefused, { name: "tiny" }), 1)
        assert.strictEqual(yield* read(RpcMetrics.connections, { name: "tiny", role: "server" }), 1)
      }).pipe(Effect.scoped)
    ))

  it.live("a bridge: clients by phase, forwarded and refused requests, auth failures, upstream restarts", () =>
    isolated(
      Effect.gen(function*() {
        // The upstream: an RpcServer; `drop` ends the connection it arrives on (a backend restart).
        const upstreamServer = yield* RpcServer.make({
          dialect: Dialect.lite,
          framing: Framing.ndjson(),
          methods: MethodTable.make({ add: MethodTable.method({}), drop: MethodTable.method({}) }),
          handlers: {
            add: (params) => Effect.succeed((params as { a: number; b: number }).a + (params as { b: number }).b),
            drop: (_, context) => Effect.as(Effect.forkDetach(context.peer.disconnect), null)
          },
          metrics: false
        })
        const upstream = yield* serveTcp(upstreamServer)
        const bridge = yield* RpcBridge.make({
          upstream: { connect: connectTcp({ port: upstream.port }), dialect: Dialect.lite, framing: Framing.ndjson() },
          clients: { dialect: Dialect.lite, framing: Framing.ndjson() },
          auth: { tokens: [{ token: Redacted.make("good"), name: "good" }] },
          metrics: { name: "b" }
        })
        const { port } = yield* serveTcp(bridge)
        yield* bridge.awaitUpstream
        const good = yield* jsonLines(port)
        yield* good.send({ id: 1, method: "auth", params: { token: "good" } })
        yield* good.until((m: Json) => m["method"] === "bridge/joined") // live from here
        const bad = yield* jsonLines(port)
        yield* bad.send({ id: 1, method: "auth", params: { token: "nope" } })
        assert.isDefined((yield* bad.until(reply(1))).at(-1)!["error"])
        yield* bad.send({ id: 2, method: "add", params: { a: 1, b: 2 } }) // refused: not authenticated
        assert.isDefined((yield* bad.until(reply(2))).at(-1)!["error"])

        const forwarded = 5
        for (let i = 0; i < forwarded; i++) {
          yield* good.send({ id: 10 + i, method: "add", params: { a: i, b: 1 } })
          assert.strictEqual((yield* good.until(reply(10 + i))).at(-1)!["result"], i + 1)
        }
        const b = { name: "b" }
        assert.strictEqual(yield* read(RpcMetrics.bridgeRequests, b), forwarded)
        assert.strictEqual(yield* read(RpcMetrics.bridgeRequestsRefused, b), 2) // the wrong token, the add before auth
        assert.strictEqual(yield* read(RpcMetrics.authFailures, b), 1)
        assert.strictEqual(yield* read(RpcMetrics.bridgeClients, { ...b, phase: "live" }), 1)
        assert.strictEqual(yield* read(RpcMetrics.bridgeClients, { ...b, phase: "auth" }), 1)
        assert.strictEqual(yield* read(RpcMetrics.bridgeUpstreams, { ...b, state: "ready" }), 1)
        assert.strictEqual(yield* read(RpcMetrics.connections, { ...b, role: "server" }), 2)
        // The bridge's upstream connection is a client peer; its calls are the forwarded ones.
        assert.strictEqual(yield* read(RpcMetrics.calls, { ...b, role: "client" }), forwarded)

        // The upstream ends its connection: the bridge tells the client, reconnects, and counts it.
        yield* good.send({ id: 99, method: "drop", params: {} })
        yield* good.until((m: Json) => m["method"] === "bridge/upstream" && (m["params"] as Json)["state"] === "ready")
        assert.strictEqual(yield* read(RpcMetrics.bridgeUpstreamRestarts, b), 1)
        assert.strictEqual(yield* read(RpcMetrics.connectionsTotal, { ...b, role: "client" }), 2)
        assert.strictEqual(yield* read(RpcMetrics.bridgeUpstreams, { ...b, state: "ready" }), 1)

        // Every metric a bridge, its server side and its peers publish is in the README's table, and only those.
        const published = new Set((yield* Metric.snapshot).map((m) => m.id))
        const documented = new Set(
          [...readFileSync(new URL("../README.md", import.meta.url), "utf8").matchAll(/^\| `(isthmus_[a-z_]+)`/gm)]
            .map((m) => m[1]!)
        )
        assert.deepStrictEqual([...published].toSorted(), [...documented].toSorted())
      }).pipe(Effect.scoped)
    ))
})
