import { assert, describe, it } from "@effect/vitest"
import {
  Dialect,
  Framing,
  Handshake,
  MemorySocket,
  MethodTable,
  OutboundQueueFullError,
  PeerDisconnectedError,
  RpcError,
  RpcPeer,
  RpcServer,
  RpcTimeoutError
} from "@isthmus/rpc-protocol"
import { connectTcp, connectWebSocket, serveTcp, serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Clock, Deferred, Effect, Fiber, Queue, Redacted, Ref, Schema, Stream } from "effect"
import * as Socket from "effect/socket/Socket"
import { TestClock } from "effect/testing"
import { rawTcp } from "./support/raw.ts"

describe("RpcPeer in memory (TestClock)", () => {
  it.effect("a call with no reply times out with a typed error and leaves nothing pending", () =>
    Effect.gen(function*() {
      const pair = yield* MemorySocket.makePair()
      // The far side reads and never answers.
      const { pull } = yield* pair.server.reader
      yield* Effect.forkScoped(Effect.forever(pull))
      const peer = yield* RpcPeer.make({
        connect: pair.client,
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        requestTimeout: "5 seconds"
      })
      const fiber = yield* Effect.forkChild(Effect.flip(peer.request("thread/start", {})), { startImmediately: true })
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual((yield* peer.stats).pending, 1)
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.instanceOf(error, RpcTimeoutError)
      assert.strictEqual((yield* peer.stats).pending, 0)
      const perCall = yield* Effect.forkChild(Effect.flip(peer.request("x", {}, { timeout: "1 second" })), {
        startImmediately: true
      })
      yield* TestClock.adjust("1 second")
      assert.instanceOf(yield* Fiber.join(perCall), RpcTimeoutError)
    }))

  it.effect("reconnect backs off exponentially up to the cap", () =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make<Array<number>>([])
      const failing = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        yield* Ref.update(attempts, (a) => [...a, now])
        return Socket.make({
          reader: Effect.fail(
            new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause: "refused" }) })
          ),
          writer: Effect.never
        })
      })
      const start = yield* Clock.currentTimeMillis
      const peer = yield* RpcPeer.make({
        connect: failing,
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        reconnect: { initialDelay: "100 millis", maxDelay: "1 second", factor: 2, maxAttempts: 7 }
      })
      for (let i = 0; i < 12; i++) yield* TestClock.adjust("1 second")
      const times = (yield* Ref.get(attempts)).map((t) => t - start)
      assert.deepStrictEqual(times, [0, 100, 300, 700, 1500, 2500, 3500, 4500])
      assert.strictEqual(yield* peer.state, "closed")
      assert.instanceOf(yield* Effect.flip(peer.request("x")), PeerDisconnectedError)
    }))

  it.effect("server and client over an in-memory duplex, typed both ways", () =>
    Effect.gen(function*() {
      const Methods = MethodTable.make({
        add: MethodTable.method({
          params: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
          result: Schema.Number
        })
      })
      const pair = yield* MemorySocket.makePair()
      const server = yield* RpcServer.make({
        dialect: Dialect.strict,
        framing: Framing.webSocket(),
        methods: Methods,
        handlers: { add: ({ a, b }) => Effect.succeed(a + b) }
      })
      yield* Effect.forkScoped(server.handle(pair.server))
      const peer = yield* RpcPeer.make({
        connect: pair.client,
        dialect: Dialect.strict,
        framing: Framing.webSocket(),
        methods: Methods
      })
      assert.strictEqual(yield* peer.call("add", { a: 40, b: 2 }), 42)
      const bad = yield* Effect.flip(peer.call("add", { a: 1, b: "x" as unknown as number }))
      assert.strictEqual(bad._tag, "RpcSchemaError")
      const notFound = yield* Effect.flip(peer.request("nope"))
      assert.isTrue(notFound instanceof RpcError && notFound.code === -32601)
      const invalid = yield* Effect.flip(peer.request("add", { a: 1 }))
      assert.isTrue(invalid instanceof RpcError && invalid.code === -32602)
    }))
})

/**
 * Connects to `server` in memory: every run of `connect` (each reconnect) makes a new pair that the
 * server handles until the test ends. `pairs` lets a test cut a connection.
 */
