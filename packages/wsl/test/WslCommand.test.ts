import { assert, describe, it } from "@effect/vitest"
import { DistroName, WslCommand } from "@isthmus/wsl"
import { Result } from "effect"
import * as fc from "fast-check"
import { tag } from "./fixtures.ts"

describe("WslCommand", () => {
  it("execArgs: one argument per value, --exec last", () => {
    assert.deepStrictEqual(
      Result.getOrThrow(WslCommand.execArgs("Ubuntu", ["node", "a b.js", "--x=\"q\""], { user: "ada", cwd: "~/proj" })),
      ["--distribution", "Ubuntu", "--user", "ada", "--cd", "~/proj", "--exec", "node", "a b.js", "--x=\"q\""]
    )
  })
  it("execArgs refuses bad names, users, cwds, empty argv and NUL", () => {
    const failures = [
      WslCommand.execArgs("bad name", ["true"]),
      WslCommand.execArgs("Ubuntu", ["true"], { user: "-x" }),
      WslCommand.execArgs("Ubuntu", ["true"], { cwd: "relative" }),
      WslCommand.execArgs("Ubuntu", ["true"], { cwd: "/a\nb" }),
      WslCommand.execArgs("Ubuntu", []),
      WslCommand.execArgs("Ubuntu", ["echo", "a\0b"])
    ]
    assert.deepStrictEqual(failures.map((r) => Result.isFailure(r) ? tag(r.failure) : "ok"), [
      "InvalidDistroNameError",
      "WslArgumentError",
      "WslArgumentError",
      "WslArgumentError",
      "WslArgumentError",
      "WslArgumentError"
    ])
  })
  it("property: a name reaches argv only when DistroName accepts it", () => {
    fc.assert(fc.property(fc.string({ maxLength: 20 }), (name) => {
      const r = WslCommand.execArgs(name, ["true"])
      assert.strictEqual(Result.isSuccess(r), DistroName.isDistroName(name))
    }))
  })
  it("scriptArgs and terminateArgs", () => {
    assert.deepStrictEqual(Result.getOrThrow(WslCommand.scriptArgs("Debian")), [
      "--distribution",
      "Debian",
      "--exec",
      "bash",
      "-l",
      "-s"
    ])
    assert.deepStrictEqual(
      Result.getOrThrow(WslCommand.scriptArgs("Debian", { shell: "sh", login: false })).slice(-2),
      [
        "sh",
        "-s"
      ]
    )
    assert.deepStrictEqual(Result.getOrThrow(WslCommand.terminateArgs("Debian")), ["--terminate", "Debian"])
  })
  it("wsl.exe failure codes and error codes", () => {
    assert.isTrue(WslCommand.isWslExeFailureCode(4294967295))
    assert.isTrue(WslCommand.isWslExeFailureCode(-1))
    assert.isFalse(WslCommand.isWslExeFailureCode(1))
    assert.strictEqual(
      WslCommand.errorCodeOf(
        "Invalid distribution name: \"a b\".\r\nError code: Wsl/Service/RegisterDistro/E_INVALIDARG\r\n"
      ),
      "Wsl/Service/RegisterDistro/E_INVALIDARG"
    )
  })
})
