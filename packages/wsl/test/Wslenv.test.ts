import { assert, describe, it } from "@effect/vitest"
import { Wslenv } from "@isthmus/wsl"
import * as fc from "fast-check"

const ctx = { distro: "Ubuntu" }

describe("Wslenv.parse / format", () => {
  it("splits on :, trims trailing whitespace, skips empty items, keeps duplicates and case", () => {
    assert.deepStrictEqual(Wslenv.parse("GOPATH/p::FOO/u :foo:FOO/w\t:"), [
      { name: "GOPATH", flags: "p" },
      { name: "FOO", flags: "u" },
      { name: "foo", flags: "" },
      { name: "FOO", flags: "w" }
    ])
    assert.deepStrictEqual(Wslenv.parse(undefined), [])
    assert.deepStrictEqual(Wslenv.parse(""), [])
    assert.strictEqual(Wslenv.format(Wslenv.parse("A/pu:B")), "A/pu:B")
  })
  it("unknown flags are reported", () => {
    assert.strictEqual(Wslenv.unknownFlagsOf({ name: "A", flags: "pxz" }), "xz")
  })
})

describe("Wslenv.append", () => {
  it("keeps the user's value byte for byte and adds only undeclared names", () => {
    assert.strictEqual(
      Wslenv.append("GOPATH/p:OPENAI_API_KEY/u:EMPTY::AZURE/u", ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]),
      "GOPATH/p:OPENAI_API_KEY/u:EMPTY::AZURE/u:ANTHROPIC_API_KEY"
    )
    assert.strictEqual(Wslenv.append("A:", ["B"]), "A:B")
    assert.strictEqual(Wslenv.append("A/x ", ["A", "B"]), "A/x :B")
    assert.strictEqual(Wslenv.append(undefined, ["A", { name: "P", flags: "p" }]), "A:P/p")
    assert.strictEqual(Wslenv.append("", ["A", "A"]), "A")
    assert.strictEqual(Wslenv.append("A", []), "A")
  })
  it("property: the existing value is always a prefix, and every name ends up declared", () => {
    const item = fc.stringMatching(/^[A-Za-z_]{0,5}(\/[pluwx]{0,2})?\s?$/)
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 6 }),
        fc.array(fc.stringMatching(/^[A-Z_]{1,5}$/), { maxLength: 4 }),
        (items, names) => {
          const existing = items.join(":")
          const out = Wslenv.append(existing, names)
          assert.isTrue(out.startsWith(existing))
          for (const n of names) assert.isTrue(Wslenv.declares(out, n))
          assert.strictEqual(Wslenv.append(out, names), out)
        }
      )
    )
  })
  it("forward builds a child environment without touching other variables", () => {
    const env = Wslenv.forward({ PATH: "/bin", WSLENV: "X/p", KEY: "s", GONE: undefined }, ["KEY"])
    assert.deepStrictEqual(env, { PATH: "/bin", WSLENV: "X/p:KEY", KEY: "s" })
  })
})

describe("Wslenv.translate (wsl.md §4)", () => {
  it("b/p = C:\\Users;C:\\Windows → /mnt/c/Users:/mnt/c/Windows", () => {
    const t = Wslenv.translate({ WSLENV: "b/p", b: "C:\\Users;C:\\Windows" }, "toLinux", ctx)
    assert.deepStrictEqual(t.env, { WSLENV: "b/p", b: "/mnt/c/Users:/mnt/c/Windows" })
  })
  it("/l behaves like /p; reverse direction joins with ;", () => {
    const t = Wslenv.translate({ WSLENV: "L/l", L: "/mnt/c/a:/home/u" }, "toWindows", ctx)
    assert.strictEqual(t.env["L"], "C:\\a;\\\\wsl.localhost\\Ubuntu\\home\\u")
  })
  it("no flag copies verbatim (a/u = b → b)", () => {
    assert.strictEqual(Wslenv.translate({ WSLENV: "a/u", a: "b" }, "toLinux", ctx).env["a"], "b")
    assert.strictEqual(Wslenv.translate({ WSLENV: "U", U: "C:\\x" }, "toLinux", ctx).env["U"], "C:\\x")
  })
  it("an empty /u variable arrives defined but empty", () => {
    const t = Wslenv.translate({ WSLENV: "Empty/u", Empty: "" }, "toLinux", ctx)
    assert.strictEqual(t.env["Empty"], "")
  })
  it("a/w does not cross Windows → Linux; a/u does not cross back", () => {
    const a = Wslenv.translate({ WSLENV: "a/w", a: "x" }, "toLinux", ctx)
    assert.isUndefined(a.env["a"])
    assert.deepStrictEqual(a.outcomes[0], { _tag: "Skipped", name: "a", reason: "direction", warnings: [] })
    assert.isUndefined(Wslenv.translate({ WSLENV: "a/u", a: "x" }, "toWindows", ctx).env["a"])
    assert.strictEqual(Wslenv.translate({ WSLENV: "a/w", a: "x" }, "toWindows", ctx).env["a"], "x")
  })
  it("unknown flags drop the variable", () => {
    const t = Wslenv.translate({ WSLENV: "a/z:b", a: "1", b: "2" }, "toLinux", ctx)
    assert.deepStrictEqual(t.env, { WSLENV: "a/z:b", b: "2" })
  })
  it("relative Windows elements are dropped silently, failing ones with a warning", () => {
    const t = Wslenv.translate({ WSLENV: "P/p", P: "rel\\x;C:\\ok;\\\\server\\share;Z:" }, "toLinux", ctx)
    assert.strictEqual(t.env["P"], "/mnt/c/ok")
    assert.deepStrictEqual(t.warnings, ["Failed to translate '\\\\server\\share'"])
  })
  it("a /p variable that is empty or whose every element fails is not exported at all", () => {
    const t = Wslenv.translate({ WSLENV: "P/p:Q/p:R/p", P: "", Q: "\\\\server\\share" }, "toLinux", ctx)
    assert.deepStrictEqual(Object.keys(t.env), ["WSLENV"])
    assert.deepStrictEqual(t.outcomes.map((o) => "reason" in o ? o.reason : "set"), [
      "emptyPathValue",
      "allPathsFailed",
      "emptyPathValue"
    ])
  })
  it("a listed variable missing on the source side arrives as NAME=; WSLENV itself always passes", () => {
    const t = Wslenv.translate({ WSLENV: "MISSING:DUP:DUP", DUP: "x" }, "toLinux", ctx)
    assert.deepStrictEqual(t.env, { WSLENV: "MISSING:DUP:DUP", MISSING: "", DUP: "x" })
    assert.strictEqual(t.outcomes.length, 3)
  })
})
