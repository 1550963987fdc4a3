/**
 * Exact edges that one-line mutants used to get past (issue #11 finding 7): the token compare and
 * its length, the NDJSON / Content-Length / WebSocket size limits at limit and limit + 1, and ids
 * of the wrong type settling a call.
 */
import { assert, describe, it } from "@effect/vitest"
import { Auth, Dialect, Framing, RpcPeer, RpcServer } from "@isthmus/rpc-protocol"
import { checkUpgrade, connectTcp, serveTcp } from "@isthmus/rpc-protocol/node"
import { Effect, Redacted } from "effect"
import * as fc from "fast-check"
import * as net from "node:net"
import { onLines } from "./support/lines.ts"
import { rawTcp } from "./support/raw.ts"

const utf8 = new TextEncoder()

const feed = (framing: Framing.Framing, chunks: ReadonlyArray<Uint8Array | string>) => {
  const decoder = framing.makeDecoder()
  const out: Array<Framing.Frame> = []
  for (const chunk of chunks) out.push(...decoder.push(chunk))
  out.push(...decoder.end())
  return out.map((f) => (f._tag === "Text" ? f.text : `<${f._tag}>`))
}

/** A JSON text of exactly `bytes` UTF-8 bytes (with 2-byte characters inside when `wide`). */
const jsonOfBytes = (bytes: number, wide = false): string => {
  const room = bytes - utf8.encode(`{"x":""}`).length
  const wideChars = wide ? Math.floor(room / 2) : 0
  const filler = "é".repeat(wideChars) + "y".repeat(room - 2 * wideChars)
  const text = `{"x":"${filler}"}`
  assert.strictEqual(utf8.encode(text).length, bytes)
  return text
}

/** Every way to cut `bytes` in two, plus the whole. */
const splits = (text: string): Array<Array<Uint8Array>> => {
  const bytes = utf8.encode(text)
  const out: Array<Array<Uint8Array>> = [[bytes]]
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)])
  return out
}

/** A daemon `ping` request line of exactly `bytes` bytes. */
const pingOfBytes = (id: number, bytes: number) => {
  const head = `{"id":${id},"method":"ping","params":"`
  return `${head}${"p".repeat(bytes - head.length - 2)}"}`
}

describe("size limits are inclusive: limit bytes pass, limit + 1 do not", () => {
  const limit = 40
  for (const wide of [false, true]) {
    it(`NDJSON maxLineBytes (${wide ? "multi-byte" : "ASCII"} text), however the line is chunked`, () => {
      const at = jsonOfBytes(limit, wide)
      const over = jsonOfBytes(limit + 1, wide)
      for (const chunks of splits(`${at}\n${over}\n{"z":1}\n`)) {
        assert.deepStrictEqual(feed(Framing.ndjson({ maxLineBytes: limit }), chunks), [at, "<Oversized>", `{"z":1}`])
      }
      // A final line without a newline is held to the same limit.
      assert.deepStrictEqual(feed(Framing.ndjson({ maxLineBytes: limit }), [at]), [at])
      assert.deepStrictEqual(feed(Framing.ndjson({ maxLineBytes: limit }), [over]), ["<Oversized>"])
    })
  }

  it("Content-Length maxBodyBytes, however the message is chunked", () => {
    const at = jsonOfBytes(limit)
    const over = jsonOfBytes(limit + 1)
    const wire = `Content-Length: ${limit}\r\n\r\n${at}Content-Length: ${limit + 1}\r\n\r\n${over}` +
      `Content-Length: 7\r\n\r\n{"z":1}`
    for (const chunks of splits(wire)) {
      assert.deepStrictEqual(feed(Framing.contentLength({ maxBodyBytes: limit }), chunks), [
        at,
        "<Oversized>",
        `{"z":1}`
      ])
    }
  })

  it("Content-Length maxHeaderBytes, however the header block is chunked", () => {
    const maxHeaderBytes = 32
    // Header blocks (without the blank line) of exactly 32 and 33 bytes.
    const atHeader = `Content-Length: 2\r\nX-Pad: ${"p".repeat(32 - 26)}`
    const overHeader = `Content-Length: 2\r\nX-Pad: ${"p".repeat(33 - 26)}`
    assert.strictEqual(atHeader.length, 32)
    assert.strictEqual(overHeader.length, 33)
    for (const chunks of splits(`${atHeader}\r\n\r\n{}`)) {
      assert.deepStrictEqual(feed(Framing.contentLength({ maxHeaderBytes }), chunks), ["{}"])
    }
    for (const chunks of splits(`${overHeader}\r\n\r\n{}`)) {
      const frames = feed(Framing.contentLength({ maxHeaderBytes }), chunks)
      assert.strictEqual(frames[0], "<BadHeader>", `chunks ${chunks.map((c) => c.length).join("+")}`)
      assert.notInclude(frames, "{}")
    }
  })

  it("WebSocket maxFrameBytes, for text and binary frames", () => {
    const at = jsonOfBytes(limit, true)
    const over = jsonOfBytes(limit + 1, true)
    const framing = Framing.webSocket({ maxFrameBytes: limit, binary: "text" })
    assert.deepStrictEqual(feed(framing, [at, over, utf8.encode(at), utf8.encode(over)]), [
      at,
      "<Oversized>",
      at,
      "<Oversized>"
    ])
  })

  it.live("a server answers a request line of exactly maxLineBytes and drops one byte more (loopback)", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson({ maxLineBytes: 64 }),
        methods: {},
        handlers: {}
      })
      const { port } = yield* serveTcp(server)
      const client = yield* rawTcp(port)
      assert.strictEqual(pingOfBytes(1, 64).length, 64)
      yield* client.send(`${pingOfBytes(1, 65)}\n${pingOfBytes(2, 64)}\n`)
      assert.strictEqual(yield* client.next(), `{"id":2,"result":{"ok":true}}`)
    }))
})

