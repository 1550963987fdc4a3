/**
 * The server's gate, line by line on a raw TCP socket (issue #14, mutation testing): which token
 * grants which role and what each role may call, the public methods and the auth method (defaults
 * and overrides), the `initialize` gate alone and behind `auth`, the pre-auth size limit lifted
 * only once every gate is passed, and the authTimeout close naming the gate that was missed. The
 * expected lines are protocols.md §1's daemon vectors (`unauthorized`, `invalid token`, `unknown
 * method: …`) and §2's codex gate messages (`Not initialized`, `Already initialized`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, MemorySocket, MethodTable, RpcServer } from "@isthmus/rpc-protocol"
import { serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Logger, Schema } from "effect"
import { TestClock } from "effect/testing"
import { rawTcp } from "./support/raw.ts"

const Methods = MethodTable.make({
  whoami: MethodTable.method({}),
  read: MethodTable.method({}),
  write: MethodTable.method({}),
  hello: MethodTable.method({}),
  initialize: MethodTable.method({ params: Schema.Struct({ name: Schema.String }) })
})

const handlers: RpcServer.Handlers<typeof Methods> = {
  whoami: (_params, { role }) => Effect.succeed(role ?? "no role"),
  read: () => Effect.succeed("read"),
  write: () => Effect.succeed("written"),
  hello: () => Effect.succeed("hi"),
  initialize: ({ name }) => Effect.succeed({ hello: name })
}

const serve = (options: Omit<Partial<RpcServer.RpcServerOptions<typeof Methods>>, "handlers">) =>
  Effect.gen(function*() {
    const server = yield* RpcServer.make({
      dialect: Dialect.daemon,
      framing: Framing.ndjson(),
      methods: Methods,
      handlers,
      ...options
    })
    const { port } = yield* serveTcp(server)
    return port
  })

/** Sends one request line and returns the reply line. */
const call = (client: { send: (t: string) => Effect.Effect<void>; next: () => Effect.Effect<string, unknown> }) =>
(
  id: number,
  method: string,
  params?: unknown
) =>
  Effect.andThen(
    client.send(`${JSON.stringify(params === undefined ? { id, method } : { id, method, params })}\n`),
    client.next()
  )

/** A daemon ping line of `bytes` bytes (without the newline). */
const bigPing = (id: number, bytes: number) => {
  const head = `{"id":${id},"method":"ping","params":"`
  return `${head}${"p".repeat(bytes - head.length - 2)}"}`
}

describe("roles", () => {
  it.live("auth.token grants role \"full\", auth.tokens their own; a method list binds only its role", () =>
    Effect.gen(function*() {
      const port = yield* serve({
        auth: {
          token: "s3cret",
          tokens: [{ token: "ro", role: "read-only" }, { token: "q", role: "quiet" }, { token: "o", role: "open" }]
        },
        roles: { "read-only": { methods: ["read", "whoami"] }, quiet: { broadcasts: false }, full: {} }
      })
      const full = call(yield* rawTcp(port))
      assert.strictEqual(yield* full(1, "auth", "s3cret"), `{"id":1,"result":{"ok":true}}`)
      assert.strictEqual(yield* full(2, "whoami"), `{"id":2,"result":"full"}`)
      assert.strictEqual(yield* full(3, "write"), `{"id":3,"result":"written"}`)

      const readOnly = call(yield* rawTcp(port))
      assert.strictEqual(yield* readOnly(1, "auth", { token: "ro" }), `{"id":1,"result":{"ok":true}}`)
      assert.strictEqual(yield* readOnly(2, "whoami"), `{"id":2,"result":"read-only"}`)
      assert.strictEqual(yield* readOnly(3, "read"), `{"id":3,"result":"read"}`)
      assert.strictEqual(
        yield* readOnly(4, "write"),
        `{"id":4,"error":{"message":"\\"write\\" is not allowed for this client's role \\"read-only\\""}}`
      )
      // The public methods stay allowed whatever the role's list says.
      assert.strictEqual(yield* readOnly(5, "ping"), `{"id":5,"result":{"ok":true}}`)

      // A policy without a method list (only `broadcasts`) restricts no method; nor does no policy.
      for (const [token, role] of [["q", "quiet"], ["o", "open"]] as const) {
        const client = call(yield* rawTcp(port))
        assert.strictEqual(yield* client(1, "auth", token), `{"id":1,"result":{"ok":true}}`)
        assert.strictEqual(yield* client(2, "whoami"), `{"id":2,"result":"${role}"}`)
        assert.strictEqual(yield* client(3, "write"), `{"id":3,"result":"written"}`)
      }
    }))

  it.live("without auth there is no role and nothing is refused", () =>
    Effect.gen(function*() {
      const client = call(yield* rawTcp(yield* serve({ roles: { full: { methods: [] } } })))
      assert.strictEqual(yield* client(1, "whoami"), `{"id":1,"result":"no role"}`)
      assert.strictEqual(yield* client(2, "write"), `{"id":2,"result":"written"}`)
    }))
})

