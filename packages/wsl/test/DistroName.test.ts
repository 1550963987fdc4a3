import { assert, describe, it } from "@effect/vitest"
import { DistroName } from "@isthmus/wsl"
import { Result, Schema } from "effect"
import * as fc from "fast-check"

describe("DistroName", () => {
  it("accepts WSL's own names", () => {
    for (
      const name of [
        "Ubuntu",
        "Ubuntu-24.04",
        "openSUSE-Tumbleweed",
        "kali_linux",
        "a",
        "x".repeat(256),
        ".",
        "-",
        "Legacy"
      ]
    ) {
      assert.isTrue(Result.isSuccess(DistroName.make(name)), name)
      assert.strictEqual(Schema.decodeUnknownSync(DistroName.DistroName)(name), name)
    }
  })
  it("rejects everything else, with a message naming the input", () => {
    for (
      const name of ["", "Ubuntu 24", "a\nb", "a\\b", "C:", "x".repeat(257), "Übuntu", "a;rm -rf"]
    ) {
      const r = DistroName.make(name)
      assert.isTrue(Result.isFailure(r), name)
      if (Result.isFailure(r)) assert.include(r.failure.message, JSON.stringify(name))
      assert.throws(() => Schema.decodeUnknownSync(DistroName.DistroName)(name))
    }
    assert.isFalse(DistroName.isDistroName(42))
  })
  it("agrees with WSL's regex on any string", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
      const expected = /^[a-zA-Z0-9._-]{1,256}$/.test(s)
      assert.strictEqual(DistroName.isDistroName(s), expected)
      assert.strictEqual(Result.isSuccess(DistroName.validateNew(s)), expected && s.toLowerCase() !== "legacy")
    }))
  })
  it("Legacy: an existing distribution (lxrun migration) is a name; a new one may not be called so", () => {
    for (const name of ["Legacy", "legacy", "LEGACY"]) {
      assert.isTrue(Result.isSuccess(DistroName.make(name)), name)
      const r = DistroName.validateNew(name)
      assert.isTrue(Result.isFailure(r), name)
      if (Result.isFailure(r)) assert.include(r.failure.message, "reserved")
    }
  })
  it("equals is case-insensitive, as WSL's lookup", () => {
    assert.isTrue(DistroName.equals("ubuntu", "Ubuntu"))
    assert.isFalse(DistroName.equals("Ubuntu", "Ubuntu-2"))
  })
})
