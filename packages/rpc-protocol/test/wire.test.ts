/**
 * Wire-level vectors for the lite (codex app-server, protocols.md §2) and strict dialects, sent as
 * raw lines to a real TCP server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, MethodTable, RpcServer } from "@isthmus/rpc-protocol"
import { serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Schema } from "effect"
import { rawTcp } from "./support/raw.ts"

const Methods = MethodTable.make({
  initialize: MethodTable.method({
    params: Schema.Struct({ clientInfo: Schema.Struct({ name: Schema.String, version: Schema.String }) })
  }),
  "thread/start": MethodTable.method({ params: Schema.Struct({}) }),
  "model/list": MethodTable.method({}),
  add: MethodTable.method({ params: Schema.Tuple([Schema.Number, Schema.Number]), result: Schema.Number }),
  boom: MethodTable.method({}),
  badResult: MethodTable.method({ result: Schema.Number })
})
const handlers = {
  initialize: () =>
    Effect.succeed({ userAgent: "isthmus", codexHome: "/home/me/.codex", platformFamily: "unix", platformOs: "linux" }),
  "thread/start": () => Effect.succeed({ thread: { id: "thr_1" } }),
  "model/list": () => Effect.succeed({ data: [] }),
  add: ([a, b]: readonly [number, number]) => Effect.succeed(a + b),
  boom: () => Effect.die(new Error("secret internals")),
  badResult: () => Effect.succeed("not a number" as unknown as number)
}

describe("lite dialect server (codex app-server vectors)", () => {
  it.live("initialize gate, unknown variant, ignored jsonrpc field, dropped junk", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.lite,
        framing: Framing.ndjson(),
        methods: Methods,
        handlers,
        initialize: {}
      })
      const { port } = yield* serveTcp(server)
      const c = yield* rawTcp(port)
      yield* c.send(`{"id":1,"method":"thread/start","params":{}}\n`)
      assert.strictEqual(yield* c.next(), `{"id":1,"error":{"code":-32600,"message":"Not initialized"}}`)
      yield* c.send(
        `{"method":"initialize","id":0,"params":{"clientInfo":{"name":"my_app","title":"My App","version":"1.0.0"},"capabilities":{"experimentalApi":true}}}\n`
      )
      assert.strictEqual(
        yield* c.next(),
        `{"id":0,"result":{"userAgent":"isthmus","codexHome":"/home/me/.codex","platformFamily":"unix","platformOs":"linux"}}`
      )
      yield* c.send(`{"method":"initialized"}\n`)
      yield* c.send(`{"id":2,"method":"initialize","params":{"clientInfo":{"name":"a","version":"1"}}}\n`)
      assert.strictEqual(yield* c.next(), `{"id":2,"error":{"code":-32600,"message":"Already initialized"}}`)
      yield* c.send(`{"id":3,"method":"no/such"}\n`)
      assert.strictEqual(
        yield* c.next(),
        "{\"id\":3,\"error\":{\"code\":-32600,\"message\":\"Invalid request: unknown variant `no/such`\"}}"
      )
      yield* c.send(`{"id":"req-a","method":"model/list","params":{}}\n`)
      assert.strictEqual(yield* c.next(), `{"id":"req-a","result":{"data":[]}}`)
      yield* c.send(`{"jsonrpc":"2.0","id":4,"method":"model/list"}\n`)
      assert.strictEqual(yield* c.next(), `{"id":4,"result":{"data":[]}}`)
      yield* c.send(`[{"id":5,"method":"model/list"}]\n{"id":1.5,"method":"x"}\n{"id":6}\nnot json\n`)
      // The next reply is the sentinel's: none of the junk lines before it was answered.
      yield* c.send(`{"id":9,"method":"model/list"}\n`)
      assert.strictEqual(yield* c.next(), `{"id":9,"result":{"data":[]}}`)
    }))
})

describe("strict dialect server (JSON-RPC 2.0)", () => {
  it.live("parse error, invalid request, batches, notifications, by-position params", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.strict,
        framing: Framing.ndjson(),
        methods: Methods,
        handlers
      })
      const { port } = yield* serveTcp(server)
      const c = yield* rawTcp(port)
      yield* c.send(`{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}\n`)
      assert.strictEqual(yield* c.next(), `{"jsonrpc":"2.0","id":1,"result":3}`)
      yield* c.send(`{"jsonrpc":"2.0","method":"foobar","id":"1"}\n`)
      const notFound = JSON.parse(yield* c.next()) as { id: string; error: { code: number } }
      assert.deepStrictEqual([notFound.id, notFound.error.code], ["1", -32601])
      yield* c.send(`{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]\n`)
      const parse = JSON.parse(yield* c.next()) as { id: null; error: { code: number } }
      assert.deepStrictEqual([parse.id, parse.error.code], [null, -32700])
      yield* c.send(`{"jsonrpc":"2.0","method":1,"params":"bar"}\n`)
      const invalid = JSON.parse(yield* c.next()) as { id: null; error: { code: number } }
      assert.deepStrictEqual([invalid.id, invalid.error.code], [null, -32600])
      yield* c.send(`[]\n`)
      assert.strictEqual((JSON.parse(yield* c.next()) as { error: { code: number } }).error.code, -32600)
      yield* c.send(
        `[{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"1"},{"jsonrpc":"2.0","method":"add","params":[7]},{"foo":"boo"},{"jsonrpc":"2.0","method":"add","params":["a",1],"id":"5"}]\n`
      )
      const batch = JSON.parse(yield* c.next()) as Array<
        { id: string | null; result?: number; error?: { code: number } }
      >
      assert.deepStrictEqual(batch.map((r) => [r.id, r.result ?? r.error?.code]), [["1", 3], [null, -32600], [
        "5",
        -32602
      ]])
      yield* c.send(`{"jsonrpc":"2.0","method":"boom","id":7}\n`)
      const boom = yield* c.next()
      assert.strictEqual((JSON.parse(boom) as { error: { code: number } }).error.code, -32603)
      assert.notInclude(boom, "secret internals")
      yield* c.send(`{"jsonrpc":"2.0","method":"badResult","id":8}\n`)
      assert.strictEqual((JSON.parse(yield* c.next()) as { error: { code: number } }).error.code, -32603)
      yield* c.send(
        `[{"jsonrpc":"2.0","method":"add","params":[1,2]},{"jsonrpc":"2.0","method":"add","params":[3,4]}]\n`
      )
      // A batch of notifications gets no reply: the next line answers the sentinel.
      yield* c.send(`{"jsonrpc":"2.0","method":"add","params":[2,2],"id":9}\n`)
      assert.strictEqual(yield* c.next(), `{"jsonrpc":"2.0","id":9,"result":4}`)
    }))
})