describe("token comparison", () => {
  it("constantTimeEqual agrees with === on related and unrelated strings (property)", () => {
    const token = fc.string({ unit: "grapheme", maxLength: 12 })
    const related = token.chain((t) =>
      fc.oneof(
        fc.constant([t, t] as const),
        fc.string({ maxLength: 3 }).map((suffix) => [t + suffix, t] as const),
        fc.string({ maxLength: 3 }).map((suffix) => [t, t + suffix] as const),
        fc.nat(t.length).map((n) => [t.slice(0, n), t] as const),
        fc.string({ unit: "grapheme", maxLength: 12 }).map((other) => [other, t] as const)
      )
    )
    fc.assert(fc.property(related, ([presented, expected]) => {
      assert.strictEqual(Auth.constantTimeEqual(presented, expected), presented === expected)
    }))
  })

  it("the right token with anything appended is refused (auth params and Bearer)", () => {
    for (const presented of ["s3cret!", "s3cret\u0000", "s3crets3cret", "s3cre", ""]) {
      assert.isFalse(Auth.constantTimeEqual(presented, "s3cret"), presented)
      assert.isFalse(Auth.checkBearer(`Bearer ${presented}`, Redacted.make("s3cret")), presented)
      assert.deepStrictEqual(
        checkUpgrade({ url: "/", headers: { authorization: `Bearer ${presented}` } }, { token: "s3cret" }),
        { _tag: "Refuse", status: 401 }
      )
    }
    assert.isTrue(Auth.checkBearer("Bearer s3cret", "s3cret"))
  })

  it("Bearer headers: the scheme is a whole word, case-insensitive, then one or more spaces and the rest", () => {
    const token = Redacted.make("s3cret")
    // RFC 7235: `Bearer` 1*SP token; the header value's surrounding whitespace is not part of it.
    for (const ok of ["Bearer s3cret", "bearer s3cret", "Bearer  s3cret", "  Bearer s3cret  ", "Bearer\ts3cret"]) {
      assert.isTrue(Auth.checkBearer(ok, token), JSON.stringify(ok))
    }
    for (const bad of ["XBearer s3cret", "Bearers3cret", "Bearer s3cret\nX-Other: 1", "Basic s3cret", "s3cret"]) {
      assert.isFalse(Auth.checkBearer(bad, token), JSON.stringify(bad))
    }
    assert.isFalse(Auth.checkBearer(undefined, token))
    assert.strictEqual(Auth.bearerToken("Bearer  a b"), "a b")
  })

  it("an empty token matches nothing; of equal tokens the first grants its role", () => {
    assert.isFalse(Auth.checkBearer(undefined, ""))
    assert.isFalse(Auth.checkBearer("Bearer x", ""))
    assert.isUndefined(Auth.matchToken("", [{ token: "", role: "full" }]))
    const tokens = [{ token: "t", role: "first" }, { token: "t", role: "second" }, { token: "u", role: "third" }]
    assert.strictEqual(Auth.matchToken("t", tokens), "first")
    assert.strictEqual(Auth.matchToken("u", tokens), "third")
    assert.isUndefined(Auth.matchToken("tu", tokens))
  })

  it("tokenFromParams takes a string or {token: string}, nothing else", () => {
    assert.strictEqual(Auth.tokenFromParams("s3cret"), "s3cret")
    assert.strictEqual(Auth.tokenFromParams({ token: "s3cret" }), "s3cret")
    for (
      const params of [null, undefined, 5, true, ["s3cret"], { token: 5 }, { token: ["s3cret"] }, { tok: "s3cret" }]
    ) {
      assert.isUndefined(Auth.tokenFromParams(params), JSON.stringify(params))
    }
  })

  it.live("over TCP, `auth` params that are not a token (null, a number, an array) get \"invalid token\"", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: {},
        handlers: {},
        auth: { token: "123" }
      })
      const { port } = yield* serveTcp(server)
      const client = yield* rawTcp(port)
      const params = [`null`, `{"token":123}`, `{"token":["123"]}`, `[123]`]
      for (const [i, p] of params.entries()) {
        yield* client.send(`{"id":${i + 1},"method":"auth","params":${p}}\n`)
        assert.strictEqual(yield* client.next(), `{"id":${i + 1},"error":{"message":"invalid token"}}`, p)
      }
      yield* client.send(`{"id":9,"method":"auth","params":{"token":"123"}}\n`)
      assert.strictEqual(yield* client.next(), `{"id":9,"result":{"ok":true}}`)
    }))

  it.live("over TCP, `auth` with the token plus a suffix gets \"invalid token\"; the token itself passes", () =>
    Effect.gen(function*() {
      const server = yield* RpcServer.make({
        dialect: Dialect.daemon,
        framing: Framing.ndjson(),
        methods: {},
        handlers: {},
        auth: { token: Redacted.make("s3cret") }
      })
      const { port } = yield* serveTcp(server)
      const client = yield* rawTcp(port)
      yield* client.send(`{"id":1,"method":"auth","params":{"token":"s3cretX"}}\n`)
      assert.strictEqual(yield* client.next(), `{"id":1,"error":{"message":"invalid token"}}`)
      yield* client.send(`{"id":2,"method":"auth","params":"s3cre"}\n`)
      assert.strictEqual(yield* client.next(), `{"id":2,"error":{"message":"invalid token"}}`)
      yield* client.send(`{"id":3,"method":"auth","params":"s3cret"}\n`)
      assert.strictEqual(yield* client.next(), `{"id":3,"result":{"ok":true}}`)
    }))
})

