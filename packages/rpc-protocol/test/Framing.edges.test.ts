/**
 * Edges of the NDJSON and Content-Length decoders that the chunking properties of
 * `Framing.test.ts` and the size limits of `limits.test.ts` do not reach (issue #14, mutation
 * testing): a size limit changed mid-stream (`setMaxBytes`, as a server does for unauthenticated
 * connections), the exact byte count of an oversized line however it is chunked, transports that
 * reuse their read buffer, zero-length bodies, the header grammar (numbers, charsets, what ends a
 * header block), and a differential test against vscode-jsonrpc's own reader.
 */
import { assert, describe, it } from "@effect/vitest"
import { Framing } from "@isthmus/rpc-protocol"
import * as fc from "fast-check"
import { PassThrough } from "node:stream"
import * as vscode from "vscode-jsonrpc/node"
import { cut, feed as decodeFrames, show } from "./support/frames.ts"

const utf8 = new TextEncoder()
/** The frames of `chunks` through `decoder` (ended after), each shown as a string. */
const feed = (decoder: Framing.Decoder, chunks: ReadonlyArray<Uint8Array | string>) =>
  decodeFrames(decoder, chunks).map(show)

/**
 * Pushes each chunk through ONE buffer the way a socket that reuses its read buffer does: the
 * chunk is copied in, pushed, and the buffer is then overwritten with junk before the next read.
 */
const feedReusingBuffer = (decoder: Framing.Decoder, chunks: ReadonlyArray<Uint8Array>) => {
  const size = Math.max(1, ...chunks.map((c) => c.length))
  const buffer = new Uint8Array(size)
  const out: Array<string> = []
  for (const chunk of chunks) {
    buffer.set(chunk)
    out.push(...decoder.push(buffer.subarray(0, chunk.length)).map(show))
    buffer.fill(0x5a) // 'Z'
  }
  out.push(...decoder.end().map(show))
  return out
}

const contentLengthWire = (bodies: ReadonlyArray<string>): Uint8Array =>
  utf8.encode(bodies.map((b) => `Content-Length: ${utf8.encode(b).length}\r\n\r\n${b}`).join(""))

const jsonText = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))

describe("NDJSON decoder edges", () => {
  it("an oversized line is reported once with its exact byte count, however it is chunked (property)", () => {
    const limit = 16
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).map((s) => s.replaceAll(/[\r\n]/g, "_")),
        fc.array(fc.nat(), { maxLength: 8 }),
        (line, cuts) => {
          const bytes = utf8.encode(line).length
          fc.pre(bytes > limit && line.trim().length > 0)
          const wire = utf8.encode(`{"a":1}\n${line}\n{"b":2}\n`)
          assert.deepStrictEqual(feed(Framing.makeNdjsonDecoder({ maxLineBytes: limit }), cut(wire, cuts)), [
            `{"a":1}`,
            `<Oversized ${bytes}/${limit}>`,
            `{"b":2}`
          ])
        }
      ),
      { numRuns: 300 }
    )
  })

  it("an oversized line cut into many chunks without a newline is still reported once, at its newline", () => {
    const decoder = Framing.makeNdjsonDecoder({ maxLineBytes: 4 })
    assert.deepStrictEqual(decoder.push("abc").map(show), [])
    assert.deepStrictEqual(decoder.push("defg").map(show), []) // now past the limit: skipping
    assert.deepStrictEqual(decoder.push("hij").map(show), []) // still skipping, no newline yet
    assert.deepStrictEqual(decoder.push("k\nok\n").map(show), ["<Oversized 11/4>", "ok"])
    // An oversized final line without a newline is reported at the end of input.
    assert.deepStrictEqual(decoder.push("mnopq").map(show), [])
    assert.deepStrictEqual(decoder.end().map(show), ["<Oversized 5/4>"])
  })

  it("setMaxBytes lowers the limit for what comes next and `undefined` restores the configured one", () => {
    const decoder = Framing.makeNdjsonDecoder({ maxLineBytes: 10 })
    decoder.setMaxBytes?.(4)
    assert.deepStrictEqual(decoder.push("abcd\nabcde\n").map(show), ["abcd", "<Oversized 5/4>"])
    decoder.setMaxBytes?.(undefined)
    assert.deepStrictEqual(decoder.push("abcdefghij\nabcdefghijk\n").map(show), [
      "abcdefghij",
      "<Oversized 11/10>"
    ])
    // Without options, `undefined` restores the 16 MiB default: a 1 MiB line passes again.
    const plain = Framing.makeNdjsonDecoder()
    plain.setMaxBytes?.(4)
    assert.deepStrictEqual(plain.push("abcde\n").map(show), ["<Oversized 5/4>"])
    plain.setMaxBytes?.(undefined)
    const big = "x".repeat(1024 * 1024)
    assert.deepStrictEqual(plain.push(`${big}\n`).map((f) => f._tag), ["Text"])
    assert.strictEqual(Framing.defaultMaxBytes, 16 * 1024 * 1024)
  })

  it("a line already buffered past a newly lowered limit is reported Oversized with all its bytes", () => {
    const decoder = Framing.makeNdjsonDecoder()
    assert.deepStrictEqual(decoder.push("0123456789").map(show), [])
    decoder.setMaxBytes?.(8)
    assert.deepStrictEqual(decoder.push("ab\nok\n").map(show), ["<Oversized 12/8>", "ok"])
    // Also when the input ends before the line does (this emitted the 10 bytes as a message,
    // against the Decoder contract, until this test).
    const ending = Framing.makeNdjsonDecoder()
    assert.deepStrictEqual(ending.push("0123456789").map(show), [])
    ending.setMaxBytes?.(8)
    assert.deepStrictEqual(ending.end().map(show), ["<Oversized 10/8>"])
    const atLimit = Framing.makeNdjsonDecoder()
    atLimit.push("01234567")
    atLimit.setMaxBytes?.(8)
    assert.deepStrictEqual(atLimit.end().map(show), ["01234567"])
  })

  it("a transport that reuses its read buffer cannot corrupt a partly received line (property)", () => {
    fc.assert(
      fc.property(
        fc.array(jsonText, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, cuts) => {
          const wire = utf8.encode(messages.map((m) => `${m}\n`).join(""))
          assert.deepStrictEqual(feedReusingBuffer(Framing.makeNdjsonDecoder(), cut(wire, cuts)), messages)
        }
      ),
      { numRuns: 200 }
    )
  })
})

