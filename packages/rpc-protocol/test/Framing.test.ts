import { assert, describe, it } from "@effect/vitest"
import { Dialect, Framing, Message } from "@isthmus/rpc-protocol"
import { Effect, Stream } from "effect"
import * as fc from "fast-check"
import { cut, feed } from "./support/frames.ts"

const utf8 = new TextEncoder()
const texts = (frames: ReadonlyArray<Framing.Frame>) => frames.map((f) => (f._tag === "Text" ? f.text : `<${f._tag}>`))

describe("NDJSON framing", () => {
  it("tolerates CRLF, blank lines and a final line without newline", () => {
    const frames = feed(Framing.ndjson(), [`{"a":1}\r\n\n  \r\n{"b":2}\n`, `{"c":3}`])
    assert.deepStrictEqual(texts(frames), [`{"a":1}`, `{"b":2}`, `{"c":3}`])
  })
  it("reassembles UTF-8 split inside a character", () => {
    const bytes = utf8.encode(`{"s":"héllo 😀 世界"}\n`)
    for (let i = 1; i < bytes.length; i++) {
      const frames = feed(Framing.ndjson(), [bytes.subarray(0, i), bytes.subarray(i)])
      assert.deepStrictEqual(texts(frames), [`{"s":"héllo 😀 世界"}`])
    }
  })
  it("reports an oversized line once and keeps the lines around it", () => {
    const big = `{"x":"${"y".repeat(100)}"}`
    const frames = feed(Framing.ndjson({ maxLineBytes: 32 }), [
      `{"a":1}\n${big.slice(0, 50)}`,
      `${big.slice(50)}\n{"b":2}\n`
    ])
    assert.deepStrictEqual(texts(frames), [`{"a":1}`, "<Oversized>", `{"b":2}`])
    const oversized = frames[1]
    assert.isTrue(oversized?._tag === "Oversized" && oversized.bytes === big.length && oversized.limit === 32)
  })
  it.effect("a bad line between good ones is reported as a value, as a Stream", () =>
    Effect.gen(function*() {
      const out = yield* Stream.make(`{"id":1,"result":1}\nnot json\n{"id":2,"res`, `ult":2}\n`).pipe(
        Dialect.decodeStream(Dialect.daemon, Framing.ndjson()),
        Stream.runCollect
      )
      assert.deepStrictEqual(out.map((m) => m._tag), ["Response", "Invalid", "Response"])
      assert.deepStrictEqual(out[2], Message.response(2, 2))
    }))
  it.effect("encode/decode as Stream transforms in both directions", () =>
    Effect.gen(function*() {
      const framing = Framing.ndjson()
      const out = yield* Stream.make(`{"a":1}`, `{"b":"é"}`).pipe(
        Framing.encode(framing),
        Framing.decodeText(framing),
        Stream.runCollect
      )
      assert.deepStrictEqual(out, [`{"a":1}`, `{"b":"é"}`])
    }))
})

describe("Content-Length framing", () => {
  it("decodes case-insensitive headers, Content-Type, and split bodies", () => {
    const body = `{"jsonrpc":"2.0","id":1,"method":"é"}`
    const len = utf8.encode(body).length
    const wire =
      `content-length: ${len}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n${body}Content-Length: 2\r\n\r\n{}`
    const bytes = utf8.encode(wire)
    for (let i = 1; i < bytes.length; i += 7) {
      assert.deepStrictEqual(texts(feed(Framing.contentLength(), [bytes.subarray(0, i), bytes.subarray(i)])), [
        body,
        "{}"
      ])
    }
  })
  it("reports bad headers and oversized bodies, then resynchronises", () => {
    const frames = feed(Framing.contentLength({ maxBodyBytes: 4 }), [
      "Content-Length: abc\r\n\r\n",
      "Content-Length: 10\r\n\r\n0123456789",
      "Content-Length: 2\r\n\r\n{}"
    ])
    assert.deepStrictEqual(texts(frames), ["<BadHeader>", "<Oversized>", "{}"])
    assert.deepStrictEqual(texts(feed(Framing.contentLength(), ["X-Other: 1\r\n\r\nContent-Length: 2\r\n\r\n[]"])), [
      "<BadHeader>",
      "[]"
    ])
  })
  it("reassembles a large body from many small chunks, and bounds the header block", () => {
    const body = JSON.stringify({ data: "é".repeat(300_000) })
    const wire = Framing.contentLength().encode(body) as Uint8Array
    const chunks: Array<Uint8Array> = []
    for (let i = 0; i < wire.length; i += 4096) chunks.push(wire.subarray(i, i + 4096))
    assert.deepStrictEqual(texts(feed(Framing.contentLength(), chunks)), [body])
    // A header block past the bound is reported (each further bound's worth of it again, and its
    // tail as a malformed block) and the decoder resynchronises on the next message.
    const long = `X-Padding: ${"p".repeat(64)}\r\n\r\nContent-Length: 2\r\n\r\n{}`
    const bounded = texts(feed(Framing.contentLength({ maxHeaderBytes: 32 }), [long.slice(0, 20), long.slice(20)]))
    assert.strictEqual(bounded.at(-1), "{}")
    assert.isAtLeast(bounded.length, 2)
    assert.isTrue(bounded.slice(0, -1).every((f) => f === "<BadHeader>"))
  })
  it("writes only Content-Length with the byte length", () => {
    const out = Framing.contentLength().encode(`{"a":"é"}`)
    assert.strictEqual(new TextDecoder().decode(out as Uint8Array), `Content-Length: 10\r\n\r\n{"a":"é"}`)
  })
})

