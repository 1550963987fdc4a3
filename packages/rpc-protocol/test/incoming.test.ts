/**
 * Typed incoming traffic (issue #11 point 7) and roles, over real loopback sockets: codex-style
 * approvals as typed server-to-client requests (params decoded, results encoded), handlers that
 * need services provided by a Layer, notifications with typed params and extra top-level fields
 * (codex's `emittedAtMs`), and tokens that grant roles.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, Message, MethodTable, RpcError, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { connectTcp, connectWebSocket, serveTcp, serveWebSocket } from "@isthmus/rpc-protocol/node"
import { Context, Deferred, Effect, Fiber, Layer, Schema, Stream } from "effect"
import * as net from "node:net"
import { onLines } from "./support/lines.ts"

const ApprovalParams = Schema.Struct({
  threadId: Schema.String,
  itemId: Schema.String,
  // On the wire a string, in the handler a number.
  timeoutMs: Schema.NumberFromString
})
const Approvals = MethodTable.make({
  "item/commandExecution/requestApproval": MethodTable.method({
    params: ApprovalParams,
    // The handler returns a number; the wire carries its string form.
    result: Schema.Struct({ decision: Schema.Literals(["accept", "decline"]), waitedMs: Schema.NumberFromString })
  })
})

/** Decides approvals; a service the client's handlers need. */
class Policy extends Context.Service<Policy, { readonly decide: (command: string) => "accept" | "decline" }>()(
  "test/Policy"
) {}

/** A raw lite-dialect server: runs `script` against each connection's line reader and writer. */
const rawServer = (script: (send: (line: string) => void, next: () => Promise<string>) => Promise<void>) =>
  Effect.acquireRelease(
    Effect.callback<net.Server>((resume) => {
      const srv = net.createServer((socket) => {
        const lines: Array<string> = []
        const waiters: Array<(line: string) => void> = []
        onLines(socket, (line) => {
          const w = waiters.shift()
          if (w) w(line)
          else lines.push(line)
        })
        const next = () =>
          new Promise<string>((resolve) => {
            const line = lines.shift()
            if (line !== undefined) resolve(line)
            else waiters.push(resolve)
          })
        void script((line) => socket.write(`${line}\n`), next)
      })
      srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
    }),
    (srv) => Effect.callback<void>((resume) => void srv.close(() => resume(Effect.void)))
  ).pipe(Effect.map((srv) => (srv.address() as net.AddressInfo).port))

describe("typed server-to-client requests", () => {
  it.live("params are decoded, the result encoded, services come from the Layer; bad params are refused", () =>
    Effect.gen(function*() {
      const answers = yield* Deferred.make<ReadonlyArray<string>>()
      const port = yield* rawServer(async (send, next) => {
        await next() // the client's first call, which we never answer
        send(JSON.stringify({
          id: 0,
          method: "item/commandExecution/requestApproval",
          params: { threadId: "thr_1", itemId: "call_1", timeoutMs: "250" }
        }))
        const first = await next()
        send(JSON.stringify({
          id: 1,
          method: "item/commandExecution/requestApproval",
          params: { threadId: "thr_1", itemId: "call_2", timeoutMs: 250 }
        }))
        const second = await next()
        Deferred.doneUnsafe(answers, Effect.succeed([first, second]))
      })
      yield* Effect.gen(function*() {
        const peer = yield* RpcPeer.make({
          connect: connectTcp({ port }),
          dialect: Dialect.lite,
          framing: Framing.ndjson(),
          incoming: Approvals,
          handlers: {
            "item/commandExecution/requestApproval": (params, _peer, request) =>
              Effect.gen(function*() {
                // Typed: timeoutMs is a number here; the request is the raw message.
                const policy = yield* Policy
                assert.strictEqual(request.id, 0)
                return { decision: policy.decide(params.itemId), waitedMs: params.timeoutMs + 1 }
              })
          }
        })
        yield* Effect.forkChild(peer.request("thread/start", {}), { startImmediately: true })
        const [first, second] = yield* Deferred.await(answers)
        assert.deepStrictEqual(JSON.parse(first!), { id: 0, result: { decision: "accept", waitedMs: "251" } })
        const refused = JSON.parse(second!) as { id: number; error: { code: number; message: string } }
        assert.strictEqual(refused.id, 1)
        assert.strictEqual(refused.error.code, -32600)
        assert.include(refused.error.message, "timeoutMs")
      }).pipe(Effect.provide(Layer.succeed(Policy, Policy.of({ decide: () => "accept" }))))
    }))
})

