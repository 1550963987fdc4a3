import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, Handshake, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Deferred, Effect, Fiber, Redacted, Schema, Stream } from "effect"
import { rawTcp } from "./support/raw.ts"

const Methods = MethodTable.make({
  list_workspaces: MethodTable.method({ result: Schema.Array(Schema.String), idempotent: true }),
  add: MethodTable.method({
    params: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
    result: Schema.Number
  }),
  gated: MethodTable.method({ result: Schema.String })
})

const startDaemon = Effect.gen(function*() {
  // `gated` answers only once the test opens the gate.
  const gate = yield* Deferred.make<void>()
  const server = yield* RpcServer.make({
    dialect: Dialect.daemon,
    framing: Framing.ndjson(),
    methods: Methods,
    handlers: {
      list_workspaces: () => Effect.succeed(["ws-1"]),
      add: ({ a, b }) => Effect.succeed(a + b),
      gated: () => Deferred.await(gate).pipe(Effect.as("released"))
    },
    auth: { token: Redacted.make("s3cret") }
  })
  const address = yield* serveTcp(server)
  return { server, address, gate }
})

/** A typed client of the daemon that authenticates with `token` on connect. */
const connectDaemon = (port: number, token: string) =>
  RpcPeer.make({
    connect: connectTcp({ port }),
    dialect: Dialect.daemon,
    framing: Framing.ndjson(),
    methods: Methods,
    handshake: Handshake.tokenAuth(Redacted.make(token))
  })

describe("daemon dialect over real TCP (protocols.md §1 vectors)", () => {
  it.live("auth, unauthorized, invalid token, unknown method, bad ids, junk lines", () =>
    Effect.gen(function*() {
      const { address } = yield* startDaemon
      const c = yield* rawTcp(address.port)
      yield* c.send(`{"id":2,"method":"list_workspaces","params":{}}\n`)
      assert.strictEqual(yield* c.next(), `{"id":2,"error":{"message":"unauthorized"}}`)
      yield* c.send(`{"id":1,"method":"auth","params":{"token":"bad"}}\n`)
      assert.strictEqual(yield* c.next(), `{"id":1,"error":{"message":"invalid token"}}`)
      yield* c.send(`not json\n\n\r\n{"id":1,"method":"auth","params":"s3cret"}\n`)
      assert.strictEqual(yield* c.next(), `{"id":1,"result":{"ok":true}}`)
      yield* c.send(`{"id":3,"method":"nope"}\n`)
      assert.strictEqual(yield* c.next(), `{"id":3,"error":{"message":"unknown method: nope"}}`)
      yield* c.send(`{"id":4,"method":"auth","params":"s3cret"}\n`)
      assert.strictEqual(yield* c.next(), `{"id":4,"error":{"message":"unknown method: auth"}}`)
      yield* c.send(
        `{"id":"4","method":"ping"}\n{"id":-1,"method":"ping"}\n{"id":1.0,"method":"ping"}\n{"method":"ping"}\n`
      )
      yield* c.send(`{"id":5,"method":"add","params":{"a":1}}\n`)
      const bad = JSON.parse(yield* c.next()) as { id: number; error: { message: string } }
      assert.strictEqual(bad.id, 5)
      assert.include(bad.error.message, "b")
      yield* c.send(`{"id":6,"method":"add","params":{"a":1,"b":2}}\r\n`)
      assert.strictEqual(yield* c.next(), `{"id":6,"result":3}`)
      // Nothing else was answered (no late replies to the bad ids): the next line is the sentinel's.
      yield* c.send(`{"id":7,"method":"ping"}\n`)
      assert.strictEqual(yield* c.next(), `{"id":7,"result":{"ok":true}}`)
    }))

  it.live("a client with token auth makes typed calls; replies come back out of order", () =>
    Effect.gen(function*() {
      const { address, gate } = yield* startDaemon
      const peer = yield* connectDaemon(address.port, "s3cret")
      yield* peer.awaitReady
      // `gated` is sent first; the reply to the later `add` arrives while it is still pending.
      const first = yield* Effect.forkChild(peer.call("gated", undefined), { startImmediately: true })
      assert.strictEqual(yield* peer.call("add", { a: 2, b: 3 }), 5)
      assert.isUndefined(first.pollUnsafe())
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(first), "released")
      assert.deepStrictEqual(yield* peer.call("list_workspaces", undefined), ["ws-1"])
    }))

  it.live("a wrong token fails the handshake and every call with a typed error", () =>
    Effect.gen(function*() {
      const { address } = yield* startDaemon
      const peer = yield* connectDaemon(address.port, "wrong")
      const error = yield* Effect.flip(peer.request("list_workspaces", {}))
      assert.strictEqual(error._tag, "HandshakeError")
      assert.include(error.message, "invalid token")
      assert.notInclude(JSON.stringify(error), "wrong\"")
    }))

  it.live("broadcasts reach only authenticated connections", () =>
    Effect.gen(function*() {
      const { server, address } = yield* startDaemon
      const anonymous = yield* rawTcp(address.port)
      // Answered before auth (`ping` is public), so the server has registered this connection.
      yield* anonymous.send(`{"id":1,"method":"ping"}\n`)
      assert.strictEqual(yield* anonymous.next(), `{"id":1,"result":{"ok":true}}`)
      const peer = yield* connectDaemon(address.port, "s3cret")
      const events = yield* peer.subscribe
      yield* peer.awaitReady
      const got = yield* Deferred.make<ReadonlyArray<unknown>>()
      yield* events.pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.flatMap((e) => Deferred.succeed(got, e)),
        Effect.forkScoped
      )
      const n = yield* server.broadcast("terminal-output", { workspaceId: "ws-1", terminalId: "t1", data: "ls\r\n" })
      assert.strictEqual(n, 1)
      yield* server.broadcast("terminal-exit", { workspaceId: "ws-1", terminalId: "t1" })
      const received = yield* Deferred.await(got)
      assert.deepStrictEqual(received.map((m) => (m as { method: string }).method), [
        "terminal-output",
        "terminal-exit"
      ])
      // The unauthenticated connection got neither event: its next line answers its own ping.
      yield* anonymous.send(`{"id":2,"method":"ping"}\n`)
      assert.strictEqual(yield* anonymous.next(), `{"id":2,"result":{"ok":true}}`)
    }))
})