describe("the auth gate", () => {
  it.live("defaults: `auth` with the token, `ping` public, anything else unauthorized; a wrong token may retry", () =>
    Effect.gen(function*() {
      const client = call(yield* rawTcp(yield* serve({ auth: { token: "s3cret" } })))
      assert.strictEqual(yield* client(1, "ping"), `{"id":1,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(2, "whoami"), `{"id":2,"error":{"message":"unauthorized"}}`)
      assert.strictEqual(yield* client(3, "auth", { token: "bad" }), `{"id":3,"error":{"message":"invalid token"}}`)
      assert.strictEqual(yield* client(4, "auth", 42), `{"id":4,"error":{"message":"invalid token"}}`)
      assert.strictEqual(yield* client(5, "whoami"), `{"id":5,"error":{"message":"unauthorized"}}`)
      assert.strictEqual(yield* client(6, "auth", { token: "s3cret" }), `{"id":6,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(7, "whoami"), `{"id":7,"result":"full"}`)
      // Once passed, `auth` is no longer the gate: a server without such a method says so, and a
      // wrong token no longer gets "invalid token".
      assert.strictEqual(
        yield* client(8, "auth", { token: "bad" }),
        `{"id":8,"error":{"message":"unknown method: auth"}}`
      )
      assert.strictEqual(yield* client(9, "whoami"), `{"id":9,"result":"full"}`)
    }))

  it.live("overrides: the auth method, the public methods (replacing `ping`) and the result", () =>
    Effect.gen(function*() {
      const client = call(
        yield* rawTcp(
          yield* serve({
            auth: { token: "t", method: "login", publicMethods: ["hello"], result: { welcome: true } }
          })
        )
      )
      assert.strictEqual(yield* client(1, "hello"), `{"id":1,"result":"hi"}`)
      assert.strictEqual(yield* client(2, "ping"), `{"id":2,"error":{"message":"unauthorized"}}`)
      assert.strictEqual(yield* client(3, "auth", "t"), `{"id":3,"error":{"message":"unauthorized"}}`)
      assert.strictEqual(yield* client(4, "login", "x"), `{"id":4,"error":{"message":"invalid token"}}`)
      assert.strictEqual(yield* client(5, "login", "t"), `{"id":5,"result":{"welcome":true}}`)
      assert.strictEqual(yield* client(6, "ping"), `{"id":6,"result":{"ok":true}}`)
    }))
})

describe("the built-in ping", () => {
  it.live("`ping: false` leaves no ping: it is an unknown method, before auth (still public) and after", () =>
    Effect.gen(function*() {
      const client = call(yield* rawTcp(yield* serve({ auth: { token: "t" }, ping: false })))
      assert.strictEqual(yield* client(1, "ping"), `{"id":1,"error":{"message":"unknown method: ping"}}`)
      assert.strictEqual(yield* client(2, "auth", "t"), `{"id":2,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(3, "ping"), `{"id":3,"error":{"message":"unknown method: ping"}}`)
      // And on a server without a gate (every other test here has the default ping).
      const open = call(yield* rawTcp(yield* serve({ ping: false })))
      assert.strictEqual(yield* open(1, "ping"), `{"id":1,"error":{"message":"unknown method: ping"}}`)
    }))
})

describe("the initialize gate", () => {
  it.live("alone: Not initialized before it, its handler's result, Already initialized after; public methods pass", () =>
    Effect.gen(function*() {
      const client = call(yield* rawTcp(yield* serve({ dialect: Dialect.lite, initialize: {} })))
      assert.strictEqual(
        yield* client(1, "read"),
        `{"id":1,"error":{"code":-32600,"message":"Not initialized"}}`
      )
      assert.strictEqual(yield* client(2, "ping"), `{"id":2,"result":{"ok":true}}`)
      // A failed initialize (bad params) does not pass the gate.
      assert.strictEqual(JSON.parse(yield* client(3, "initialize", {})).error.code, -32600)
      assert.strictEqual(
        yield* client(4, "read"),
        `{"id":4,"error":{"code":-32600,"message":"Not initialized"}}`
      )
      assert.strictEqual(yield* client(5, "initialize", { name: "me" }), `{"id":5,"result":{"hello":"me"}}`)
      assert.strictEqual(yield* client(6, "read"), `{"id":6,"result":"read"}`)
      assert.strictEqual(
        yield* client(7, "initialize", { name: "again" }),
        `{"id":7,"error":{"code":-32600,"message":"Already initialized"}}`
      )
    }))

  it.live("behind auth: auth first (initialize too is unauthorized), then initialize, then the rest", () =>
    Effect.gen(function*() {
      const client = call(yield* rawTcp(yield* serve({ auth: { token: "t" }, initialize: {} })))
      assert.strictEqual(yield* client(1, "initialize", { name: "me" }), `{"id":1,"error":{"message":"unauthorized"}}`)
      assert.strictEqual(yield* client(2, "auth", "t"), `{"id":2,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(3, "whoami"), `{"id":3,"error":{"message":"Not initialized"}}`)
      assert.strictEqual(yield* client(4, "initialize", { name: "me" }), `{"id":4,"result":{"hello":"me"}}`)
      assert.strictEqual(yield* client(5, "whoami"), `{"id":5,"result":"full"}`)
    }))

  it.live("a renamed initialize method is the gate; `initialize` is then an ordinary method", () =>
    Effect.gen(function*() {
      const client = call(yield* rawTcp(yield* serve({ initialize: { method: "hello" } })))
      assert.strictEqual(
        yield* client(1, "initialize", { name: "x" }),
        `{"id":1,"error":{"message":"Not initialized"}}`
      )
      assert.strictEqual(yield* client(2, "hello"), `{"id":2,"result":"hi"}`)
      assert.strictEqual(yield* client(3, "initialize", { name: "x" }), `{"id":3,"result":{"hello":"x"}}`)
      assert.strictEqual(yield* client(4, "hello"), `{"id":4,"error":{"message":"Already initialized"}}`)
    }))
})

describe("the initialize gate, more", () => {
  it.live("without the `initialize` option, a method named `initialize` is an ordinary one (called twice)", () =>
    Effect.gen(function*() {
      const client = call(yield* rawTcp(yield* serve({ auth: { token: "t" } })))
      assert.strictEqual(yield* client(1, "auth", "t"), `{"id":1,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(2, "initialize", { name: "a" }), `{"id":2,"result":{"hello":"a"}}`)
      assert.strictEqual(yield* client(3, "initialize", { name: "b" }), `{"id":3,"result":{"hello":"b"}}`)
      const open = call(yield* rawTcp(yield* serve({})))
      assert.strictEqual(yield* open(1, "initialize", { name: "c" }), `{"id":1,"result":{"hello":"c"}}`)
    }))

  it.live("strict JSON-RPC: a second initialize is Invalid Request, with the reason in `data`", () =>
    Effect.gen(function*() {
      const c = yield* rawTcp(yield* serve({ dialect: Dialect.strict, initialize: {} }))
      yield* c.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"name":"me"}}\n`)
      assert.deepStrictEqual(JSON.parse(yield* c.next()), { jsonrpc: "2.0", id: 1, result: { hello: "me" } })
      yield* c.send(`{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"name":"me"}}\n`)
      // JSON-RPC 2.0 §5.1: -32600 Invalid Request; `data` holds what the server adds about it.
      assert.deepStrictEqual(JSON.parse(yield* c.next()), {
        jsonrpc: "2.0",
        id: 2,
        error: { code: -32600, message: "Already initialized", data: "already initialized" }
      })
    }))
})

describe("the pre-auth size limit", () => {
  it.live("holds until every gate is passed (auth, then initialize), and a server without a gate has none", () =>
    Effect.gen(function*() {
      const c = yield* rawTcp(yield* serve({ auth: { token: "t" }, initialize: {}, maxBytesBeforeAuth: 256 }))
      const client = call(c)
      // A line over the limit is dropped; the small one after it is answered.
      yield* c.send(`${bigPing(1, 257)}\n{"id":2,"method":"ping"}\n`)
      assert.strictEqual(yield* c.next(), `{"id":2,"result":{"ok":true}}`)
      yield* c.send(`${bigPing(3, 256)}\n`)
      assert.strictEqual(yield* c.next(), `{"id":3,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(4, "auth", "t"), `{"id":4,"result":{"ok":true}}`)
      yield* c.send(`${bigPing(5, 1000)}\n{"id":6,"method":"ping"}\n`)
      assert.strictEqual(yield* c.next(), `{"id":6,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(7, "initialize", { name: "me" }), `{"id":7,"result":{"hello":"me"}}`)
      yield* c.send(`${bigPing(8, 100_000)}\n`)
      assert.strictEqual(yield* c.next(), `{"id":8,"result":{"ok":true}}`)

      // initialize alone is a gate too; no gate, no pre-auth limit (the default one is 64 KiB).
      const init = yield* rawTcp(yield* serve({ initialize: {}, maxBytesBeforeAuth: 256 }))
      yield* init.send(`${bigPing(1, 257)}\n{"id":2,"method":"ping"}\n`)
      assert.strictEqual(yield* init.next(), `{"id":2,"result":{"ok":true}}`)
      const open = yield* rawTcp(yield* serve({}))
      yield* open.send(`${bigPing(1, 100_000)}\n`)
      assert.strictEqual(yield* open.next(), `{"id":1,"result":{"ok":true}}`)
    }))
})

describe("a framing without setMaxBytes", () => {
  // `Decoder.setMaxBytes` is optional: a third-party framing may have none. The server then has no
  // pre-auth limit to apply or lift, and must serve gated connections all the same.
  const ndjson = Framing.ndjson()
  const fixed: Framing.Framing = {
    ...ndjson,
    name: "ndjson, fixed limit",
    makeDecoder: () => {
      const decoder = ndjson.makeDecoder()
      return { push: decoder.push, end: decoder.end }
    }
  }

  it.live("serves a connection through auth and initialize; lines are held to the framing's own limit only", () =>
    Effect.gen(function*() {
      const c = yield* rawTcp(
        yield* serve({ framing: fixed, auth: { token: "t" }, initialize: {}, maxBytesBeforeAuth: 256 })
      )
      const client = call(c)
      yield* c.send(`${bigPing(1, 1000)}\n`)
      assert.strictEqual(yield* c.next(), `{"id":1,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(2, "auth", "t"), `{"id":2,"result":{"ok":true}}`)
      assert.strictEqual(yield* client(3, "initialize", { name: "me" }), `{"id":3,"result":{"hello":"me"}}`)
      assert.strictEqual(yield* client(4, "read"), `{"id":4,"result":"read"}`)
    }))
})

describe("authTimeout", () => {
  // Over real sockets and real time: the server's timer must fire. 300 ms is enough for the
  // authenticated client's line to be answered first on a loaded machine; the test only waits for
  // the closes. That a connection through both gates stays open is checked in memory, under
  // TestClock, below (no sleep needed).
  it.live("closes a connection that passed auth but not initialize, and says which gate it missed", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const collector = Logger.make((options) => {
        logs.push(String(Array.isArray(options.message) ? options.message.join(" ") : options.message))
      })
      yield* Effect.gen(function*() {
        const port = yield* serve({ auth: { token: "t" }, initialize: {}, authTimeout: "300 millis" })
        const silent = yield* rawTcp(port)
        const authed = yield* rawTcp(port)
        assert.strictEqual(yield* call(authed)(1, "auth", "t"), `{"id":1,"result":{"ok":true}}`)
        yield* silent.closed
        yield* authed.closed
      }).pipe(Effect.provide(Logger.layer([collector])))
      const closes = logs.filter((line) => line.includes("authTimeout"))
      assert.strictEqual(closes.length, 2, logs.join("\n"))
      assert.isTrue(
        closes.some((line) => /did not pass the auth gate within 300 ?m(illi)?s \(authTimeout\)/.test(line)),
        closes.join("\n")
      )
      assert.isTrue(
        closes.some((line) => /did not pass the initialize gate within 300 ?m(illi)?s \(authTimeout\)/.test(line)),
        closes.join("\n")
      )
    }))
})

/**
 * A line client over an in-memory connection that `server` handles: `call` writes one request line
 * and reads the reply line; `ended` says whether the server has closed the connection.
 */
const memoryClient = (server: RpcServer.RpcServer) =>
  Effect.gen(function*() {
    const pair = yield* MemorySocket.makePair()
    const handled = yield* Effect.forkChild(server.handle(pair.server), { startImmediately: true })
    const writer = yield* pair.client.writer
    const reader = yield* pair.client.reader
    let buffered = ""
    const nextLine = Effect.gen(function*() {
      while (!buffered.includes("\n")) {
        for (const chunk of yield* Effect.orDie(reader.pull)) {
          buffered += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk)
        }
      }
      const end = buffered.indexOf("\n")
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 1)
      return line
    })
    return {
      call: (id: number, method: string, params?: unknown) =>
        Effect.andThen(
          Effect.orDie(
            writer.write(`${JSON.stringify(params === undefined ? { id, method } : { id, method, params })}\n`)
          ),
          nextLine
        ),
      ended: Effect.sync(() => handled.pollUnsafe() !== undefined)
    }
  })

describe("in memory, under TestClock", () => {
  it.effect("authTimeout, 10 s by default, closes at 10 s each connection not through every gate, and only those", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: Methods,
        handlers,
        auth: { token: "t" },
        initialize: {}
      })
      const silent = yield* memoryClient(server)
      const authed = yield* memoryClient(server)
      assert.strictEqual(yield* authed.call(1, "auth", "t"), `{"id":1,"result":{"ok":true}}`)
      const done = yield* memoryClient(server)
      assert.strictEqual(yield* done.call(1, "auth", "t"), `{"id":1,"result":{"ok":true}}`)
      assert.strictEqual(yield* done.call(2, "initialize", { name: "me" }), `{"id":2,"result":{"hello":"me"}}`)
      yield* TestClock.adjust("9999 millis")
      assert.strictEqual(yield* server.connections, 3)
      // TestClock.adjust returns once the fibers it woke, and what they started, are suspended: in
      // memory, the closes are done by then.
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* server.connections, 1)
      assert.isTrue(yield* silent.ended)
      assert.isTrue(yield* authed.ended)
      assert.strictEqual(yield* done.call(3, "read"), `{"id":3,"result":"read"}`)
      // Well past authTimeout (and short of the 30 min idleTimeout): nothing closes it later.
      yield* TestClock.adjust("20 minutes")
      assert.strictEqual(yield* done.call(4, "read"), `{"id":4,"result":"read"}`)
      assert.strictEqual(yield* server.connections, 1)
    }))

  it.effect("a handler's broadcast reaches its own connection when `auth` and the call came in its first read", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: MethodTable.make({ shout: MethodTable.method({}) }),
        handlers: { shout: (_params, context) => context.server.broadcast("shouted", { by: context.connectionId }) },
        auth: { token: "t" }
      })
      const pair = yield* MemorySocket.makePair()
      // Both lines wait in the socket before the server starts reading it.
      const writer = yield* pair.client.writer
      yield* writer.write(`{"id":1,"method":"auth","params":"t"}\n{"id":2,"method":"shout"}\n`)
      yield* Effect.forkChild(server.handle(pair.server), { startImmediately: true })
      // Everything up to the call's reply (whose result is the number of connections reached).
      const reader = yield* pair.client.reader
      let text = ""
      while (!/\{"id":2,.*\n/.test(text)) {
        for (const chunk of yield* reader.pull) {
          text += typeof chunk === "string"
            ? chunk
            : new TextDecoder().decode(chunk)
        }
      }
      assert.deepStrictEqual(text.split("\n").filter((line) => line.length > 0), [
        `{"id":1,"result":{"ok":true}}`,
        `{"method":"shouted","params":{"by":1}}`,
        `{"id":2,"result":1}`
      ])
    }))
})