describe("notifications", () => {
  const Events = MethodTable.notifications({
    "turn/started": MethodTable.notification({ params: Schema.Struct({ turnId: Schema.String }) })
  })

  it.live("extra top-level fields are kept (emittedAtMs); typed handlers get decoded params", () =>
    Effect.gen(function*() {
      const port = yield* rawServer(async (send) => {
        send(`{"method":"turn/started","params":{"turnId":"t1"},"emittedAtMs":1767225600123}`)
        send(`{"method":"turn/started","params":{"turnId":42}}`)
        send(`{"method":"turn/started","params":{"turnId":"t2"}}`)
      })
      const handled: Array<string> = []
      const peer = yield* RpcPeer.make({
        connect: connectTcp({ port }),
        dialect: Dialect.lite,
        framing: Framing.ndjson(),
        incomingNotifications: Events,
        notificationHandlers: {
          "turn/started": ({ turnId }, notification) =>
            Effect.sync(() => handled.push(`${turnId}@${notification.extra?.["emittedAtMs"] ?? "-"}`))
        }
      })
      const events = yield* peer.subscribe
      const seen = yield* events.pipe(Stream.take(3), Stream.runCollect)
      assert.deepStrictEqual(seen[0], {
        _tag: "Notification",
        method: "turn/started",
        params: { turnId: "t1" },
        extra: { emittedAtMs: 1767225600123 }
      })
      assert.isUndefined(seen[2]?.extra)
      // The notification with bad params reached subscribers but not the typed handler.
      assert.deepStrictEqual(handled, ["t1@1767225600123", "t2@-"])
      assert.strictEqual((yield* peer.stats).invalidNotifications, 1)
    }))

  it("extra fields are written back out, after the protocol's own never override them", () => {
    const note = Message.notification("turn/started", { turnId: "t1" }, { emittedAtMs: 5, method: "evil" })
    assert.strictEqual(Dialect.lite.encode(note), `{"emittedAtMs":5,"method":"turn/started","params":{"turnId":"t1"}}`)
    const decoded = Dialect.strict.decode(`{"jsonrpc":"2.0","method":"m","params":[],"seq":7}`)
    assert.deepStrictEqual(decoded, { _tag: "Message", message: Message.notification("m", [], { seq: 7 }) })
  })
})

/** A database a server's handlers need. */
class Workspaces extends Context.Service<Workspaces, { readonly list: Effect.Effect<ReadonlyArray<string>> }>()(
  "test/Workspaces"
) {}

/** The server as a service of the app, built by a Layer that provides its handlers' needs. */
class Api extends Context.Service<Api, RpcServer.RpcServer>()("test/Api") {}

const ApiMethods = MethodTable.make({
  list: MethodTable.method({ result: Schema.Array(Schema.String) }),
  rename: MethodTable.method({ params: Schema.Struct({ name: Schema.String }), result: Schema.String })
})

const makeApi = RpcServer.make({
  dialect: Dialect.daemon,
  framing: Framing.webSocket(),
  methods: ApiMethods,
  handlers: {
    list: () => Effect.flatMap(Workspaces, (w) => w.list),
    rename: ({ name }, { role }) => Effect.succeed(`${name} by ${role}`)
  },
  roles: { "read-only": { methods: ["list"] } }
})

const ApiLive = Layer.effect(Api, makeApi).pipe(
  Layer.provide(Layer.succeed(Workspaces, Workspaces.of({ list: Effect.succeed(["ws-1", "ws-2"]) })))
)

describe("servers built as Layers, with roles", () => {
  it.live("handlers get their services from the Layer; a read-only Bearer token may call only its methods", () =>
    Effect.gen(function*() {
      const server = yield* Api
      const { port } = yield* serveWebSocket(server, {
        tokens: [{ token: "full-token", role: "full" }, { token: "ro-token", role: "read-only" }]
      })
      const client = (token: string) =>
        RpcPeer.make({
          connect: connectWebSocket(`ws://127.0.0.1:${port}/`, { token }),
          dialect: Dialect.daemon,
          framing: Framing.webSocket()
        })
      const full = yield* client("full-token")
      const readOnly = yield* client("ro-token")
      assert.deepStrictEqual(yield* full.request("list"), ["ws-1", "ws-2"])
      assert.strictEqual(yield* full.request("rename", { name: "x" }), "x by full")
      assert.deepStrictEqual(yield* readOnly.request("list"), ["ws-1", "ws-2"])
      const refused = yield* Effect.flip(readOnly.request("rename", { name: "x" }))
      assert.instanceOf(refused, RpcError)
      assert.include(refused.message, "read-only")
    }).pipe(Effect.provide(ApiLive)))

  it.live("roles through `auth.tokens`; a role kept from broadcasts gets none", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: {},
        handlers: {},
        auth: { tokens: [{ token: "a", role: "full" }, { token: "b", role: "quiet" }] },
        roles: { quiet: { broadcasts: false } }
      })
      const { port } = yield* serveTcp(server)
      const client = (token: string) =>
        RpcPeer.make({
          connect: connectTcp({ port }),
          dialect: Dialect.daemon,
          framing: Framing.ndjson(),
          handshake: (context) => Effect.asVoid(context.request("auth", { token }))
        })
      const loud = yield* client("a")
      const quiet = yield* client("b")
      yield* loud.awaitReady
      yield* quiet.awaitReady
      const heard = yield* Effect.forkChild(loud.notifications.pipe(Stream.take(1), Stream.runCollect), {
        startImmediately: true
      })
      assert.strictEqual(yield* server.authenticated, 1)
      while ((yield* server.broadcast("tick", { n: 1 })) < 1) yield* Effect.sleep("10 millis")
      assert.strictEqual((yield* Fiber.join(heard))[0]?.method, "tick")
      assert.strictEqual(yield* server.broadcast("tick", { n: 2 }), 1)
    }))
})