const memoryServer = (server: RpcServer.RpcServer, capacity?: number) =>
  Effect.map(Effect.scope, (scope) => {
    const pairs: Array<MemorySocket.Pair> = []
    const connect = Effect.gen(function*() {
      const pair = yield* MemorySocket.makePair({ capacity })
      pairs.push(pair)
      yield* Effect.forkIn(server.handle(pair.server), scope)
      return pair.client
    })
    return { connect, pairs }
  })

describe("RpcPeer bounds (in memory)", () => {
  it.effect("requests beyond concurrency + maxQueuedRequests are answered 'overloaded' at once", () =>
    Effect.gen(function*() {
      const pair = yield* MemorySocket.makePair()
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: MethodTable.make({ hang: MethodTable.method({}) }),
        handlers: { hang: () => Effect.never },
        concurrency: 1,
        maxQueuedRequests: 1
      })
      yield* Effect.forkScoped(server.handle(pair.server))
      const peer = yield* RpcPeer.make({ connect: pair.client, dialect: Dialect.lite, framing: Framing.webSocket() })
      yield* peer.awaitReady
      // One runs, one waits for the slot; the third is refused with -32001.
      yield* Effect.forkChild(peer.request("hang"), { startImmediately: true })
      yield* Effect.forkChild(peer.request("hang"), { startImmediately: true })
      const refused = yield* Effect.flip(peer.request("hang"))
      assert.isTrue(refused instanceof RpcError && refused.code === -32001)
      assert.strictEqual(refused.message, "Server overloaded; retry later.")
      assert.strictEqual((yield* peer.stats).pending, 2)
    }))

  it.effect("after a reconnect, more idempotent calls than the outbound queue holds are all replayed", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: MethodTable.make({ list: MethodTable.method({ idempotent: true }) }),
        // The first connection never answers; the second answers with its id.
        handlers: { list: (_, { connectionId }) => connectionId === 1 ? Effect.never : Effect.succeed(connectionId) }
      })
      // The "wire" holds one frame and the outbox one more, so replaying four calls must wait for room.
      const { connect, pairs } = yield* memoryServer(server, 1)
      const peer = yield* RpcPeer.make({
        connect,
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: MethodTable.make({ list: MethodTable.method({ idempotent: true }) }),
        outbound: { capacity: 1 },
        reconnect: { initialDelay: "10 millis" }
      })
      const calls = yield* Effect.forkChild(
        Effect.all(Array.from({ length: 4 }, () => peer.request("list")), { concurrency: "unbounded" }),
        { startImmediately: true }
      )
      while ((yield* peer.stats).pending < 4) yield* Effect.yieldNow
      yield* pairs[0]!.close
      yield* TestClock.adjust("10 millis")
      assert.deepStrictEqual(yield* Fiber.join(calls), [2, 2, 2, 2])
      assert.strictEqual((yield* peer.stats).replayed, 4)
    }))
})

describe("RpcPeer across reconnects (in memory)", () => {
  it.effect("handlers interrupted with a connection free their slots for the next one", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: MethodTable.make({ ask: MethodTable.method({}) }),
        handlers: {
          ask: (_, { peer }) =>
            peer.request("client/work").pipe(Effect.mapError((e) => new RpcError({ message: e.message })))
        }
      })
      const { connect, pairs } = yield* memoryServer(server)
      const started = yield* Deferred.make<void>()
      const peer = yield* RpcPeer.make({
        connect,
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        concurrency: 1,
        reconnect: { initialDelay: "10 millis" },
        // On the first connection the only slot is held by a handler that never finishes.
        handlers: {
          "client/work": () =>
            pairs.length === 1
              ? Effect.andThen(Deferred.succeed(started, undefined), Effect.never)
              : Effect.succeed("done")
        }
      })
      const first = yield* Effect.forkChild(Effect.flip(peer.request("ask")), { startImmediately: true })
      yield* Deferred.await(started)
      yield* pairs[0]!.close
      assert.instanceOf(yield* Fiber.join(first), PeerDisconnectedError)
      yield* TestClock.adjust("10 millis")
      assert.strictEqual(yield* peer.request("ask"), "done")
    }))
})

