import { assert, describe, it } from "@effect/vitest"
import { Dialect, Message } from "@isthmus/rpc-protocol"
import * as fc from "fast-check"
import { kind, message } from "./support/decoded.ts"

describe("daemon dialect (CodexMonitor, protocols.md §1)", () => {
  const d = Dialect.daemon
  it("classifies the sample lines", () => {
    assert.deepStrictEqual(
      message(d, `{"id":1,"method":"auth","params":{"token":"s3cret"}}`),
      Message.request(1, "auth", { token: "s3cret" })
    )
    assert.deepStrictEqual(
      message(d, `{"id":1,"method":"auth","params":"s3cret"}`),
      Message.request(1, "auth", "s3cret")
    )
    assert.deepStrictEqual(message(d, `{"id":3,"method":"nope"}`), Message.request(3, "nope", null))
    assert.deepStrictEqual(message(d, `{"id":1,"result":{"ok":true}}`), Message.response(1, { ok: true }))
    assert.deepStrictEqual(
      message(d, `{"id":2,"error":{"message":"unauthorized"}}`),
      Message.errorResponse(2, { message: "unauthorized" })
    )
    const event = message(
      d,
      `{"method":"app-server-event","params":{"workspace_id":"ws-1","message":{"id":0,"method":"item/commandExecution/requestApproval","params":{"threadId":"thr_1","turnId":"turn_1","itemId":"call_1"}}}}`
    )
    assert.strictEqual(event._tag, "Notification")
    assert.strictEqual(
      kind(d, `{"method":"terminal-output","params":{"workspaceId":"ws-1","terminalId":"t1","data":"ls\\r\\n"}}`),
      "Notification"
    )
  })
  it("string, negative and 1.0 ids run without a reply (notification); {\"id\":1} is a null result", () => {
    assert.strictEqual(kind(d, `{"id":"4","method":"ping"}`), "Notification")
    assert.strictEqual(kind(d, `{"id":-1,"method":"ping"}`), "Notification")
    assert.strictEqual(kind(d, `{"id":1.0,"method":"ping"}`), "Notification")
    assert.strictEqual(kind(d, `{"id": 1e0,"method":"ping"}`), "Notification")
    assert.strictEqual(kind(d, `{"method":"ping"}`), "Notification")
    assert.deepStrictEqual(message(d, `{"id":1}`), Message.response(1, null))
  })
  it("drops junk", () => {
    assert.strictEqual(kind(d, "not json"), "Invalid:ParseError")
    assert.strictEqual(kind(d, `[{"id":1,"method":"x"}]`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":"x","result":1}`), "Invalid:InvalidRequest")
    assert.isFalse(d.replyToInvalid)
  })
  it("writes the daemon's exact shapes", () => {
    assert.strictEqual(
      d.encode(Message.request(1, "auth", { token: "t" })),
      `{"id":1,"method":"auth","params":{"token":"t"}}`
    )
    assert.strictEqual(
      d.encode(Message.errorResponse(3, { code: -32601, message: "unknown method: nope", data: 1 })),
      `{"id":3,"error":{"message":"unknown method: nope"}}`
    )
    assert.strictEqual(d.encode(Message.response(1, undefined)), `{"id":1,"result":null}`)
    assert.deepStrictEqual(d.errors.methodNotFound("nope"), { message: "unknown method: nope" })
  })
})

describe("lite dialect (codex app-server, protocols.md §2)", () => {
  const d = Dialect.lite
  it("classifies the sample lines", () => {
    assert.deepStrictEqual(
      message(
        d,
        `{"method":"initialize","id":0,"params":{"clientInfo":{"name":"my_app","title":"My App","version":"1.0.0"},"capabilities":{"experimentalApi":true}}}`
      )._tag,
      "Request"
    )
    assert.deepStrictEqual(message(d, `{"method":"initialized"}`), Message.notification("initialized", undefined))
    assert.deepStrictEqual(
      message(d, `{"id":1,"error":{"code":-32600,"message":"Not initialized"}}`),
      Message.errorResponse(1, { code: -32600, message: "Not initialized" })
    )
    assert.deepStrictEqual(
      message(d, `{"id":"req-a","method":"model/list","params":{}}`),
      Message.request("req-a", "model/list", {})
    )
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":4,"method":"model/list"}`), "Request")
    assert.deepStrictEqual(
      message(d, `{"id":0,"result":{"decision":"accept"}}`),
      Message.response(0, { decision: "accept" })
    )
    assert.deepStrictEqual(
      message(d, `{"id":7,"error":{"code":-32001,"message":"Server overloaded; retry later."}}`),
      Message.errorResponse(7, { code: -32001, message: "Server overloaded; retry later." })
    )
    assert.strictEqual(
      kind(
        d,
        `{"id":0,"method":"item/commandExecution/requestApproval","params":{"threadId":"thr_1","turnId":"turn_1","itemId":"call_1","command":"rm -rf build","cwd":"/repo"}}`
      ),
      "Request"
    )
  })
  it("precedence: a line with id and method is a request even with a result", () => {
    assert.strictEqual(kind(d, `{"id":1,"method":"x","result":2}`), "Request")
    assert.strictEqual(kind(d, `{"id":1,"result":null,"error":{"code":1,"message":"m"}}`), "Response")
  })
  it("drops arrays, fractional ids, {\"id\":6} and bad JSON", () => {
    assert.strictEqual(kind(d, `[{"id":5,"method":"model/list"}]`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":1.5,"method":"x"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":1.0,"method":"x"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":6}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":6,"error":{"message":"no code"}}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{oops`), "Invalid:ParseError")
    assert.isFalse(d.replyToInvalid)
  })
  it("writes without jsonrpc and keeps {code,message,data}", () => {
    assert.strictEqual(d.encode(Message.notification("initialized")), `{"method":"initialized"}`)
    assert.strictEqual(
      d.encode(Message.errorResponse(3, d.errors.methodNotFound("no/such"))),
      `{"id":3,"error":{"code":-32600,"message":"Invalid request: unknown variant \`no/such\`"}}`
    )
    assert.strictEqual(
      d.encode(Message.errorResponse(1, { code: -32600, message: "x", data: { reason: "serverShuttingDown" } })),
      `{"id":1,"error":{"code":-32600,"message":"x","data":{"reason":"serverShuttingDown"}}}`
    )
  })
})

describe("strict JSON-RPC 2.0", () => {
  const d = Dialect.strict
  it("requires jsonrpc 2.0 and classifies", () => {
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}`), "Request")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","method":"m"}`), "Notification")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":"a","result":null}`), "Response")
    assert.strictEqual(
      kind(d, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`),
      "ErrorResponse"
    )
    assert.strictEqual(kind(d, `{"id":1,"method":"m"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":1,"method":"m","params":3}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":null,"method":"m"}`), "Invalid:InvalidRequest")
    assert.strictEqual(
      kind(d, `{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}`),
      "Invalid:InvalidRequest"
    )
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","method":1}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{bad`), "Invalid:ParseError")
  })
  it("batches: mixed items, and an empty batch is one invalid request", () => {
    assert.strictEqual(
      kind(d, `[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},1]`),
      "Batch(Request,Notification,Invalid)"
    )
    assert.strictEqual(kind(d, `[]`), "Invalid:InvalidRequest")
    assert.strictEqual(
      d.encodeBatch([Message.response(1, 2), Message.response(2, 3)]),
      `[{"jsonrpc":"2.0","id":1,"result":2},{"jsonrpc":"2.0","id":2,"result":3}]`
    )
  })
  it("standard error codes; the invalid request id is kept when readable", () => {
    assert.strictEqual(d.errors.parseError().code, -32700)
    assert.strictEqual(d.errors.invalidRequest("x").code, -32600)
    assert.strictEqual(d.errors.methodNotFound("x").code, -32601)
    assert.strictEqual(d.errors.invalidParams("x", "y").code, -32602)
    assert.strictEqual(d.errors.internal("x").code, -32603)
    const decoded = d.decode(`{"jsonrpc":"1.0","id":9,"method":"m"}`)
    assert.isTrue(decoded._tag === "Invalid" && decoded.id === 9)
    assert.strictEqual(d.encode(Message.notification("n", [1])), `{"jsonrpc":"2.0","method":"n","params":[1]}`)
  })
})