const reply = (id: unknown, result: string) => JSON.stringify({ jsonrpc: "2.0", id, result })

/**
 * A raw NDJSON server that answers each request first with `wrong(id)`, then with the right id
 * (both with `"jsonrpc":"2.0"`, which every dialect accepts).
 */
const answersWithWrongIdFirst = (wrong: (id: number) => unknown) =>
  Effect.acquireRelease(
    Effect.callback<net.Server>((resume) => {
      const srv = net.createServer((socket) =>
        onLines(socket, (line) => {
          const { id } = JSON.parse(line) as { id: number }
          socket.write(`${reply(wrong(id), "wrong")}\n${reply(id, "right")}\n`)
        })
      )
      srv.listen(0, "127.0.0.1", () => resume(Effect.succeed(srv)))
    }),
    (srv) => Effect.callback<void>((resume) => void srv.close(() => resume(Effect.void)))
  ).pipe(Effect.map((srv) => (srv.address() as net.AddressInfo).port))

describe("reply ids must match the call's id exactly, type included (loopback)", () => {
  for (const dialect of [Dialect.strict, Dialect.lite, Dialect.daemon]) {
    it.live(`${dialect.name}: a reply with id "1" (a string) does not settle call 1`, () =>
      Effect.gen(function*() {
        const port = yield* answersWithWrongIdFirst((id) => String(id))
        const peer = yield* RpcPeer.make({ connect: connectTcp({ port }), dialect, framing: Framing.ndjson() })
        for (let i = 0; i < 3; i++) assert.strictEqual(yield* peer.request("echo", {}), "right")
      }))
  }
  it.live("lite: a reply with id 1.5 or 2 does not settle call 1", () =>
    Effect.gen(function*() {
      for (const wrong of [(id: number) => id + 0.5, (id: number) => id + 1]) {
        const port = yield* answersWithWrongIdFirst(wrong)
        const peer = yield* RpcPeer.make({
          connect: connectTcp({ port }),
          dialect: Dialect.lite,
          framing: Framing.ndjson()
        })
        assert.strictEqual(yield* peer.request("echo", {}), "right")
      }
    }))
})