describe("RpcPeer lifecycle (in memory)", () => {
  it.effect("close fails pending calls and refuses new ones; notifications stream from the far side", () =>
    Effect.gen(function*() {
      const pair = yield* MemorySocket.makePair()
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: MethodTable.make({ hang: MethodTable.method({}) }),
        handlers: { hang: (_, context) => Effect.andThen(context.server.broadcast("tick", { n: 1 }), Effect.never) }
      })
      yield* Effect.forkScoped(server.handle(pair.server))
      const peer = yield* RpcPeer.make({ connect: pair.client, dialect: Dialect.daemon, framing: Framing.ndjson() })
      const events = yield* peer.subscribe
      const first = yield* Effect.forkScoped(events.pipe(Stream.take(1), Stream.runCollect), { startImmediately: true })
      const pending = yield* Effect.forkChild(Effect.flip(peer.request("hang")), { startImmediately: true })
      assert.deepStrictEqual((yield* Fiber.join(first)).map((n) => n.params), [{ n: 1 }])
      yield* peer.close
      assert.instanceOf(yield* Fiber.join(pending), PeerDisconnectedError)
      assert.strictEqual(yield* peer.state, "closed")
      assert.instanceOf(yield* Effect.flip(peer.request("hang")), PeerDisconnectedError)
      assert.instanceOf(yield* Effect.flip(peer.notify("x")), PeerDisconnectedError)
    }))
})

const stalled = (whenFull: "fail" | "suspend" | "drop") =>
  Effect.gen(function*() {
    // The far side never reads and the "wire" holds one frame, so the outbox fills up.
    const pair = yield* MemorySocket.makePair({ capacity: 1 })
    return yield* RpcPeer.make({
      connect: pair.client,
      dialect: Dialect.lite,
      framing: Framing.webSocket(),
      outbound: { capacity: 2, whenFull, enqueueTimeout: "1 second" }
    })
  })
const flood = (peer: RpcPeer.RpcPeer) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10; i++) yield* peer.notify("event", { i })
  })

describe("RpcPeer outbound queue policies (in memory, TestClock)", () => {
  it.effect("fail: an OutboundQueueFullError as soon as the queue is full", () =>
    Effect.gen(function*() {
      const peer = yield* stalled("fail")
      yield* peer.awaitReady
      const error = yield* Effect.flip(flood(peer))
      assert.instanceOf(error, OutboundQueueFullError)
    }))

  it.effect("suspend: waits for room, then fails after enqueueTimeout", () =>
    Effect.gen(function*() {
      const peer = yield* stalled("suspend")
      yield* peer.awaitReady
      const fiber = yield* Effect.forkChild(Effect.flip(flood(peer)), { startImmediately: true })
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.instanceOf(yield* Fiber.join(fiber), OutboundQueueFullError)
    }))

  it.effect("drop: notifications that do not fit are dropped and counted", () =>
    Effect.gen(function*() {
      const peer = yield* stalled("drop")
      yield* peer.awaitReady
      yield* flood(peer)
      assert.isAbove((yield* peer.stats).droppedOutbound, 0)
    }))
})

const CodexMethods = MethodTable.make({
  "thread/start": MethodTable.method({ params: Schema.Struct({ cwd: Schema.String }), result: Schema.Unknown }),
  "list_threads": MethodTable.method({ result: Schema.Array(Schema.String), idempotent: true }),
  "send_user_message": MethodTable.method({ params: Schema.Struct({ text: Schema.String }), result: Schema.String }),
  "hang": MethodTable.method({}),
  "drop": MethodTable.method({})
})

/** Handlers for `CodexMethods`: each hangs, except `drop`, which drops the caller's connection. */
const codexHandlers = (
  overrides: Partial<RpcServer.Handlers<typeof CodexMethods>>
): RpcServer.Handlers<typeof CodexMethods> => ({
  "thread/start": () => Effect.never,
  list_threads: () => Effect.never,
  send_user_message: () => Effect.never,
  hang: () => Effect.never,
  drop: (_, { peer }) => peer.disconnect,
  ...overrides
})

/** A daemon-dialect TCP server with no methods (but `ping`), for broadcasting under an outbound policy. */
const broadcaster = (outbound: RpcServer.RpcServerOptions<{}>["outbound"]) =>
  Effect.gen(function*() {
    const server = yield* RpcServer.make({
      dialect: Dialect.daemon,
      framing: Framing.ndjson(),
      methods: {},
      handlers: {},
      outbound
    })
    return { server, address: yield* serveTcp(server) }
  })