describe("custom dialects", () => {
  it("make overrides parts of a base", () => {
    const mine = Dialect.make(Dialect.lite, {
      name: "mine",
      errors: { ...Dialect.lite.errors, methodNotFound: (m) => ({ code: -32601, message: `no ${m}` }) }
    })
    assert.strictEqual(mine.name, "mine")
    assert.deepStrictEqual(mine.errors.methodNotFound("x"), { code: -32601, message: "no x" })
    assert.strictEqual(kind(mine, `{"id":1,"method":"m"}`), "Request")
  })
  it("rawIdIsFractional only flags the id token", () => {
    assert.isTrue(Dialect.rawIdIsFractional(`{"id":1.0}`, 1))
    assert.isFalse(Dialect.rawIdIsFractional(`{"id":1,"params":{"x":1.0}}`, 1))
    assert.isFalse(Dialect.rawIdIsFractional(`{"id" : 10}`, 10))
  })
})

const json = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown)
const method = fc.string({ minLength: 1, maxLength: 20 })
const u64 = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const i64 = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })

const arbitraryMessage = (dialect: "strict" | "lite" | "daemon"): fc.Arbitrary<Message.Message> => {
  const id: fc.Arbitrary<Message.Id> = dialect === "daemon" ? u64 : fc.oneof(i64, fc.string({ maxLength: 12 }))
  const params: fc.Arbitrary<unknown> = dialect === "strict"
    ? fc.option(fc.oneof(fc.array(json, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), json)), {
      nil: undefined
    })
    : dialect === "daemon"
    ? json
    : fc.option(json, { nil: undefined })
  const error: fc.Arbitrary<Message.ErrorObject> = dialect === "daemon"
    ? fc.record({ message: fc.string() })
    : fc.oneof(
      fc.record({ code: fc.integer({ min: -32768, max: 32767 }), message: fc.string() }),
      fc.record({ code: fc.integer(), message: fc.string(), data: json.filter((d) => d !== null) })
    )
  return fc.oneof(
    fc.tuple(id, method, params).map(([i, m, p]) => Message.request(i, m, p)),
    fc.tuple(method, params).map(([m, p]) => Message.notification(m, p)),
    fc.tuple(id, json).map(([i, r]) => Message.response(i, r)),
    fc.tuple(id, error).map(([i, e]) => Message.errorResponse(i, e))
  )
}

describe("encode-then-decode is identity (fast-check)", () => {
  for (
    const [name, dialect] of [["strict", Dialect.strict], ["lite", Dialect.lite], ["daemon", Dialect.daemon]] as const
  ) {
    it(`${name} dialect`, () => {
      fc.assert(
        fc.property(arbitraryMessage(name), (m) => {
          const decoded = dialect.decode(dialect.encode(m))
          assert.deepStrictEqual(decoded, { _tag: "Message", message: m })
        }),
        { numRuns: 500 }
      )
    })
  }
  it("strict batches round-trip", () => {
    fc.assert(
      fc.property(fc.array(arbitraryMessage("strict"), { minLength: 1, maxLength: 5 }), (ms) => {
        assert.deepStrictEqual(Dialect.strict.decode(Dialect.strict.encodeBatch(ms)), { _tag: "Batch", items: ms })
      }),
      { numRuns: 200 }
    )
  })
})