describe("WebSocket frame framing", () => {
  it("one message per text frame; binary dropped by default; multiline for Orbit", () => {
    assert.deepStrictEqual(texts(feed(Framing.webSocket(), [`{"a":1}`, utf8.encode(`{"b":2}`), " "])), [
      `{"a":1}`,
      "<Binary>"
    ])
    assert.deepStrictEqual(
      texts(
        feed(Framing.webSocket({ multiline: true, binary: "text" }), [`{"a":1}\n{"b":2}\n`, utf8.encode(`{"c":3}`)])
      ),
      [`{"a":1}`, `{"b":2}`, `{"c":3}`]
    )
    assert.deepStrictEqual(texts(feed(Framing.webSocket({ maxFrameBytes: 4 }), [`{"a":1}`])), ["<Oversized>"])
    assert.strictEqual(Framing.webSocket({ trailingNewline: true }).encode("{}"), "{}\n")
  })
})

const jsonText = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))

describe("framing properties (fast-check)", () => {
  it("any chunking of a valid NDJSON or Content-Length stream decodes to the same messages", () => {
    fc.assert(
      fc.property(
        fc.array(jsonText, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.constantFrom("\n", "\r\n"),
        (messages, cuts, eol) => {
          const nd = utf8.encode(messages.map((m) => m + eol).join(""))
          assert.deepStrictEqual(texts(feed(Framing.ndjson(), cut(nd, cuts))), messages)
          const clFraming = Framing.contentLength()
          const parts = messages.map((m) => clFraming.encode(m) as Uint8Array)
          const cl = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
          let offset = 0
          for (const p of parts) {
            cl.set(p, offset)
            offset += p.length
          }
          assert.deepStrictEqual(texts(feed(clFraming, cut(cl, cuts))), messages)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("arbitrary bytes never throw, and no frame exceeds the size bound", () => {
    const limit = 64
    let runs = 0
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (chunks, cuts) => {
          runs++
          for (
            const framing of [
              Framing.ndjson({ maxLineBytes: limit }),
              Framing.contentLength({ maxBodyBytes: limit, maxHeaderBytes: limit }),
              Framing.webSocket({ maxFrameBytes: limit, binary: "text", multiline: true })
            ]
          ) {
            const all = chunks.flatMap((c) => cut(c, cuts))
            const frames = feed(framing, all)
            for (const frame of frames) {
              // Each input byte decodes to at most one UTF-16 unit (an invalid byte becomes one U+FFFD).
              if (frame._tag === "Text") assert.isAtMost(frame.text.length, limit)
            }
            for (const text of texts(frames)) {
              for (const d of [Dialect.strict, Dialect.lite, Dialect.daemon]) d.decode(text)
            }
          }
        }
      ),
      { numRuns: 300 }
    )
    assert.strictEqual(runs, 300)
  })

  it("arbitrary byte strings with newlines decode to the same lines under any chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: "binary" }), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (lines, cuts) => {
          const clean = lines.map((l) => l.replaceAll("\n", " ").replaceAll("\r", " ")).filter((l) =>
            l.trim().length > 0
          )
          const bytes = utf8.encode(clean.map((l) => l + "\n").join(""))
          assert.deepStrictEqual(texts(feed(Framing.ndjson(), cut(bytes, cuts))), clean)
        }
      ),
      { numRuns: 300 }
    )
  })
})