describe("RpcPeer and RpcServer end to end over real sockets", () => {
  it.live("server-to-client requests (codex approval) over WebSocket with a Bearer token; unknown methods", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: CodexMethods,
        handlers: codexHandlers({
          "thread/start": ({ cwd }, { peer }) =>
            Effect.gen(function*() {
              const decision = yield* peer.request("item/commandExecution/requestApproval", {
                threadId: "thr_1",
                command: "rm -rf build",
                cwd
              }).pipe(Effect.mapError((e) => new RpcError({ code: -32603, message: e.message })))
              yield* Effect.ignore(peer.notify("serverRequest/resolved", { threadId: "thr_1", requestId: 0 }))
              return decision
            })
        })
      })
      const address = yield* serveWebSocket(server, { token: Redacted.make("ws-token"), path: "/ws" })
      const url = `ws://127.0.0.1:${address.port}/ws`
      const approvals = yield* Ref.make<Array<unknown>>([])
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(url, { token: Redacted.make("ws-token") }),
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        handlers: {
          "item/commandExecution/requestApproval": (params) =>
            Ref.update(approvals, (a) => [...a, params]).pipe(Effect.as({ decision: "accept" }))
        }
      })
      const events = yield* peer.subscribe
      const resolved = yield* Effect.forkScoped(events.pipe(Stream.take(1), Stream.runCollect), {
        startImmediately: true
      })
      assert.deepStrictEqual(yield* peer.request("thread/start", { cwd: "/repo" }), { decision: "accept" })
      assert.deepStrictEqual((yield* Fiber.join(resolved)).map((n) => n.method), ["serverRequest/resolved"])
      assert.deepStrictEqual(yield* Ref.get(approvals), [{ threadId: "thr_1", command: "rm -rf build", cwd: "/repo" }])
      const unknown = yield* Effect.flip(peer.request("no/such", {}))
      assert.isTrue(unknown instanceof RpcError && unknown.code === -32600)
      assert.include(unknown.message, "unknown variant `no/such`")

      // A bad Bearer token is refused before the upgrade: the peer never connects.
      const refused = yield* RpcPeer.make({
        connect: connectWebSocket(url, { token: "nope" }),
        dialect: Dialect.lite,
        framing: Framing.webSocket()
      })
      assert.instanceOf(yield* Effect.flip(refused.request("list_threads")), PeerDisconnectedError)
    }))

  it.live("disconnect while calls are pending fails every one of them with a typed error", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: CodexMethods,
        handlers: codexHandlers({})
      })
      const address = yield* serveTcp(server)
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port: address.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        idempotent: ["list_threads"]
      })
      const calls = yield* Effect.forkChild(
        Effect.all([
          peer.request("hang"),
          peer.request("list_threads"),
          peer.request("send_user_message", { text: "x" })
        ], {
          concurrency: "unbounded",
          mode: "result"
        }),
        { startImmediately: true }
      )
      while ((yield* peer.stats).pending < 3) yield* Effect.yieldNow
      yield* Effect.ignore(peer.request("drop"))
      const results = yield* Fiber.join(calls)
      for (const result of results) {
        assert.isTrue(result._tag === "Failure" && result.failure instanceof PeerDisconnectedError)
      }
      yield* peer.closed
      assert.strictEqual(yield* peer.state, "closed")
    }))

  it.live("reconnect replays only idempotent calls and re-runs the handshake", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: CodexMethods,
        auth: { token: "s3cret" },
        handlers: codexHandlers({
          // The first connection never answers; later ones do.
          list_threads: (_, { connectionId }) => connectionId === 1 ? Effect.never : Effect.succeed(["thr_1"]),
          send_user_message: (_, { connectionId }) => connectionId === 1 ? Effect.never : Effect.succeed("sent")
        })
      })
      const address = yield* serveTcp(server)
      const handshakes = yield* Ref.make(0)
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port: address.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: CodexMethods,
        handshake: Handshake.sequence(() => Ref.update(handshakes, (n) => n + 1), Handshake.tokenAuth("s3cret")),
        reconnect: { initialDelay: "20 millis", maxDelay: "100 millis" }
      })
      const list = yield* Effect.forkChild(peer.call("list_threads", undefined), { startImmediately: true })
      const send = yield* Effect.forkChild(Effect.flip(peer.call("send_user_message", { text: "hi" })), {
        startImmediately: true
      })
      while ((yield* peer.stats).pending < 2) yield* Effect.yieldNow
      yield* Effect.ignore(peer.request("drop", undefined, { timeout: "2 seconds" }))
      assert.deepStrictEqual(yield* Fiber.join(list), ["thr_1"])
      assert.instanceOf(yield* Fiber.join(send), PeerDisconnectedError)
      assert.strictEqual(yield* Ref.get(handshakes), 2)
      const stats = yield* peer.stats
      assert.strictEqual(stats.replayed, 1)
      assert.strictEqual(stats.connections, 2)
      assert.strictEqual(yield* peer.call("send_user_message", { text: "again" }), "sent")
    }))

  it.live("a slow consumer is disconnected instead of growing the server's memory; a fast one keeps up", () =>
    Effect.gen(function*() {
      const { server, address } = yield* broadcaster({ capacity: 16, whenFull: "disconnect" })
      const fast = yield* RpcPeer.make({
        connect: connectTcp({ port: address.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson()
      })
      const received = yield* Queue.unbounded<unknown>()
      const events = yield* fast.subscribe
      yield* Effect.forkScoped(events.pipe(Stream.runForEach((n) => Queue.offer(received, n.params))), {
        startImmediately: true
      })
      const slow = yield* rawTcp(address.port)
      slow.socket.pause()
      yield* fast.request("ping")
      while ((yield* server.connections) < 2) yield* Effect.yieldNow
      const payload = "x".repeat(64 * 1024)
      let sent = 0
      while ((yield* server.connections) === 2 && sent < 2000) {
        yield* server.broadcast("terminal-output", { n: sent, data: payload })
        const got = (yield* Queue.take(received)) as { n: number }
        assert.strictEqual(got.n, sent)
        sent++
      }
      assert.strictEqual(yield* server.connections, 1)
      assert.isBelow(sent, 2000)
      slow.socket.resume()
      yield* slow.closed
      assert.strictEqual(yield* fast.state, "connected")
    }))

  it.live("a drop policy keeps a slow consumer connected and drops what does not fit", () =>
    Effect.gen(function*() {
      const { server, address } = yield* broadcaster({ capacity: 4, whenFull: "drop" })
      const slow = yield* rawTcp(address.port)
      slow.socket.pause()
      yield* slow.send(`{"id":1,"method":"ping"}\n`)
      while ((yield* server.connections) < 1) yield* Effect.yieldNow
      const payload = "x".repeat(64 * 1024)
      let queued = 0
      for (let i = 0; i < 400; i++) queued += yield* server.broadcast("terminal-output", { n: i, data: payload })
      assert.strictEqual(yield* server.connections, 1)
      // Replies are never dropped: this one arrives after every event that was queued.
      yield* slow.send(`{"id":2,"method":"ping"}\n`)
      slow.socket.resume()
      const lines: Array<string> = []
      for (;;) {
        const line = yield* slow.next()
        if (line === `{"id":2,"result":{"ok":true}}`) break
        lines.push(line)
      }
      assert.isTrue(lines.some((l) => l === `{"id":1,"result":{"ok":true}}`))
      const events = lines.filter((l) => l.startsWith(`{"method":"terminal-output"`)).length
      assert.isAbove(events, 0)
      assert.isBelow(events, 400)
      // broadcast counted exactly the events that were queued rather than dropped.
      assert.strictEqual(events, queued)
    }))
})

describe("reconnect over WebSocket", () => {
  it.live("a WebSocket peer reconnects after the server drops it and keeps serving calls", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: CodexMethods,
        handlers: codexHandlers({
          list_threads: (_, { connectionId }) => Effect.succeed([`conn-${connectionId}`])
        })
      })
      const { port } = yield* serveWebSocket(server, { token: "t" })
      const peer = yield* RpcPeer.make({
        connect: connectWebSocket(`ws://127.0.0.1:${port}`, { token: "t" }),
        dialect: Dialect.lite,
        framing: Framing.webSocket(),
        methods: CodexMethods,
        reconnect: { initialDelay: "10 millis" }
      })
      assert.deepStrictEqual(yield* peer.call("list_threads", undefined), ["conn-1"])
      yield* Effect.ignore(peer.request("drop", undefined, { timeout: "1 second" }))
      assert.deepStrictEqual(yield* peer.call("list_threads", undefined), ["conn-2"])
      assert.strictEqual((yield* peer.stats).connections, 2)
    }))
})