describe("Content-Length decoder edges", () => {
  it("a transport that reuses its read buffer cannot corrupt a partly received header or body (property)", () => {
    fc.assert(
      fc.property(
        fc.array(jsonText, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, cuts) => {
          const wire = contentLengthWire(messages)
          assert.deepStrictEqual(feedReusingBuffer(Framing.makeContentLengthDecoder(), cut(wire, cuts)), messages)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("a zero-length body is complete with its header, not held until more bytes arrive", () => {
    const decoder = Framing.makeContentLengthDecoder()
    assert.deepStrictEqual(decoder.push("Content-Length: 0\r\n\r\n").map(show), [""])
    assert.deepStrictEqual(decoder.push("Content-Length: 2\r\n\r\n{}Content-Length: 0\r\n\r\n").map(show), ["{}", ""])
    assert.deepStrictEqual(decoder.end(), [])
  })

  it("setMaxBytes lowers the body limit for what comes next and `undefined` restores the configured one", () => {
    const decoder = Framing.makeContentLengthDecoder({ maxBodyBytes: 10 })
    decoder.setMaxBytes?.(4)
    assert.deepStrictEqual(decoder.push(contentLengthWire(["[1,2]", "[12]"])).map(show), ["<Oversized 5/4>", "[12]"])
    decoder.setMaxBytes?.(undefined)
    assert.deepStrictEqual(decoder.push(contentLengthWire(["[1,2,3,45]", "[1,2,3,456]"])).map(show), [
      "[1,2,3,45]",
      "<Oversized 11/10>"
    ])
    const plain = Framing.makeContentLengthDecoder()
    plain.setMaxBytes?.(4)
    plain.setMaxBytes?.(undefined)
    const big = `"${"x".repeat(1024 * 1024)}"`
    assert.deepStrictEqual(plain.push(contentLengthWire([big])).map((f) => f._tag), ["Text"])
  })

  it("a body already coming in past a newly lowered limit is reported Oversized, one at the limit is not", () => {
    const decoder = Framing.makeContentLengthDecoder()
    assert.deepStrictEqual(decoder.push("Content-Length: 10\r\n\r\n[1,2").map(show), [])
    decoder.setMaxBytes?.(8)
    assert.deepStrictEqual(decoder.push(",3,45]Content-Length: 8\r\n\r\n[1,").map(show), ["<Oversized 10/8>"])
    assert.deepStrictEqual(decoder.push("2,34]").map(show), ["[1,2,34]"])
    // (This completed the 10 bytes as a message, against the Decoder contract, until this test.)
  })

  it("the skipped body of an oversized message is exactly its announced length, however it is chunked", () => {
    const wire = utf8.encode(`Content-Length: 12\r\n\r\n${"x".repeat(12)}Content-Length: 2\r\n\r\n{}`)
    for (let i = 1; i < wire.length; i++) {
      for (let j = i + 1; j < wire.length; j += 5) {
        assert.deepStrictEqual(
          feed(Framing.makeContentLengthDecoder({ maxBodyBytes: 8 }), [
            wire.subarray(0, i),
            wire.subarray(i, j),
            wire.subarray(j)
          ]),
          ["<Oversized 12/8>", "{}"]
        )
      }
    }
  })

  it("Content-Length must be a plain decimal number of bytes", () => {
    for (const value of ["", "12x", "x12", "+2", "-2", "2.0", "0x2", "2 2"]) {
      assert.deepStrictEqual(
        feed(Framing.makeContentLengthDecoder(), [`Content-Length: ${value}\r\n\r\nContent-Length: 2\r\n\r\n[]`]),
        ["<BadHeader Content-Length is not a number>", "[]"],
        JSON.stringify(value)
      )
    }
    // Whitespace around the value is not part of it; leading zeros are still decimal.
    assert.deepStrictEqual(feed(Framing.makeContentLengthDecoder(), ["Content-Length:2  \r\n\r\n[]"]), ["[]"])
    assert.deepStrictEqual(feed(Framing.makeContentLengthDecoder(), ["Content-Length:   0012\r\n\r\n[1,2,3,4,56]"]), [
      "[1,2,3,4,56]"
    ])
  })

  it("a header block is reported when malformed or without Content-Length, and the next message still decodes", () => {
    assert.deepStrictEqual(
      feed(Framing.makeContentLengthDecoder(), ["no colon here\r\n\r\nContent-Length: 2\r\n\r\n{}"]),
      [
        "<BadHeader malformed header line>",
        "{}"
      ]
    )
    assert.deepStrictEqual(
      feed(Framing.makeContentLengthDecoder(), ["X-Other: 1\r\n\r\nContent-Length: 2\r\n\r\n{}"]),
      [
        "<BadHeader missing Content-Length>",
        "{}"
      ]
    )
    // A block refused for another reason but with a readable Content-Length: its body is skipped,
    // not read as the next header block (which lost the message after it, found by this test).
    assert.deepStrictEqual(
      feed(Framing.makeContentLengthDecoder(), ["X-Bad\r\nContent-Length: 2\r\n\r\n{}Content-Length: 2\r\n\r\n[]"]),
      ["<BadHeader malformed header line>", "[]"]
    )
    assert.deepStrictEqual(
      feed(Framing.makeContentLengthDecoder(), [
        "Content-Type: text/plain; charset=latin1\r\nContent-Length: 2\r\n\r\n{}Content-Length: 2\r\n\r\n[]"
      ]),
      ["<BadHeader unsupported charset latin1>", "[]"]
    )
    // With several problems in one block, the first line's is reported.
    for (
      const [block, detail] of [
        ["X-Bad\r\nContent-Length: x\r\nContent-Type: a; charset=latin1", "malformed header line"],
        ["Content-Length: x\r\nX-Bad\r\nContent-Type: a; charset=latin1", "Content-Length is not a number"],
        ["Content-Type: a; charset=latin1\r\nContent-Length: x\r\nX-Bad", "unsupported charset latin1"]
      ] as const
    ) {
      assert.deepStrictEqual(feed(Framing.makeContentLengthDecoder(), [`${block}\r\n\r\n`]), [`<BadHeader ${detail}>`])
    }
  })

  it("a header block past maxHeaderBytes is reported with the bound", () => {
    const frames = feed(Framing.makeContentLengthDecoder({ maxHeaderBytes: 16 }), [`X-Pad: ${"p".repeat(40)}`])
    assert.isAtLeast(frames.length, 1)
    for (const frame of frames) assert.strictEqual(frame, "<BadHeader header block longer than 16 bytes>")
  })

  it("only the Content-Type charset matters, and only UTF-8 (any case, with or without the dash) is accepted", () => {
    const withType = (type: string) =>
      feed(Framing.makeContentLengthDecoder(), [
        `Content-Length: 2\r\nContent-Type: ${type}\r\n\r\n{}Content-Length: 2\r\n\r\n[]`
      ])
    for (
      const type of [
        "application/vscode-jsonrpc; charset=utf-8",
        "application/vscode-jsonrpc; charset=UTF-8",
        "application/vscode-jsonrpc; charset=utf8",
        "application/vscode-jsonrpc; CHARSET=Utf8",
        "application/vscode-jsonrpc; charset=utf-8; x=y",
        "application/vscode-jsonrpc;charset=utf-8;x=y",
        "application/json",
        ""
      ]
    ) {
      assert.deepStrictEqual(withType(type), ["{}", "[]"], type)
    }
    assert.deepStrictEqual(withType("application/vscode-jsonrpc; charset=latin1"), [
      "<BadHeader unsupported charset latin1>",
      "[]"
    ])
    assert.deepStrictEqual(withType("application/vscode-jsonrpc; charset=UTF-16; x=y"), [
      "<BadHeader unsupported charset utf-16>",
      "[]"
    ])
    assert.deepStrictEqual(withType("application/vscode-jsonrpc; charset=utf-8x"), [
      "<BadHeader unsupported charset utf-8x>",
      "[]"
    ])
    // A charset parameter in another header is not the body's charset.
    assert.deepStrictEqual(
      feed(Framing.makeContentLengthDecoder(), ["Content-Length: 2\r\nX-Note: charset=latin1\r\n\r\n{}"]),
      ["{}"]
    )
  })
})

/** What vscode-jsonrpc 10's own Content-Length reader makes of the same chunks (its messages, or its first error). */
const vscodeReads = (chunks: ReadonlyArray<Uint8Array>, expected: number): Promise<Array<unknown>> =>
  new Promise((resolve, reject) => {
    const stream = new PassThrough()
    const reader = new vscode.StreamMessageReader(stream)
    const messages: Array<unknown> = []
    reader.onError((error) => {
      reader.dispose()
      reject(error)
    })
    reader.listen((message) => {
      messages.push(message)
      if (messages.length === expected) {
        reader.dispose()
        resolve(messages)
      }
    })
    for (const chunk of chunks) stream.write(Buffer.from(chunk))
    stream.end()
  })

const headerName = fc.constantFrom("Content-Length", "content-length", "CONTENT-LENGTH", "Content-length")
const separator = fc.constantFrom(": ", ":", ":   ", ": \t")
const trailing = fc.constantFrom("", " ", "  \t")
// Further header lines: vscode-jsonrpc ignores them, as we do. A bare LF or CR in a line does not
// end the header block for either reader: only CR LF CR LF does. (Not two CRs in a row: after CR CR
// vscode-jsonrpc 10's state machine misses a CR LF CR LF that follows at once.)
const otherHeader = fc.constantFrom(
  "Content-Type: application/vscode-jsonrpc; charset=utf-8",
  "Content-Type: application/vscode-jsonrpc; charset=utf8",
  "X-Trace: a\nb",
  "X-Trace: ends in a bare LF\n",
  "X-Trace: a bare CR\rinside",
  "X-Trace: a bare CR and one byte\rZ",
  "X\nY: 1",
  "\rX: 1",
  "X-Empty:"
)

describe("differential: vscode-jsonrpc's reader as the oracle for Content-Length streams", () => {
  it("header spellings, extra headers and any chunking decode to the messages vscode-jsonrpc reads (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            body: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
            name: headerName,
            sep: separator,
            trail: trailing,
            before: fc.array(otherHeader, { maxLength: 2 }),
            after: fc.array(otherHeader, { maxLength: 2 })
          }),
          { minLength: 1, maxLength: 5 }
        ),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (messages, cuts) => {
          const wire = utf8.encode(
            messages.map(({ after, before, body, name, sep, trail }) =>
              [...before, `${name}${sep}${utf8.encode(body).length}${trail}`, ...after].join("\r\n") + "\r\n\r\n" + body
            ).join("")
          )
          const chunks = cut(wire, cuts)
          const theirs = await vscodeReads(chunks, messages.length)
          const ours = feed(Framing.makeContentLengthDecoder(), chunks).map((t) => JSON.parse(t) as unknown)
          assert.deepStrictEqual(ours, theirs)
        }
      ),
      { numRuns: 100 }
    )
  })
})
