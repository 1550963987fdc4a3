/**
 * Id rules and message classification at their edges (issue #14, mutation testing): which ids each
 * dialect takes (protocols.md §1: the daemon reads `as_u64()`; §2: codex takes i64 or string and
 * drops fractional ids; JSON-RPC 2.0 §4: String, Number or Null), how the raw text's `1.0` / `1e0`
 * is found, and that every refusal says what it refused (strict answers it as the error's `data`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Dialect, Message } from "@isthmus/rpc-protocol"
import { kind, message } from "./support/decoded.ts"

const refusal = (d: Dialect.Dialect, text: string): { readonly id: unknown; readonly detail: string } => {
  const decoded = d.decode(text)
  if (decoded._tag !== "Invalid") throw new Error(`not refused: ${text}`)
  return { id: decoded.id, detail: decoded.detail }
}

// 2^53 + 1: an integer id JavaScript cannot hold exactly (it parses as 2^53).
const unsafeId = "9007199254740993"

describe("rawIdIsFractional finds the id token's own spelling", () => {
  it("every spelling of a fraction or exponent, with any JSON whitespace around the colon", () => {
    for (
      const [raw, id] of [
        [`{"id":1.0}`, 1],
        [`{"id":10.0}`, 10],
        [`{"id":9.0}`, 9],
        [`{"id":1e0}`, 1],
        [`{"id":1E0}`, 1],
        [`{"id":1e+0}`, 1],
        [`{"id":10e-1}`, 1],
        [`{"id":-1.0}`, -1],
        [`{"id":2.50e1}`, 25],
        [`{"id" :1.0}`, 1],
        [`{"id"\t:\t1.0}`, 1],
        [`{"id"\n:\n1.0}`, 1],
        [`{"id"\r\n:\r\n1.0}`, 1],
        [`{"method":"m","id": 7.0,"params":[]}`, 7],
        // The message's own id is fractional, whatever a nested one says.
        [`{"params":{"id":1},"id":1.0,"method":"m"}`, 1],
        [`{"params":{"id":1.0,"x":[{"id":1.0}]},"id":1.0}`, 1],
        // Braces and escapes inside strings are text, not structure.
        [`{"params":{"s":"{{"},"id":1.0}`, 1],
        [`{"params":"a \\" b \\\\","id":1e0}`, 1],
        [`{"params":[[1],{"a":[]}],"id":1.0}`, 1],
        // Duplicate keys: JSON.parse keeps the last, and that one is written as a fraction.
        [`{"id":2,"id":1.0}`, 1]
      ] as const
    ) {
      JSON.parse(raw) // well-formed: the cases are about the id, not about bad JSON
      assert.isTrue(Dialect.rawIdIsFractional(raw, id), raw)
    }
  })

  it("a plain integer id is not fractional, whatever else in the text is", () => {
    for (
      const [raw, id] of [
        [`{"id":1}`, 1],
        [`{"id":10,"params":{"x":1.5}}`, 10],
        [`{"id":1,"params":{"x":1.0}}`, 1],
        // The string "id" as a value, followed by a fraction equal to the id: not the id token.
        [`{"params":["id",1.0],"id":1}`, 1],
        [`{"params":"id","x":1.0,"id":1}`, 1],
        // A nested "id" with a fraction that is not this id.
        [`{"id":1,"params":{"id":2.0}}`, 1],
        [`{"id":1,"params":{"id":1e5}}`, 1],
        // A nested "id" written as a fraction equal to this id: serde reads only the top-level
        // field, so the message's id is the integer 1.
        [`{"id":1,"method":"m","params":{"id":1.0}}`, 1],
        [`{"params":{"id":1.0},"id":1,"method":"m"}`, 1],
        [`{"id":1,"result":[{"id":1.0},{"a":{"id":1e0}}]}`, 1],
        // Braces and escapes inside strings are text, not structure.
        [`{"id":1,"params":{"s":"}}{","id":1.0}}`, 1],
        [`{"id":1,"params":{"s":"x\\\\","id":1.0}}`, 1],
        [`{"id":1,"params":[[{"id":1.0}]]}`, 1],
        // Duplicate keys: the fraction is another id than the one JSON.parse kept.
        [`{"id":2.0,"id":1}`, 1],
        [`{"id":-3}`, -3]
      ] as const
    ) {
      JSON.parse(raw)
      assert.isFalse(Dialect.rawIdIsFractional(raw, id), raw)
    }
  })
})

describe("rawIdIsFractional on text that is not JSON", () => {
  it("an unterminated string ends the search instead of running past the text", () => {
    // Exported, so callers may hand it any text; the dialects only pass text JSON.parse took.
    assert.isTrue(Dialect.rawIdIsFractional(`{"id":1.0,"s":"abc`, 1))
    assert.isTrue(Dialect.rawIdIsFractional(`{"id":1.0,"s":"abc\\`, 1))
  })
})

describe("a nested id written as a fraction does not make the message's integer id fractional", () => {
  // Both real peers read the top-level field with serde (protocols.md §1, §2), which takes
  // `"id":1` as the integer 1 whatever `params` holds; a request must be answered.
  const text = `{"id":1,"method":"m","params":{"id":1.0}}`
  it("lite: a request with id 1", () => {
    assert.deepStrictEqual(message(Dialect.lite, text), Message.request(1, "m", { id: 1 }))
  })
  it("daemon: a request with id 1, not a notification", () => {
    assert.deepStrictEqual(message(Dialect.daemon, text), Message.request(1, "m", { id: 1 }))
  })
})

describe("strict JSON-RPC 2.0 ids and shapes", () => {
  const d = Dialect.strict
  it("ids are strings or finite numbers: 1e400 (Infinity once parsed), true, {} and [] are refused", () => {
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":1e400,"method":"m"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":true,"method":"m"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":{},"method":"m"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":1e400,"result":1}`), "Invalid:InvalidRequest")
    assert.deepStrictEqual(message(d, `{"jsonrpc":"2.0","id":1.5,"method":"m"}`), Message.request(1.5, "m", undefined))
    assert.deepStrictEqual(message(d, `{"jsonrpc":"2.0","id":"","method":"m"}`), Message.request("", "m", undefined))
    assert.isTrue(d.isId("a") && d.isId(-2.5) && !d.isId(Infinity) && !d.isId(NaN) && !d.isId(null))
  })

  it("an unreadable id is answered as null, a readable one is kept", () => {
    assert.deepStrictEqual(refusal(d, `{"jsonrpc":"1.0","id":{},"method":"m"}`).id, null)
    assert.deepStrictEqual(refusal(d, `{"jsonrpc":"1.0","id":1e400,"method":"m"}`).id, null)
    assert.deepStrictEqual(refusal(d, `{"jsonrpc":"1.0","id":"a","method":"m"}`).id, "a")
    assert.deepStrictEqual(refusal(d, `{"jsonrpc":"2.0","id":3,"method":"m","params":null}`).id, 3)
    assert.deepStrictEqual(refusal(d, `{"jsonrpc":"2.0","id":4}`).id, 4)
    assert.deepStrictEqual(refusal(d, `{"jsonrpc":"2.0","id":true,"method":"m"}`).id, null)
  })

  it("params must be structured: null, strings and numbers are refused, [] and {} are fine", () => {
    for (const params of ["null", `"x"`, "3", "true"]) {
      assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":1,"method":"m","params":${params}}`), "Invalid:InvalidRequest")
      assert.strictEqual(kind(d, `{"jsonrpc":"2.0","method":"m","params":${params}}`), "Invalid:InvalidRequest")
    }
    assert.deepStrictEqual(message(d, `{"jsonrpc":"2.0","id":1,"method":"m","params":[]}`), Message.request(1, "m", []))
    assert.deepStrictEqual(message(d, `{"jsonrpc":"2.0","method":"m","params":{}}`), Message.notification("m", {}))
  })

  it("responses: exactly one of result/error, a readable id, and a coded error object", () => {
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":1}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","result":1}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":null,"result":1}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":1,"error":{"message":"no code"}}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","id":1,"error":"boom"}`), "Invalid:InvalidRequest")
    assert.strictEqual(
      kind(d, `{"jsonrpc":"2.0","id":true,"error":{"code":1,"message":"m"}}`),
      "Invalid:InvalidRequest"
    )
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","error":{"code":1,"message":"m"}}`), "Invalid:InvalidRequest")
    assert.deepStrictEqual(
      message(d, `{"jsonrpc":"2.0","id":"x","error":{"code":-32000,"message":"m","data":[1]}}`),
      Message.errorResponse("x", { code: -32000, message: "m", data: [1] })
    )
    assert.deepStrictEqual(
      message(d, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`),
      Message.errorResponse(null, { code: -32700, message: "Parse error" })
    )
  })

  it("every refusal says what it refused (strict sends this as the error's data)", () => {
    const cases: ReadonlyArray<readonly [string, RegExp]> = [
      [`3`, /object/],
      [`{"id":1,"method":"m"}`, /jsonrpc/],
      [`{"jsonrpc":"2.0","id":1,"method":2}`, /method/],
      [`{"jsonrpc":"2.0","id":1,"method":"m","params":1}`, /params/],
      [`{"jsonrpc":"2.0","id":true,"method":"m"}`, /id/],
      [`{"jsonrpc":"2.0","id":1}`, /result.*error/],
      [`{"jsonrpc":"2.0","id":null,"result":1}`, /id/],
      [`{"jsonrpc":"2.0","id":1,"error":{"message":"m"}}`, /error.*code/],
      [`{"jsonrpc":"2.0","id":true,"error":{"code":1,"message":"m"}}`, /id/]
    ]
    for (const [text, says] of cases) {
      const { detail } = refusal(d, text)
      assert.match(detail, says, text)
    }
    const batch = d.decode(`[3]`)
    assert.isTrue(batch._tag === "Batch" && batch.items[0]?._tag === "Invalid" && /object/.test(batch.items[0].detail))
  })

  it("valid JSON that is not an object is an Invalid Request, not a Parse error (JSON-RPC 2.0 §7 examples)", () => {
    // §7: `1` is "an invalid Request" (-32600) and `[1,2,3]` an invalid Batch of three -32600s;
    // only text that is not JSON is a Parse error (-32700).
    for (const text of ["1", `"x"`, "null", "true"]) assert.strictEqual(kind(d, text), "Invalid:InvalidRequest", text)
    const batch = d.decode("[1,2,3]")
    assert.deepStrictEqual(
      batch._tag === "Batch" ? batch.items.map((item) => item._tag === "Invalid" ? item.reason : item._tag) : batch,
      ["InvalidRequest", "InvalidRequest", "InvalidRequest"]
    )
    assert.strictEqual(kind(d, `{"jsonrpc":"2.0","method":"m"`), "Invalid:ParseError")
  })
})

describe("lite (codex) ids and shapes", () => {
  const d = Dialect.lite
  it("ids are i64 or strings: unsafe integers, 1e400 and fractions are refused", () => {
    assert.strictEqual(kind(d, `{"id":${unsafeId},"method":"m"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":1e400,"method":"m"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":-1.0,"method":"m"}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":1e0,"result":1}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"id":null,"method":"m"}`), "Invalid:InvalidRequest")
    assert.deepStrictEqual(message(d, `{"id":-7,"method":"m"}`), Message.request(-7, "m", undefined))
    assert.deepStrictEqual(message(d, `{"id":"7.0","method":"m"}`), Message.request("7.0", "m", undefined))
    assert.deepStrictEqual(
      message(d, `{"id":${Number.MAX_SAFE_INTEGER},"result":1}`),
      Message.response(Number.MAX_SAFE_INTEGER, 1)
    )
    assert.isTrue(d.isId("a") && d.isId(-3) && !d.isId(1.5) && !d.isId(2 ** 53) && !d.isId(null))
  })

  it("without the raw text only the parsed value counts (decodeValue)", () => {
    assert.deepStrictEqual(d.decodeValue({ id: 1, method: "m" }), {
      _tag: "Message",
      message: Message.request(1, "m", undefined)
    })
    assert.strictEqual(d.decodeValue({ id: 1.5, method: "m" })._tag, "Invalid")
  })

  it("non-objects, and objects that are none of the four kinds, are refused and say so", () => {
    for (const text of ["null", "3", `"x"`, "true"]) {
      assert.match(refusal(d, text).detail, /object/, text)
      // JSON, so not a parse error: the same reason as strict JSON-RPC gives it (§7, `1`).
      assert.strictEqual(kind(d, text), "Invalid:InvalidRequest", text)
    }
    assert.match(refusal(d, `[{"id":1,"method":"m"}]`).detail, /batch/)
    assert.match(refusal(d, `{"id":1.5,"method":"m"}`).detail, /id/)
    assert.match(refusal(d, `{"result":1}`).detail, /request|response/)
    assert.deepStrictEqual(refusal(d, `{"id":6}`), {
      id: 6,
      detail: refusal(d, `{"id":6,"error":{"message":"m"}}`).detail
    })
    assert.match(refusal(d, `{"id":"a","error":"boom"}`).detail, /result.*error/)
    assert.strictEqual(refusal(d, `{"id":"a","error":"boom"}`).id, "a")
    assert.strictEqual(kind(d, `{"error":{"code":1,"message":"m"}}`), "Invalid:InvalidRequest")
    assert.strictEqual(kind(d, `{"method":3}`), "Invalid:InvalidRequest")
  })
})

describe("daemon (CodexMonitor) ids and shapes", () => {
  const d = Dialect.daemon
  it("ids are u64: 0 and the largest safe integer are ids; unsafe, negative, string, null and 1e400 are not", () => {
    assert.deepStrictEqual(message(d, `{"id":0,"method":"m"}`), Message.request(0, "m", null))
    assert.deepStrictEqual(message(d, `{"id":0,"result":1}`), Message.response(0, 1))
    assert.deepStrictEqual(
      message(d, `{"id":${Number.MAX_SAFE_INTEGER},"method":"m"}`),
      Message.request(Number.MAX_SAFE_INTEGER, "m", null)
    )
    for (const id of [unsafeId, "-1", `"1"`, "null", "1e400", "1.5", "2.0", "3e0"]) {
      assert.strictEqual(kind(d, `{"id":${id},"method":"m"}`), "Notification", id)
      assert.strictEqual(kind(d, `{"id":${id},"result":1}`), "Invalid:InvalidRequest", id)
    }
    assert.isTrue(d.isId(0) && !d.isId(-1) && !d.isId(1.5) && !d.isId(2 ** 53) && !d.isId("1"))
  })

  it("params and results default to null; error null is no error; a non-object error is its JSON text", () => {
    assert.deepStrictEqual(message(d, `{"id":1,"method":"m","params":[2]}`), Message.request(1, "m", [2]))
    assert.deepStrictEqual(message(d, `{"id":1,"method":"m","params":null}`), Message.request(1, "m", null))
    assert.deepStrictEqual(message(d, `{"method":"m","params":{"a":1}}`), Message.notification("m", { a: 1 }))
    assert.deepStrictEqual(message(d, `{"id":1,"error":null,"result":5}`), Message.response(1, 5))
    assert.deepStrictEqual(message(d, `{"id":1,"error":null}`), Message.response(1, null))
    assert.deepStrictEqual(message(d, `{"id":1,"result":false}`), Message.response(1, false))
    assert.deepStrictEqual(message(d, `{"id":1,"error":"boom"}`), Message.errorResponse(1, { message: `"boom"` }))
    assert.deepStrictEqual(
      message(d, `{"id":1,"error":{"code":3}}`),
      Message.errorResponse(1, { message: `{"code":3}` })
    )
    assert.deepStrictEqual(
      message(d, `{"id":1,"error":{"message":7}}`),
      Message.errorResponse(1, { message: `{"message":7}` })
    )
    assert.deepStrictEqual(message(d, `{"id":1,"error":{"message":"no"}}`), Message.errorResponse(1, { message: "no" }))
  })

  it("refusals say what they refused", () => {
    for (const text of ["null", "[]", "3"]) assert.match(refusal(d, text).detail, /object/, text)
    assert.match(refusal(d, `{"id":"x","result":1}`).detail, /id/)
  })
})
