import { assert, describe, it } from "@effect/vitest"
import { Wslenv } from "@isthmus/wsl"
import * as fc from "fast-check"

const ctx = { distro: "Ubuntu" }

describe("Wslenv.parse / format", () => {
  it("splits on :, trims whitespace at the end of the list, skips empty items, keeps duplicates and case", () => {
    assert.deepStrictEqual(Wslenv.parse("GOPATH/p::FOO/u:foo:FOO/w\t:\t "), [
      { name: "GOPATH", flags: "p" },
      { name: "FOO", flags: "u" },
      { name: "foo", flags: "" },
      { name: "FOO", flags: "w\t" }
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
    assert.strictEqual(Wslenv.append("A/x ", ["A", "B"]), "A/x:B")
    // Whitespace at the end is ignored by WSL there, but would rename "_" to "_ " once followed.
    assert.strictEqual(Wslenv.append("_ \t", ["__"]), "_:__")
    assert.strictEqual(Wslenv.append("_ \t", ["_"]), "_ \t")
    assert.strictEqual(Wslenv.append(undefined, ["A", { name: "P", flags: "p" }]), "A:P/p")
    assert.strictEqual(Wslenv.append("", ["A", "A"]), "A")
    assert.strictEqual(Wslenv.append("A", []), "A")
  })
  it("property: the existing value (without trailing whitespace) is a prefix, what it declared stays declared, every name ends up declared", () => {
    const item = fc.stringMatching(/^[A-Za-z_]{0,5}(\/[pluwx]{0,2})?\s?$/)
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 6 }),
        fc.array(fc.stringMatching(/^[A-Z_]{1,5}$/), { maxLength: 4 }),
        (items, names) => {
          const existing = items.join(":")
          const out = Wslenv.append(existing, names)
          assert.isTrue(out.startsWith(existing.replace(/[ \t\n\v\f\r]+$/, "")))
          for (const e of Wslenv.parse(existing)) assert.isTrue(Wslenv.declares(out, e.name))
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
  // util.cpp UtilParseWslEnv / UtilTranslatePathList (windows-reality.md §7): a set but empty
  // /p value translates to nothing and is skipped; an absent one is `NAME=` like any other.
  it("a /p variable that is empty or whose every element fails is not exported; an absent one arrives as NAME=", () => {
    const t = Wslenv.translate({ WSLENV: "P/p:Q/p:R/p:S/pu", P: "", Q: "\\\\server\\share" }, "toLinux", ctx)
    assert.deepStrictEqual(t.env, { WSLENV: "P/p:Q/p:R/p:S/pu", R: "", S: "" })
    assert.deepStrictEqual(t.outcomes.map((o) => "reason" in o ? o.reason : "set"), [
      "emptyPathValue",
      "allPathsFailed",
      "set",
      "set"
    ])
  })
  it("only the end of the whole list is trimmed: `FOO :BAR` names `FOO ` (absent, so `FOO =`)", () => {
    assert.deepStrictEqual(Wslenv.parse("FOO :BAR \t\n"), [{ name: "FOO ", flags: "" }, { name: "BAR", flags: "" }])
    assert.deepStrictEqual(Wslenv.parse(" A/u :: B"), [{ name: " A", flags: "u " }, { name: " B", flags: "" }])
    const t = Wslenv.translate({ WSLENV: "FOO :BAR ", FOO: "1", BAR: "2" }, "toLinux", ctx)
    assert.deepStrictEqual(t.env, { WSLENV: "FOO :BAR ", "FOO ": "", BAR: "2" })
  })
  it("a name listed twice: the first assignment is the one getenv finds", () => {
    const t = Wslenv.translate({ WSLENV: "T/w:T/u:P/p:P", T: "x", P: "C:\\x" }, "toLinux", ctx)
    assert.deepStrictEqual(t.env, { WSLENV: "T/w:T/u:P/p:P", T: "x", P: "/mnt/c/x" })
  })
  it("appendVerbatim: every name arrives as set, whatever the user's WSLENV says about it", () => {
    const existing = "GOPATH/p:TOKEN/w:KEY/u:PLAIN:ODD/zz:WIN/p"
    const out = Wslenv.appendVerbatim(existing, ["TOKEN", "KEY", "PLAIN", "ODD", "WIN", "NEW"])
    assert.strictEqual(out, "GOPATH/p:KEY/u:PLAIN:TOKEN/u:ODD/u:WIN/u:NEW/u")
    const source = { WSLENV: out, GOPATH: "C:\\go", TOKEN: "t", KEY: "k", PLAIN: "p", ODD: "o", WIN: "C:\\w", NEW: "n" }
    assert.deepStrictEqual(Wslenv.translate(source, "toLinux", ctx).env, {
      WSLENV: out,
      GOPATH: "/mnt/c/go",
      KEY: "k",
      PLAIN: "p",
      TOKEN: "t",
      ODD: "o",
      WIN: "C:\\w",
      NEW: "n"
    })
    assert.strictEqual(Wslenv.appendVerbatim("A/u:B", ["A", "B"]), "A/u:B")
  })
  it("override takes a name over for one value, keeping every other item byte for byte", () => {
    assert.strictEqual(
      Wslenv.override("GOPATH/p::TOKEN/w:X/zz:", [{ name: "TOKEN", flags: "u" }]),
      "GOPATH/p::X/zz:TOKEN/u"
    )
    assert.strictEqual(Wslenv.override(undefined, [{ name: "A", flags: "u" }]), "A/u")
    assert.strictEqual(Wslenv.override("A/p", [{ name: "A", flags: "u" }]), "A/u")
    const t = Wslenv.translate(
      { WSLENV: Wslenv.override("TOKEN/w", [{ name: "TOKEN", flags: "u" }]), TOKEN: "s" },
      "toLinux",
      ctx
    )
    assert.strictEqual(t.env["TOKEN"], "s")
  })
  it("a listed variable missing on the source side arrives as NAME=; WSLENV itself always passes", () => {
    const t = Wslenv.translate({ WSLENV: "MISSING:DUP:DUP", DUP: "x" }, "toLinux", ctx)
    assert.deepStrictEqual(t.env, { WSLENV: "MISSING:DUP:DUP", MISSING: "", DUP: "x" })
    assert.strictEqual(t.outcomes.length, 3)
  })
})
