import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, Handshake, MethodTable, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Deferred, Effect, Redacted, Schema, Stream } from "effect"
import { rawTcp } from "./support/raw.ts"

const Methods = MethodTable.make({
  list_workspaces: MethodTable.method({ result: Schema.Array(Schema.String), idempotent: true }),
  add: MethodTable.method({
    params: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
    result: Schema.Number
  }),
  slow: MethodTable.method({ params: Schema.Struct({ ms: Schema.Number }), result: Schema.String })
})

const startDaemon = Effect.gen(function*() {
  const server = yield* RpcServer.make({
    dialect: Dialect.daemon,
    framing: Framing.ndjson(),
    methods: Methods,
    handlers: {
      list_workspaces: () => Effect.succeed(["ws-1"]),
      add: ({ a, b }) => Effect.succeed(a + b),
      slow: ({ ms }) => Effect.sleep(ms).pipe(Effect.as(`slept ${ms}`))
    },
    auth: { token: Redacted.make("s3cret") }
  })
  const address = yield* serveTcp(server)
  return { server, address }
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
      assert.strictEqual(yield* c.silent(150), "silent")
    }))

  it.live("a client with token auth makes typed calls; replies come back out of order", () =>
    Effect.gen(function*() {
      const { address } = yield* startDaemon
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port: address.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: Methods,
        handshake: Handshake.tokenAuth(Redacted.make("s3cret"))
      })
      const order: Array<string> = []
      const [slow, fast] = yield* Effect.all([
        peer.call("slow", { ms: 200 }).pipe(Effect.tap(() => Effect.sync(() => order.push("slow")))),
        peer.call("add", { a: 2, b: 3 }).pipe(Effect.tap(() => Effect.sync(() => order.push("fast"))))
      ], { concurrency: "unbounded" })
      assert.strictEqual(slow, "slept 200")
      assert.strictEqual(fast, 5)
      assert.deepStrictEqual(order, ["fast", "slow"])
      assert.deepStrictEqual(yield* peer.call("list_workspaces", undefined), ["ws-1"])
    }))

  it.live("a wrong token fails the handshake and every call with a typed error", () =>
    Effect.gen(function*() {
      const { address } = yield* startDaemon
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port: address.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        handshake: Handshake.tokenAuth("wrong")
      })
      const error = yield* Effect.flip(peer.request("list_workspaces", {}))
      assert.strictEqual(error._tag, "HandshakeError")
      assert.include(error.message, "invalid token")
      assert.notInclude(JSON.stringify(error), "wrong\"")
    }))

  it.live("broadcasts reach only authenticated connections", () =>
    Effect.gen(function*() {
      const { server, address } = yield* startDaemon
      const anonymous = yield* rawTcp(address.port)
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port: address.port }),
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        handshake: Handshake.tokenAuth("s3cret")
      })
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
      assert.strictEqual(yield* anonymous.silent(100), "silent")
    }))
})
