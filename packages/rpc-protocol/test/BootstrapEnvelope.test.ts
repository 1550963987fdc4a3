import { assert, describe, it } from "@effect/vitest"
import { BootstrapEnvelope } from "@isthmus/rpc-protocol"
import { Effect, Exit, Option, Schema } from "effect"
import * as fc from "fast-check"

const valid =
  `{"mode":"desktop","noBrowser":true,"port":3773,"host":"127.0.0.1","desktopBootstrapToken":"tok","tailscaleServeEnabled":false,"tailscaleServePort":443}`

const decode = (text: string) => BootstrapEnvelope.desktop.decodeExit(text)
const reasonOf = (exit: Exit.Exit<unknown, BootstrapEnvelope.BootstrapEnvelopeDecodeError>) => {
  assert.isTrue(Exit.isFailure(exit))
  const error = Exit.findErrorOption(exit)
  return Option.isSome(error) ? error.value.reason : "none"
}

describe("BootstrapEnvelope (protocols.md §3 vectors)", () => {
  it("accepts the sample line with a newline", () => {
    const exit = decode(valid + "\n")
    assert.isTrue(Exit.isSuccess(exit))
    if (Exit.isSuccess(exit)) {
      assert.strictEqual(exit.value.port, 3773)
      assert.strictEqual(exit.value.desktopBootstrapToken, "tok")
    }
  })
  it("accepts the line without a trailing newline, and with CRLF", () => {
    assert.isTrue(Exit.isSuccess(decode(valid)))
    assert.isTrue(Exit.isSuccess(decode(valid + "\r\n")))
  })
  it("decodes only the first line", () => {
    assert.isTrue(Exit.isSuccess(decode(valid + "\nnot json at all\n")))
  })
  it("rejects an empty first line even when a valid line follows", () => {
    assert.strictEqual(reasonOf(decode("\n" + valid + "\n")), "EmptyLine")
  })
  it("rejects mode web (Literal desktop) and never echoes the token", () => {
    const exit = decode(valid.replace(`"desktop"`, `"web"`).replace(`"tok"`, `"super-secret-value"`))
    assert.strictEqual(reasonOf(exit), "SchemaMismatch")
    const error = Exit.findErrorOption(exit)
    assert.isTrue(Option.isSome(error) && error.value.message.includes("mode"))
    assert.isFalse(JSON.stringify(exit).includes("super-secret-value"))
  })
  it("redacts a wrongly typed token in the error message", () => {
    const exit = decode(valid.replace(`"tok"`, `12345678`))
    assert.strictEqual(reasonOf(exit), "SchemaMismatch")
    assert.isFalse(JSON.stringify(exit).includes("12345678"))
  })
  it("ignores excess keys", () => {
    assert.isTrue(Exit.isSuccess(decode(`${valid.slice(0, -1)},"extra":1}\n`)))
  })
  it("rejects bad JSON, bad ports and oversized lines", () => {
    assert.strictEqual(reasonOf(decode("{nope")), "InvalidJson")
    assert.strictEqual(reasonOf(decode(valid.replace("3773", "70000"))), "SchemaMismatch")
    const small = BootstrapEnvelope.make(BootstrapEnvelope.DesktopBackendBootstrap, { maxLineBytes: 16 })
    assert.strictEqual(reasonOf(small.decodeExit(valid)), "TooLarge")
    // The bound is in UTF-8 bytes: 8 characters of 3 bytes each are 24 bytes.
    assert.strictEqual(reasonOf(small.decodeExit(`"${"€".repeat(8)}"`)), "TooLarge")
    assert.strictEqual(reasonOf(small.decodeExit(`"${"€".repeat(4)}"`)), "SchemaMismatch")
  })
  it.effect("encode renders exactly one line ending in \\n and round-trips", () =>
    Effect.gen(function*() {
      const value = yield* BootstrapEnvelope.desktop.decode(valid)
      const line = yield* BootstrapEnvelope.desktop.encode({ ...value, t3Home: "C:\\Users\\me\n\r\u2028" })
      assert.isTrue(line.endsWith("\n"))
      assert.strictEqual(line.indexOf("\n"), line.length - 1)
      const again = yield* BootstrapEnvelope.desktop.decode(line)
      assert.strictEqual(again.t3Home, "C:\\Users\\me\n\r\u2028")
    }))
  it.effect("encode rejects values outside the schema with a typed error", () =>
    Effect.gen(function*() {
      const value = yield* BootstrapEnvelope.desktop.decode(valid)
      const error = yield* Effect.flip(BootstrapEnvelope.desktop.encode({ ...value, port: 0 }))
      assert.instanceOf(error, BootstrapEnvelope.BootstrapEnvelopeEncodeError)
      assert.throws(() => BootstrapEnvelope.desktop.encodeSync({ ...value, port: -1 }))
    }))
  it("encode-then-decode is identity for any string fields (property)", () => {
    const Custom = BootstrapEnvelope.make(Schema.Struct({ a: Schema.String, b: Schema.Number, c: Schema.Boolean }))
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.integer(), fc.boolean(), (a, b, c) => {
        const line = Custom.encodeSync({ a, b, c })
        assert.strictEqual(line.indexOf("\n"), line.length - 1)
        const exit = Custom.decodeExit(line)
        assert.deepStrictEqual(exit, Exit.succeed({ a, b, c }))
      })
    )
  })
})
